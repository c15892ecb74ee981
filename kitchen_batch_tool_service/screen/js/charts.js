// Plain SVG charts for the day view. Pure: builders return a small element tree
// ({tag, attrs, children, text}) that tests inspect and svgString() serialises.

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);

export function el(tag, attrs = {}, children = [], text = null) {
  return { tag, attrs, children, text };
}

export function svgString(node) {
  const attrs = Object.entries(node.attrs)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join('');
  const inner = (node.text != null ? esc(node.text) : '') + node.children.map(svgString).join('');
  return `<${node.tag}${attrs}>${inner}</${node.tag}>`;
}

/** Every node of the tree (depth first), optionally only those matching pred. */
export function findAll(node, pred = () => true, out = []) {
  if (pred(node)) out.push(node);
  for (const c of node.children) findAll(c, pred, out);
  return out;
}

const r1 = (x) => Math.round(x * 10) / 10;

/** A round axis maximum >= max (1, 2, 5 x 10^n), at least 1. */
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** "5:12" from seconds (minutes keep counting). */
export function mmss(secs) {
  const s = Math.max(0, Math.round(secs || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Local "HH" (or "HH:MM" where the zone is not a whole hour off UTC) of an hour's start. */
export function hourLabel(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '?';
  const h = String(d.getHours()).padStart(2, '0');
  return d.getMinutes() ? `${h}:${String(d.getMinutes()).padStart(2, '0')}` : h;
}

/**
 * Orders per hour as bars. rows: [{hour, orders}]. opts: width, height, label(hour) -> text.
 * Bars have class "bar" and data-hour / data-orders; values above non-zero bars.
 */
export function ordersPerHourChart(rows, opts = {}) {
  const width = opts.width ?? 640;
  const height = opts.height ?? 260;
  const label = opts.label ?? hourLabel;
  const m = { top: 24, right: 12, bottom: 34, left: 40 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const data = Array.isArray(rows) ? rows : [];
  const max = niceMax(Math.max(0, ...data.map((r) => Number(r.orders) || 0)));
  const n = Math.max(1, data.length);
  const slot = w / n;
  const barW = Math.max(1, slot * 0.72);
  const every = Math.max(1, Math.ceil(n / 12)); // at most ~12 hour labels
  const kids = [];
  kids.push(el('title', {}, [], 'Orders per hour'));
  for (const f of [0, 0.5, 1]) {
    const y = r1(m.top + h - f * h);
    kids.push(el('line', { class: 'grid', x1: m.left, x2: m.left + w, y1: y, y2: y }));
    kids.push(el('text', { class: 'tick', x: m.left - 6, y: r1(y + 5), 'text-anchor': 'end' }, [], String(Math.round(max * f))));
  }
  data.forEach((r, i) => {
    const v = Number(r.orders) || 0;
    const bh = r1((v / max) * h);
    const x = r1(m.left + i * slot + (slot - barW) / 2);
    const y = r1(m.top + h - bh);
    kids.push(el('rect', { class: 'bar', x, y, width: r1(barW), height: bh, 'data-hour': r.hour, 'data-orders': v }, [
      el('title', {}, [], `${label(r.hour)}: ${v} orders`),
    ]));
    if (v > 0) kids.push(el('text', { class: 'value', x: r1(x + barW / 2), y: r1(y - 4), 'text-anchor': 'middle' }, [], String(v)));
    if (i % every === 0) {
      kids.push(el('text', { class: 'label', x: r1(x + barW / 2), y: height - 12, 'text-anchor': 'middle' }, [], label(r.hour)));
    }
  });
  kids.push(el('line', { class: 'axis', x1: m.left, x2: m.left + w, y1: m.top + h, y2: m.top + h }));
  if (data.length === 0) kids.push(el('text', { class: 'empty', x: width / 2, y: height / 2, 'text-anchor': 'middle' }, [], 'No orders'));
  return el('svg', {
    xmlns: 'http://www.w3.org/2000/svg', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
    class: 'chart chart-orders', 'aria-label': `Orders per hour, ${data.reduce((s, r) => s + (Number(r.orders) || 0), 0)} in all`,
  }, kids);
}

/**
 * Ticket time per station: a bar to the median (class "median"), a lighter bar to the 90th
 * percentile (class "p90"), dashed lines at the aging thresholds. rows: [{station, tickets,
 * median_secs, p90_secs}]. opts: width, rowHeight, aging {warn_after_secs, late_after_secs}.
 */
export function ticketTimesChart(rows, opts = {}) {
  const width = opts.width ?? 640;
  const rowH = opts.rowHeight ?? 46;
  const aging = opts.aging ?? { warn_after_secs: 300, late_after_secs: 480 };
  const data = Array.isArray(rows) ? rows : [];
  const m = { top: 12, right: 120, bottom: 30, left: 150 }; // right: room for the value labels
  const height = m.top + m.bottom + Math.max(1, data.length) * rowH;
  const w = width - m.left - m.right;
  const maxSecs = Math.max(aging.late_after_secs || 0, ...data.map((r) => Number(r.p90_secs) || 0), 60);
  const maxMin = Math.ceil(maxSecs / 60);
  const x = (secs) => r1(m.left + (Math.min(secs, maxMin * 60) / (maxMin * 60)) * w);
  const kids = [el('title', {}, [], 'Ticket time per station')];
  const step = Math.max(1, Math.ceil(maxMin / 8));
  for (let mi = 0; mi <= maxMin; mi += step) {
    kids.push(el('line', { class: 'grid', x1: x(mi * 60), x2: x(mi * 60), y1: m.top, y2: height - m.bottom }));
    kids.push(el('text', { class: 'tick', x: x(mi * 60), y: height - 10, 'text-anchor': 'middle' }, [], `${mi}m`));
  }
  for (const [cls, secs] of [['warn-line', aging.warn_after_secs], ['late-line', aging.late_after_secs]]) {
    if (Number.isFinite(secs)) kids.push(el('line', { class: cls, x1: x(secs), x2: x(secs), y1: m.top, y2: height - m.bottom }));
  }
  data.forEach((r, i) => {
    const y = m.top + i * rowH;
    const med = Number(r.median_secs) || 0;
    const p90 = Number(r.p90_secs) || 0;
    const g = el('g', { class: 'station-row', 'data-station': r.station }, [
      el('text', { class: 'station', x: m.left - 8, y: y + rowH / 2 - 2, 'text-anchor': 'end' }, [], String(r.station).replace(/\s+station$/i, '')),
      el('text', { class: 'count', x: m.left - 8, y: y + rowH / 2 + 14, 'text-anchor': 'end' }, [], `${r.tickets} tickets`),
      el('rect', { class: 'p90', x: m.left, y: y + 6, width: r1(x(p90) - m.left), height: rowH - 12, 'data-secs': p90 }, [
        el('title', {}, [], `90th percentile ${mmss(p90)}`),
      ]),
      el('rect', { class: 'median', x: m.left, y: y + 12, width: r1(x(med) - m.left), height: rowH - 24, 'data-secs': med }, [
        el('title', {}, [], `median ${mmss(med)}`),
      ]),
      el('text', { class: 'value', x: r1(x(Math.max(p90, med)) + 6), y: y + rowH / 2 + 5 }, [], `${mmss(med)} / ${mmss(p90)}`),
    ]);
    kids.push(g);
  });
  if (data.length === 0) kids.push(el('text', { class: 'empty', x: width / 2, y: height / 2, 'text-anchor': 'middle' }, [], 'No tickets done yet'));
  return el('svg', {
    xmlns: 'http://www.w3.org/2000/svg', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
    class: 'chart chart-times', 'aria-label': 'Ticket time per station: median and 90th percentile',
  }, kids);
}
