// The board model: every open ticket the screen holds, and what each view shows of it.
// Pure: no DOM, no fetch, no clock (times are passed in). Every mutation sets state (it never
// toggles), so replayed events and snapshots can be applied again without harm.

/** Milliseconds since the epoch for an RFC 3339 string, NaN when unparsable. */
export function parseTime(value) {
  if (typeof value !== 'string' || value === '') return NaN;
  return Date.parse(value);
}

/** The short order id shown on a card: the last 5 characters of the Otter id (or order id). */
export function shortId(ticket) {
  const raw = String(ticket.otter_order_id || ticket.order_id || '');
  const compact = raw.replace(/[^0-9A-Za-z]/g, '');
  return (compact || raw).slice(-5);
}

/** "Grill Station" -> "Grill" (the word "Station" says nothing on a kitchen screen). */
export function stationShort(name) {
  const s = String(name || '').replace(/\s+station$/i, '').trim();
  return s || String(name || '');
}

/** Sort key comparison: the order's own `timestamp`, then `event_id` (oldest first). */
export function compareTickets(a, b) {
  const at = a.ts;
  const bt = b.ts;
  if (Number.isFinite(at) && Number.isFinite(bt)) {
    if (at !== bt) return at < bt ? -1 : 1;
  } else if (a.timestamp !== b.timestamp) {
    return String(a.timestamp) < String(b.timestamp) ? -1 : 1;
  }
  return a.event_id - b.event_id;
}

function normalizeItem(item, index) {
  return {
    position: Number.isInteger(item.position) ? item.position : index,
    name: String(item.name ?? ''),
    station: String(item.station ?? ''),
    quantity: Number(item.quantity) || 0,
    done: item.done === true,
    done_at: item.done === true ? (item.done_at ?? null) : null,
  };
}

/** A ticket as held by the board (a copy: the server's objects are never kept). */
export function normalizeTicket(t) {
  const items = Array.isArray(t.items) ? t.items.map(normalizeItem) : [];
  return {
    event_id: Number(t.event_id) || 0,
    order_id: String(t.order_id),
    otter_order_id: t.otter_order_id == null ? '' : String(t.otter_order_id),
    brand_name: String(t.brand_name ?? ''),
    source: t.source == null ? '' : String(t.source),
    timestamp: t.timestamp == null ? '' : String(t.timestamp),
    received_at: t.received_at == null ? null : String(t.received_at),
    handed_over: t.handed_over === true,
    handed_over_at: t.handed_over_at ?? null,
    items,
    ts: parseTime(t.timestamp),
    receivedMs: parseTime(t.received_at),
  };
}

/** Equal content (what a card shows): used to skip no-op replacements from a snapshot. */
export function sameTicket(a, b) {
  if (a.order_id !== b.order_id || a.event_id !== b.event_id || a.brand_name !== b.brand_name ||
      a.timestamp !== b.timestamp || a.received_at !== b.received_at ||
      a.otter_order_id !== b.otter_order_id || a.handed_over !== b.handed_over ||
      a.items.length !== b.items.length) return false;
  for (let i = 0; i < a.items.length; i++) {
    const x = a.items[i];
    const y = b.items[i];
    if (x.position !== y.position || x.name !== y.name || x.station !== y.station ||
        x.quantity !== y.quantity || x.done !== y.done || x.done_at !== y.done_at) return false;
  }
  return true;
}

export function itemsAt(ticket, station) {
  return ticket.items.filter((i) => i.station === station);
}

/** Has items at `station` that are not done yet. */
export function hasOpenAt(ticket, station) {
  return ticket.items.some((i) => i.station === station && !i.done);
}

export function hasItemsAt(ticket, station) {
  return ticket.items.some((i) => i.station === station);
}

/** Every item done (expo: ready to hand over). A ticket without items is not ready. */
export function isReady(ticket) {
  return ticket.items.length > 0 && ticket.items.every((i) => i.done);
}

/** When the ticket became ready: its latest `done_at` (ms), NaN when not ready. */
export function readyAt(ticket) {
  if (!isReady(ticket)) return NaN;
  let max = -Infinity;
  for (const i of ticket.items) {
    const t = parseTime(i.done_at);
    if (Number.isFinite(t) && t > max) max = t;
  }
  return max === -Infinity ? NaN : max;
}

/** Per station of the ticket (sorted by name): how many item lines are still open. */
export function stationStatus(ticket) {
  const map = new Map();
  for (const i of ticket.items) {
    const s = map.get(i.station) || { station: i.station, open: 0, total: 0 };
    s.total += 1;
    if (!i.done) s.open += 1;
    map.set(i.station, s);
  }
  return [...map.values()].sort((a, b) => (a.station < b.station ? -1 : a.station > b.station ? 1 : 0));
}

/** Is the ticket on the board of this view? view: {view: 'station'|'all'|'expo', station}. */
export function onView(ticket, view) {
  if (ticket.handed_over) return false;
  if (view.view === 'expo') return ticket.items.length > 0;
  if (view.station) return hasOpenAt(ticket, view.station);
  return ticket.items.some((i) => !i.done);
}

function byName(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * All-day totals: open (not done) items of open tickets, per station and item name, with the
 * split per brand. Stations by name, items by quantity descending then name, brands likewise.
 */
export function allDayTotals(tickets, station = null) {
  const stations = new Map();
  for (const t of tickets) {
    if (t.handed_over) continue;
    for (const it of t.items) {
      if (it.done) continue;
      if (station && it.station !== station) continue;
      let st = stations.get(it.station);
      if (!st) { st = new Map(); stations.set(it.station, st); }
      let row = st.get(it.name);
      if (!row) { row = { name: it.name, quantity: 0, ticketSet: new Set(), brands: new Map() }; st.set(it.name, row); }
      row.quantity += it.quantity;
      row.ticketSet.add(t.order_id);
      row.brands.set(t.brand_name, (row.brands.get(t.brand_name) || 0) + it.quantity);
    }
  }
  const byQty = (a, b) => (b.quantity - a.quantity) || byName(a.name ?? a.brand_name, b.name ?? b.brand_name);
  return [...stations.entries()]
    .sort((a, b) => byName(a[0], b[0]))
    .map(([name, rows]) => ({
      station: name,
      items: [...rows.values()]
        .map((r) => ({
          name: r.name,
          quantity: r.quantity,
          tickets: r.ticketSet.size,
          brands: [...r.brands.entries()]
            .map(([brand_name, quantity]) => ({ brand_name, quantity }))
            .sort(byQty),
        }))
        .sort(byQty),
    }));
}

export class Board {
  constructor() {
    /** order_id -> ticket (open tickets only: handed-over ones leave memory). */
    this.tickets = new Map();
    /** Every held ticket, sorted by (timestamp, event_id). */
    this.sorted = [];
    this.lastEventId = 0;
    this.serverOffsetMs = 0;
    this.aging = { warn_after_secs: 300, late_after_secs: 480 };
    this.truncated = false;
    this.snapshots = 0;
    this.eventsApplied = 0;
    this.dirty = new Set();
    this.version = 0;
  }

  get size() {
    return this.tickets.size;
  }

  get(orderId) {
    return this.tickets.get(orderId);
  }

  _index(t) {
    // Binary search for the insert position of t (most inserts are at the end).
    const arr = this.sorted;
    let lo = 0;
    let hi = arr.length;
    if (hi > 0 && compareTickets(arr[hi - 1], t) < 0) return hi;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareTickets(arr[mid], t) < 0) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  _removeSorted(t) {
    let i = this._index(t);
    if (this.sorted[i] !== t) i = this.sorted.indexOf(t);
    if (i >= 0) this.sorted.splice(i, 1);
  }

  _touch(orderId) {
    this.dirty.add(orderId);
    this.version += 1;
  }

  /** Inserts or replaces a ticket (normalized). A handed-over ticket is removed instead. */
  upsert(ticket) {
    const t = ticket.ts === undefined ? normalizeTicket(ticket) : ticket;
    if (t.handed_over) return this.remove(t.order_id);
    const old = this.tickets.get(t.order_id);
    if (old) {
      if (sameTicket(old, t)) return false;
      this._removeSorted(old);
    }
    this.tickets.set(t.order_id, t);
    this.sorted.splice(this._index(t), 0, t);
    this._touch(t.order_id);
    return true;
  }

  remove(orderId) {
    const old = this.tickets.get(orderId);
    if (!old) return false;
    this.tickets.delete(orderId);
    this._removeSorted(old);
    this._touch(orderId);
    return true;
  }

  /**
   * Rebuilds from `GET /api/tickets`, changing only what differs (so an unchanged board repaints
   * nothing). localMs: the local clock when the answer arrived (for the server clock offset).
   * Returns how many tickets it added, replaced or removed.
   */
  applySnapshot(snap, localMs = NaN) {
    const fresh = new Map();
    for (const raw of snap.tickets || []) {
      const t = normalizeTicket(raw);
      if (!t.handed_over) fresh.set(t.order_id, t);
    }
    let changed = 0;
    for (const id of [...this.tickets.keys()]) if (!fresh.has(id) && this.remove(id)) changed += 1;
    for (const t of fresh.values()) if (this.upsert(t)) changed += 1;
    this.lastEventId = Number(snap.last_event_id) || 0;
    if (snap.aging && Number.isFinite(snap.aging.warn_after_secs) && Number.isFinite(snap.aging.late_after_secs)) {
      this.aging = { warn_after_secs: snap.aging.warn_after_secs, late_after_secs: snap.aging.late_after_secs };
    }
    const server = parseTime(snap.server_time);
    if (Number.isFinite(server) && Number.isFinite(localMs)) this.serverOffsetMs = server - localMs;
    this.truncated = snap.truncated === true;
    this.snapshots += 1;
    this.version += 1;
    return changed;
  }

  /** Local clock -> server clock. */
  serverNow(localMs) {
    return localMs + this.serverOffsetMs;
  }

  /**
   * A new order from the stream (no `event:` field). The design's format has no event id,
   * position or received_at: the SSE id is the event id, an item's index its position, and
   * received_at (when the service adds it) or the arrival time (server clock) its age.
   * An order the board already holds is left alone (a replay must not reopen done items).
   */
  applyOrder(eventId, data, arrivalServerMs = NaN) {
    if (!data || data.order_id == null) return false;
    const id = String(data.order_id);
    if (this.tickets.has(id)) return false;
    let received = data.received_at;
    if (received == null && Number.isFinite(arrivalServerMs)) received = new Date(arrivalServerMs).toISOString();
    const t = normalizeTicket({
      event_id: eventId,
      order_id: id,
      otter_order_id: data.otter_order_id,
      brand_name: data.brand_name,
      source: data.source,
      timestamp: data.timestamp,
      received_at: received,
      items: (data.items || []).map((it, index) => ({ ...it, position: index, done: false, done_at: null })),
      handed_over: false,
    });
    return this.upsert(t);
  }

  /** A Change (from the stream or the answer to a POST): lines, then handed_over, then reopened. */
  applyChange(change) {
    if (!change) return false;
    let changed = false;
    const done = change.done === true;
    for (const line of change.lines || []) {
      const t = this.tickets.get(String(line.order_id));
      if (!t) continue;
      const item = t.items.find((i) => i.position === line.position);
      if (!item) continue;
      const doneAt = done ? (change.at ?? null) : null;
      if (item.done === done && item.done_at === doneAt) continue;
      if (item.done === done && done) continue; // already done: keep the first done_at
      item.done = done;
      item.done_at = doneAt;
      this._touch(t.order_id);
      changed = true;
    }
    for (const id of change.handed_over || []) changed = this.remove(String(id)) || changed;
    for (const raw of change.reopened || []) changed = this.upsert(normalizeTicket(raw)) || changed;
    return changed;
  }

  /**
   * One event from the stream: {id, type ('message' for orders), data (parsed)}. Events at or
   * below the last applied id are skipped (already reflected). Returns true when applied.
   */
  applyEvent(ev, arrivalServerMs = NaN) {
    const id = Number(ev.id);
    if (Number.isFinite(id) && id > 0 && id <= this.lastEventId) return false;
    if (ev.type === 'message' || ev.type === 'order' || ev.type === undefined) {
      this.applyOrder(id, ev.data, arrivalServerMs);
    } else {
      this.applyChange(ev.data);
    }
    if (Number.isFinite(id) && id > this.lastEventId) this.lastEventId = id;
    this.eventsApplied += 1;
    return true;
  }

  /** The ids changed since the last call (what the renderer has to look at). */
  takeDirty() {
    const d = this.dirty;
    this.dirty = new Set();
    return d;
  }

  /** The tickets a station or all-stations board shows, oldest first. */
  boardTickets(view) {
    return this.sorted.filter((t) => onView(t, view));
  }

  /** Expo: ready tickets in the order they became ready, then the others (oldest first). */
  expoTickets() {
    const ready = [];
    const pending = [];
    for (const t of this.sorted) {
      if (t.handed_over || t.items.length === 0) continue;
      if (isReady(t)) ready.push({ t, at: readyAt(t) });
      else pending.push(t);
    }
    ready.sort((a, b) => {
      const x = Number.isFinite(a.at) ? a.at : Infinity;
      const y = Number.isFinite(b.at) ? b.at : Infinity;
      return (x - y) || compareTickets(a.t, b.t);
    });
    return { ready: ready.map((r) => r.t), pending };
  }

  /** What a view shows, in order: station/all board, or expo (ready first). */
  viewTickets(view) {
    if (view.view === 'expo') {
      const { ready, pending } = this.expoTickets();
      return ready.concat(pending);
    }
    return this.boardTickets(view);
  }

  allDay(station = null) {
    return allDayTotals(this.sorted, station);
  }

  /** Every station name on the open tickets, sorted. */
  stations() {
    const s = new Set();
    for (const t of this.sorted) for (const i of t.items) s.add(i.station);
    return [...s].sort(byName);
  }

  /** Open ticket ids as a sorted array (for comparing with a snapshot). */
  openIds() {
    return [...this.tickets.keys()].sort();
  }
}
