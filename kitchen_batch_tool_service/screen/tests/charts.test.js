import { test, assert, assertEqual, assertDeepEqual } from './harness.js';
import { ordersPerHourChart, ticketTimesChart, svgString, findAll, niceMax, mmss, el } from '../js/charts.js';

const cls = (c) => (n) => n.attrs.class === c;

test('charts: orders per hour has one bar per hour, heights in proportion', () => {
  const rows = [
    { hour: '2026-12-02T10:00:00.000Z', orders: 12 },
    { hour: '2026-12-02T11:00:00.000Z', orders: 0 },
    { hour: '2026-12-02T12:00:00.000Z', orders: 6 },
  ];
  const svg = ordersPerHourChart(rows, { width: 400, height: 200, label: (h) => h.slice(11, 13) });
  assertEqual(svg.tag, 'svg');
  assertEqual(svg.attrs.viewBox, '0 0 400 200');
  const bars = findAll(svg, cls('bar'));
  assertEqual(bars.length, 3);
  assertDeepEqual(bars.map((b) => b.attrs['data-orders']), [12, 0, 6]);
  assertEqual(bars[1].attrs.height, 0);
  // The axis maximum is 20 (nice number >= 12): 12 orders fill 60 % of the plot height (142).
  assertEqual(bars[0].attrs.height, Math.round(0.6 * 142 * 10) / 10);
  assertEqual(bars[2].attrs.height, Math.round(0.3 * 142 * 10) / 10);
  assert(bars[0].attrs.x < bars[1].attrs.x && bars[1].attrs.x < bars[2].attrs.x, 'bars left to right');
  const values = findAll(svg, cls('value')).map((t) => t.text);
  assertDeepEqual(values, ['12', '6'], 'values above non-zero bars only');
  const labels = findAll(svg, cls('label')).map((t) => t.text);
  assertDeepEqual(labels, ['10', '11', '12']);
});

test('charts: orders per hour labels at most ~12 hours, handles no data', () => {
  const rows = Array.from({ length: 24 }, (_, i) => ({ hour: `2026-12-02T${String(i).padStart(2, '0')}:00:00.000Z`, orders: i }));
  const svg = ordersPerHourChart(rows);
  assertEqual(findAll(svg, cls('bar')).length, 24);
  assertEqual(findAll(svg, cls('label')).length, 12);
  const empty = ordersPerHourChart([]);
  assertEqual(findAll(empty, cls('bar')).length, 0);
  assertEqual(findAll(empty, cls('empty'))[0].text, 'No orders');
});

test('charts: ticket times draw median and p90 per station, widths in proportion', () => {
  const rows = [
    { station: 'Grill Station', tickets: 40, median_secs: 300, p90_secs: 600 },
    { station: 'Fryer Station', tickets: 10, median_secs: 120, p90_secs: 240 },
  ];
  const svg = ticketTimesChart(rows, { width: 770 });
  const groups = findAll(svg, cls('station-row'));
  assertDeepEqual(groups.map((g) => g.attrs['data-station']), ['Grill Station', 'Fryer Station']);
  const med = findAll(svg, cls('median'));
  const p90 = findAll(svg, cls('p90'));
  assertEqual(med.length, 2);
  assertEqual(p90.length, 2);
  // Plot width 500 px for 10 minutes (the largest p90): 300 s -> 250 px, 600 s -> 500 px.
  assertEqual(med[0].attrs.width, 250);
  assertEqual(p90[0].attrs.width, 500);
  assertEqual(med[1].attrs.width, 100);
  assertEqual(findAll(groups[0], cls('station'))[0].text, 'Grill');
  assertEqual(findAll(groups[0], cls('value'))[0].text, '5:00 / 10:00');
  assertEqual(findAll(svg, cls('warn-line')).length, 1);
  assertEqual(findAll(svg, cls('late-line')).length, 1);
  assertEqual(findAll(svg, cls('late-line'))[0].attrs.x1, 150 + 400);
  assertEqual(findAll(groups[0], cls('value'))[0].attrs.x, 150 + 500 + 6, 'value label right of the p90 bar');
});

test('charts: svgString escapes text and attributes', () => {
  const s = svgString(el('svg', { 'aria-label': 'a"b' }, [el('text', {}, [], '<Grill & Co>')]));
  assertEqual(s, '<svg aria-label="a&quot;b"><text>&lt;Grill &amp; Co&gt;</text></svg>');
  const full = svgString(ticketTimesChart([{ station: 'Fish & Chips', tickets: 1, median_secs: 10, p90_secs: 20 }]));
  assert(full.includes('Fish &amp; Chips') && !full.includes('Fish & Chips'), 'escaped station');
});

test('charts: helpers', () => {
  assertEqual(niceMax(0), 1);
  assertEqual(niceMax(12), 20);
  assertEqual(niceMax(50), 50);
  assertEqual(niceMax(51), 100);
  assertEqual(mmss(312), '5:12');
  assertEqual(mmss(59.6), '1:00');
});
