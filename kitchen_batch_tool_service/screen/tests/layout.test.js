import { test, assertEqual, assertDeepEqual } from './harness.js';
import { paginate, columnsFor, estimateCardHeight } from '../js/layout.js';
import { METRICS } from '../js/render.js';

test('layout: rows of columns fill a page, the rest goes to the next pages', () => {
  // 4 columns, page 620 px, 10 px gap: rows of 300 px -> 2 rows a page.
  const heights = new Array(20).fill(300);
  const { pageOf, pages, firstOfPage } = paginate(heights, 4, 620, 10);
  assertEqual(pages, 3);
  assertDeepEqual(pageOf.slice(0, 9), [0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assertDeepEqual(firstOfPage, [0, 8, 16]);
  assertEqual(pageOf[19], 2);
});

test('layout: a row is as tall as its tallest card', () => {
  const heights = [100, 500, 100, 100, 100, 100];
  const { pageOf, pages } = paginate(heights, 3, 600, 10);
  // Row 1 is 500 px; row 2 (100 px) needs 610 > 600: next page.
  assertEqual(pages, 2);
  assertDeepEqual(pageOf, [0, 0, 0, 1, 1, 1]);
});

test('layout: empty board has one page; a too tall row still gets a page', () => {
  assertEqual(paginate([], 4, 600, 10).pages, 1);
  const r = paginate([900, 100], 1, 600, 10);
  assertDeepEqual(r.pageOf, [0, 1]);
});

test('layout: columns and estimates', () => {
  assertEqual(columnsFor(950, 270, 10), 3);
  assertEqual(columnsFor(1500, 270, 10), 5);
  assertEqual(columnsFor(100, 228, 10), 1);
  const h1 = estimateCardHeight([{ kind: 'item', chars: 10 }], METRICS);
  const h2 = estimateCardHeight([{ kind: 'item', chars: 10 }, { kind: 'item', chars: 20 }, { kind: 'heading' }], METRICS);
  const h3 = estimateCardHeight([{ kind: 'item', chars: 40 }, { kind: 'muted', chars: 30 }], METRICS);
  assertEqual(h1, METRICS.cardChrome + METRICS.itemHeight);
  assertEqual(h2, METRICS.cardChrome + METRICS.itemHeight + METRICS.itemHeight2 + METRICS.headingHeight);
  assertEqual(h3, METRICS.cardChrome + METRICS.itemHeight3 + 2 * METRICS.mutedHeight);
});
