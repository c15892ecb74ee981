// The day view: today's orders per hour and ticket time per station, from GET /api/day.

import { Api } from './api.js';
import { ordersPerHourChart, ticketTimesChart, svgString, hourLabel, mmss } from './charts.js';

/** Today from local midnight to now, as ISO strings. */
export function todayRange(now = new Date()) {
  const from = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  return { from: from.toISOString(), to: now.toISOString() };
}

const hourText = (h) => { const l = hourLabel(h); return l.includes(':') ? l : `${l}:00`; };

function summary(day) {
  const rows = day.orders_per_hour || [];
  const total = rows.reduce((s, r) => s + (Number(r.orders) || 0), 0);
  const busiest = rows.reduce((b, r) => ((Number(r.orders) || 0) > (b ? b.orders : 0) ? r : b), null);
  return `${total} orders today` + (busiest ? ` \u00b7 busiest hour ${hourText(busiest.hour)} (${busiest.orders})` : '');
}

async function load(api) {
  const status = document.getElementById('day-status');
  const { from, to } = todayRange();
  try {
    const day = await api.day(from, to);
    const width = Math.max(480, Math.min(1100, document.getElementById('orders-chart').clientWidth || 640));
    document.getElementById('orders-chart').innerHTML = svgString(ordersPerHourChart(day.orders_per_hour, { width }));
    document.getElementById('times-chart').innerHTML = svgString(ticketTimesChart(day.ticket_times, { width, aging: day.aging }));
    document.getElementById('day-summary').textContent = summary(day);
    const slow = (day.ticket_times || []).slice().sort((a, b) => b.p90_secs - a.p90_secs)[0];
    document.getElementById('times-summary').textContent = slow
      ? `slowest: ${slow.station} (90% within ${mmss(slow.p90_secs)})` : '';
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    status.dataset.state = 'ok';
    document.body.dataset.loaded = 'true';
  } catch (e) {
    status.textContent = `could not load: ${e.message || e}`;
    status.dataset.state = 'error';
  }
}

if (typeof document !== 'undefined' && document.getElementById('orders-chart')) {
  const api = new Api();
  load(api);
  setInterval(() => load(api), 60000);
}
