// Paging of the board: cards flow in rows of `columns`; a row is as tall as its tallest card; a
// page holds the rows that fit the board's height. Pure arithmetic, so it is cheap for 500 cards
// and the same every time (the newest cards are on the last page, never off to the right).

/** Estimated card height in px from what it shows (measured heights replace it once painted). */
export function estimateCardHeight(lines, metrics) {
  const m = metrics;
  let h = m.cardChrome;
  for (const line of lines) {
    if (line.kind === 'heading') h += m.headingHeight;
    else if (line.kind === 'muted') h += m.mutedHeight * Math.max(1, Math.ceil(line.chars / m.mutedCharsPerLine));
    else if (line.chars > 2 * m.charsPerLine) h += m.itemHeight3;
    else h += line.chars > m.charsPerLine ? m.itemHeight2 : m.itemHeight;
  }
  return Math.ceil(h);
}

/** How many columns of at least minWidth fit in width (with gap between them). */
export function columnsFor(width, minWidth, gap) {
  return Math.max(1, Math.floor((width + gap) / (minWidth + gap)));
}

/**
 * heights: card heights in px, in board order. Returns {pageOf: number[], pages, firstOfPage: number[]}.
 * A row taller than the page still gets a page of its own (its cards are clipped, not lost).
 */
export function paginate(heights, columns, pageHeight, gap) {
  const n = heights.length;
  const pageOf = new Array(n);
  const firstOfPage = [0];
  let page = 0;
  let used = 0;
  for (let start = 0; start < n; start += columns) {
    let rowH = 0;
    const end = Math.min(n, start + columns);
    for (let i = start; i < end; i++) if (heights[i] > rowH) rowH = heights[i];
    const need = used === 0 ? rowH : used + gap + rowH;
    if (used > 0 && need > pageHeight) {
      page += 1;
      firstOfPage.push(start);
      used = rowH;
    } else {
      used = need;
    }
    for (let i = start; i < end; i++) pageOf[i] = page;
  }
  return { pageOf, pages: n === 0 ? 1 : page + 1, firstOfPage };
}
