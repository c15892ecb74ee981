// DOM: the board's cards, the pager, the all-day panel and the header counts. Incremental: a
// card is built once and rebuilt only when its ticket changed; cards of other pages stay in the
// DOM, hidden; cards of tickets that left the board are removed (and forgotten).

import { agingInfo } from './aging.js';
import { shortId, stationShort, stationStatus, isReady } from './state.js';
import { estimateCardHeight, columnsFor, paginate } from './layout.js';

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]);
}

/** Pixel sizes the estimates use; they follow screen.css. */
export const METRICS = Object.freeze({
  cardChrome: 146, // borders, header, bump button, paddings
  expoChrome: 166,
  itemHeight: 50,
  itemHeight2: 68,
  itemHeight3: 94,
  headingHeight: 30,
  mutedHeight: 26,
  charsPerLine: 14,
  mutedCharsPerLine: 24,
  minCardWidth: 270,
  gap: 10,
});

const NEW_MS = 10000;

function byPosition(a, b) {
  return a.position - b.position;
}

/** Items of a ticket grouped by station, stations sorted by name. */
function groups(ticket) {
  const map = new Map();
  for (const it of ticket.items) {
    if (!map.has(it.station)) map.set(it.station, []);
    map.get(it.station).push(it);
  }
  return [...map.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([station, items]) => ({ station, items: items.sort(byPosition) }));
}

/** "Fryer: 3 · Salad ✓": the other stations of a shared ticket, in one muted line. */
export function othersLine(ticket, station) {
  const parts = [];
  for (const g of groups(ticket)) {
    if (g.station === station) continue;
    const open = g.items.reduce((n, i) => n + (i.done ? 0 : i.quantity), 0);
    parts.push(open > 0 ? `${stationShort(g.station)}: ${open}` : `${stationShort(g.station)} \u2713`);
  }
  return parts.length ? `+ ${parts.join(' \u00b7 ')}` : '';
}

/** "Grill ✓ · Fryer 2 left": expo's line per station. */
export function expoStationsLine(ticket) {
  return stationStatus(ticket)
    .map((s) => (s.open === 0 ? `${stationShort(s.station)} \u2713` : `${stationShort(s.station)} ${s.open} left`))
    .join(' \u00b7 ');
}

function itemHtml(it) {
  return `<button type="button" class="item${it.done ? ' is-done' : ''}" data-testid="item-line" data-action="bump-item"` +
    ` data-position="${it.position}" data-station="${esc(it.station)}" data-done="${it.done}"` +
    `${it.done ? ' aria-pressed="true"' : ''}><span class="qty">${it.quantity}</span>` +
    `<span class="name">${esc(it.name)}</span>${it.done ? '<span class="tick" aria-label="done">\u2713</span>' : ''}</button>`;
}

function headerHtml(t) {
  return '<header class="card-hd"><div class="hd-top"><span class="card-pos" aria-hidden="true"></span>' +
    `<span class="card-id">#${esc(shortId(t))}</span>` +
    '<span class="card-timer" data-testid="card-timer"><span class="t-icon"></span><span class="t-text">0:00</span></span></div>' +
    `<div class="hd-sub"><span class="card-brand">${esc(t.brand_name)}</span>` +
    '<span class="card-new" aria-label="new order">NEW</span><span class="t-label" data-testid="age-label"></span></div></header>';
}

/** Inner HTML and estimate lines of a station/all-stations card. */
function cardContent(t, view) {
  const lines = [];
  let body = '';
  if (view.station) {
    const mine = t.items.filter((i) => i.station === view.station).sort(byPosition);
    for (const it of mine) {
      body += itemHtml(it);
      lines.push({ kind: 'item', chars: it.name.length });
    }
    const others = othersLine(t, view.station);
    if (others) {
      body += `<div class="card-others" data-testid="other-stations">${esc(others)}</div>`;
      lines.push({ kind: 'muted', chars: others.length });
    }
  } else {
    for (const g of groups(t)) {
      const allDone = g.items.every((i) => i.done);
      body += `<div class="card-station${allDone ? ' is-done' : ''}" data-testid="card-station">${esc(stationShort(g.station))}${allDone ? ' \u2713' : ''}</div>`;
      lines.push({ kind: 'heading' });
      for (const it of g.items) {
        body += itemHtml(it);
        lines.push({ kind: 'item', chars: it.name.length });
      }
    }
  }
  const label = view.station ? `Bump ${esc(stationShort(view.station))}` : 'Bump all';
  const html = headerHtml(t) + `<div class="card-items">${body}</div>` +
    `<button type="button" class="card-bump" data-testid="card-bump" data-action="bump-card">${label}</button>`;
  return { html, lines };
}

function expoContent(t) {
  const ready = isReady(t);
  const stations = expoStationsLine(t);
  const items = t.items.slice().sort(byPosition).map((i) => `${i.quantity} ${i.name}`).join(', ');
  const lines = [{ kind: 'muted', chars: stations.length * 1.3 }, { kind: 'muted', chars: items.length }];
  const html = headerHtml(t) +
    `<div class="expo-stations" data-testid="expo-stations">${esc(stations)}</div>` +
    `<div class="expo-items">${esc(items)}</div>` +
    (ready
      ? '<button type="button" class="card-bump hand-over" data-testid="hand-over-button" data-action="hand-over">Hand over</button>'
      : '<div class="expo-wait" data-testid="expo-waiting">WAITING</div>');
  return { html, lines, ready };
}

export class BoardView {
  /**
   * els: {board, pager, pageText, prev, next, allDay, counts}; model: the Board; view:
   * {view, station}; now(): local clock; requestFrame(): asks for another frame.
   */
  constructor({ els, model, view, now, requestFrame }) {
    this.els = els;
    this.model = model;
    this.view = view;
    this.now = now ?? (() => Date.now());
    this.requestFrame = requestFrame ?? (() => {});
    this.expo = view.view === 'expo';
    this.cards = new Map();
    this.order = [];
    this.page = 0;
    this.pages = 1;
    this.pageOf = [];
    this.visible = [];
    this.columns = 4;
    this.pageHeight = 600;
    this.highlightId = null;
    this.newUntil = new Map();
    this.needLayout = true;
    this.allDayRows = new Map();
    this.allDaySections = new Map();
    this.allDayVersion = -1;
    this.paints = 0;
    this.followNewest = false;
  }

  /** Board size changed (or first paint): recompute columns and page height. */
  measureBoard() {
    const b = this.els.board;
    const w = b.clientWidth;
    const h = b.clientHeight;
    if (!w || !h) return;
    const cols = columnsFor(w, METRICS.minCardWidth, METRICS.gap);
    if (cols !== this.columns) {
      this.columns = cols;
      b.style.setProperty('--cols', String(cols));
      for (const c of this.cards.values()) c.measured = false;
    }
    this.pageHeight = h;
    this.needLayout = true;
  }

  markNew(ids) {
    const until = this.now() + NEW_MS;
    for (const id of ids) this.newUntil.set(id, until);
  }

  /** The card was touched: it is seen. */
  seen(id) {
    if (this.newUntil.delete(id)) {
      const c = this.cards.get(id);
      if (c) c.el.classList.remove('is-new');
    }
  }

  _build(t) {
    const el = document.createElement('article');
    el.className = this.expo ? 'card expo-card' : 'card';
    el.dataset.testid = this.expo ? 'expo-card' : 'card';
    el.dataset.orderId = t.order_id;
    el.dataset.action = this.expo ? 'hand-over-card' : 'seen';
    el.hidden = true;
    const c = { id: t.order_id, el, height: 0, measured: false, page: -1, pos: '', level: '', text: '', isNew: false, hl: false };
    this._fill(c, t);
    return c;
  }

  _fill(c, t) {
    const { html, lines, ready } = this.expo ? expoContent(t) : cardContent(t, this.view);
    c.el.innerHTML = html;
    if (this.expo) {
      c.el.dataset.ready = String(ready);
      c.el.classList.toggle('is-pending', !ready);
    }
    c.timer = c.el.querySelector('.card-timer');
    c.tText = c.timer.querySelector('.t-text');
    c.tLabel = c.el.querySelector('.t-label');
    c.tIcon = c.timer.querySelector('.t-icon');
    c.posEl = c.el.querySelector('.card-pos');
    c.level = '';
    c.text = '';
    c.pos = '';
    c.received = t.receivedMs;
    c.height = estimateCardHeight(lines, { ...METRICS, cardChrome: this.expo ? METRICS.expoChrome : METRICS.cardChrome });
    c.measured = false;
    c.page = -1; // forces a visibility/timer refresh
  }

  _timer(c, nowMs) {
    const a = agingInfo(c.received, nowMs, this.model.serverOffsetMs, this.model.aging);
    if (a.text !== c.text) {
      c.text = a.text;
      c.tText.textContent = a.text;
    }
    if (a.level !== c.level) {
      c.level = a.level;
      c.el.dataset.level = a.level;
      c.tLabel.textContent = a.label;
      c.tIcon.textContent = a.icon;
    }
  }

  /** One frame of DOM work. Returns the number of cards created or rebuilt. */
  render({ tick = false } = {}) {
    const nowMs = this.now();
    const dirty = this.model.takeDirty();
    let touched = 0;
    const structural = dirty.size > 0 || this.needLayout;
    if (dirty.size > 0 || this.order.length === 0) {
      const list = this.model.viewTickets(this.view);
      const keep = new Set();
      for (const t of list) keep.add(t.order_id);
      for (const [id, c] of this.cards) {
        if (!keep.has(id)) {
          c.el.remove();
          this.cards.delete(id);
          this.newUntil.delete(id);
          if (this.highlightId === id) this.highlightId = null;
        }
      }
      for (const id of this.newUntil.keys()) if (!this.model.tickets.has(id)) this.newUntil.delete(id);
      const order = [];
      for (const t of list) {
        let c = this.cards.get(t.order_id);
        if (!c) {
          c = this._build(t);
          this.cards.set(t.order_id, c);
          touched += 1;
        } else if (dirty.has(t.order_id)) {
          this._fill(c, t);
          touched += 1;
        }
        order.push(c);
      }
      // Put the DOM in board order, moving only what is out of place (appends are the usual case).
      const board = this.els.board;
      let cursor = board.firstElementChild;
      for (const c of order) {
        if (c.el === cursor) cursor = cursor.nextElementSibling;
        else board.insertBefore(c.el, cursor);
      }
      this.order = order;
      this.needLayout = true;
    }
    if (this.needLayout) this._layout();
    // New-order flash: on until seen or 10 s.
    for (const [id, until] of this.newUntil) {
      if (until <= nowMs) {
        this.newUntil.delete(id);
        const c = this.cards.get(id);
        if (c) c.el.classList.remove('is-new');
      }
    }
    for (const c of this.visible) {
      const isNew = this.newUntil.has(c.id);
      if (isNew !== c.isNew || structural) {
        c.isNew = isNew;
        c.el.classList.toggle('is-new', isNew);
      }
      if (tick || structural) this._timer(c, nowMs);
    }
    if (this.model.version !== this.allDayVersion && !this.expo) {
      this.allDayVersion = this.model.version;
      this._renderAllDay();
    }
    this._pager();
    this._counts(nowMs);
    // Measure the painted cards once: a measured height replaces the estimate for paging.
    let remeasure = false;
    for (const c of this.visible) {
      if (c.measured) continue;
      const h = c.el.offsetHeight;
      c.measured = true;
      if (h && Math.abs(h - c.height) > 2) {
        c.height = h;
        remeasure = true;
      }
    }
    if (remeasure) {
      this.needLayout = true;
      this.requestFrame();
    }
    this.paints += 1;
    return touched;
  }

  _layout() {
    this.needLayout = false;
    const order = this.order;
    const heights = order.map((c) => Math.min(c.height, this.pageHeight));
    const { pageOf, pages, firstOfPage } = paginate(heights, this.columns, this.pageHeight, METRICS.gap);
    this.pages = pages;
    this.firstOfPage = firstOfPage;
    if (this.followNewest) this.page = pages - 1;
    if (this.page >= pages) this.page = pages - 1;
    if (this.page < 0) this.page = 0;
    this.pageOf = pageOf;
    const visible = [];
    for (let i = 0; i < order.length; i++) {
      const c = order[i];
      const on = pageOf[i] === this.page;
      if (c.el.hidden === on) c.el.hidden = !on;
      if (on) {
        if (c.page !== this.page) {
          c.page = this.page;
          c.isNew = !this.newUntil.has(c.id); // force the class refresh
        }
        visible.push(c);
        const pos = visible.length <= 9 ? String(visible.length) : '';
        if (pos !== c.pos) {
          c.pos = pos;
          c.posEl.textContent = pos;
        }
      } else {
        c.page = -1;
      }
      const hl = c.id === this.highlightId;
      if (hl !== c.hl) {
        c.hl = hl;
        c.el.classList.toggle('is-hl', hl);
      }
    }
    this.visible = visible;
  }

  _pager() {
    const { pager, pageText, prev, next } = this.els;
    // The pager keeps its space when there is one page (no resize, no flip-flop of the paging).
    const show = this.pages > 1;
    pager.classList.toggle('is-single', !show);
    pager.dataset.pages = String(this.pages);
    if (!show) return;
    let newLater = 0;
    for (const id of this.newUntil.keys()) {
      const c = this.cards.get(id);
      if (c && c.page === -1) newLater += 1;
    }
    const first = this.firstOfPage[this.page] ?? 0;
    const last = this.page + 1 < this.pages ? this.firstOfPage[this.page + 1] : this.order.length;
    const after = this.order.length - last;
    const text = `Page ${this.page + 1}/${this.pages} \u00b7 ${first + 1}\u2013${last} of ${this.order.length}` +
      (after > 0 ? ` \u00b7 ${after} newer \u25B6\u25B6` : ' \u00b7 newest') + (newLater > 0 ? ` \u00b7 ${newLater} NEW` : '');
    if (pageText.textContent !== text) pageText.textContent = text;
    pager.classList.toggle('has-new', newLater > 0);
    prev.disabled = this.page === 0;
    next.disabled = this.page >= this.pages - 1;
  }

  _counts(nowMs) {
    const n = this.order.length;
    let text;
    if (this.expo) {
      const ready = this.order.filter((c) => c.el.dataset.ready === 'true').length;
      text = `${ready} ready \u00b7 ${n - ready} in progress`;
    } else {
      text = `${n} open`;
      if (n > 0) {
        const oldest = this.model.get(this.order[0].id);
        const a = agingInfo(oldest ? oldest.receivedMs : NaN, nowMs, this.model.serverOffsetMs, this.model.aging);
        text += ` \u00b7 oldest ${a.text}`;
      }
    }
    if (this.els.counts.textContent !== text) this.els.counts.textContent = text;
  }

  _renderAllDay() {
    const panel = this.els.allDay;
    const totals = this.model.allDay(this.view.station || null);
    const seenSections = new Set();
    const seenRows = new Set();
    let cursor = panel.firstElementChild;
    for (const st of totals) {
      seenSections.add(st.station);
      let sec = this.allDaySections.get(st.station);
      if (!sec) {
        sec = document.createElement('section');
        sec.className = 'ad-section';
        sec.dataset.testid = 'all-day-section';
        sec.dataset.station = st.station;
        if (!this.view.station) {
          const h = document.createElement('h2');
          h.className = 'ad-station';
          h.textContent = stationShort(st.station);
          sec.appendChild(h);
        }
        this.allDaySections.set(st.station, sec);
      }
      if (sec !== cursor) panel.insertBefore(sec, cursor);
      else cursor = cursor.nextElementSibling;
      const heading = sec.querySelector('.ad-station');
      let rowCursor = heading ? heading.nextElementSibling : sec.firstElementChild;
      for (const item of st.items) {
        const key = `${st.station}\u0000${item.name}`;
        seenRows.add(key);
        let row = this.allDayRows.get(key);
        if (!row) {
          const el = document.createElement('button');
          el.type = 'button';
          el.className = 'ad-row';
          el.dataset.testid = 'all-day-row';
          el.dataset.action = 'bump-batch';
          el.dataset.station = st.station;
          el.dataset.item = item.name;
          el.innerHTML = '<span class="ad-qty" data-testid="all-day-quantity"></span>' +
            `<span class="ad-main"><span class="ad-name">${esc(item.name)}</span>` +
            '<span class="ad-brands" data-testid="all-day-brands"></span></span>' +
            '<span class="ad-check" aria-hidden="true">\u2713</span>';
          row = { el, qty: el.querySelector('.ad-qty'), brands: el.querySelector('.ad-brands'), q: null, b: null };
          this.allDayRows.set(key, row);
        }
        if (row.q !== item.quantity) {
          row.q = item.quantity;
          row.qty.textContent = String(item.quantity);
          row.el.dataset.quantity = String(item.quantity);
        }
        const b = item.brands.map((x) => `${x.brand_name} ${x.quantity}`).join(' \u00b7 ');
        if (row.b !== b) {
          row.b = b;
          row.brands.textContent = b;
        }
        if (row.el !== rowCursor) sec.insertBefore(row.el, rowCursor);
        else rowCursor = rowCursor.nextElementSibling;
      }
    }
    for (const [key, row] of this.allDayRows) {
      if (!seenRows.has(key)) {
        row.el.remove();
        this.allDayRows.delete(key);
      }
    }
    for (const [name, sec] of this.allDaySections) {
      if (!seenSections.has(name)) {
        sec.remove();
        this.allDaySections.delete(name);
      }
    }
    panel.classList.toggle('is-empty', totals.length === 0);
  }

  // ---- navigation (pager, keyboard) ----

  setPage(p) {
    const np = Math.max(0, Math.min(this.pages - 1, p));
    this.followNewest = false;
    if (np !== this.page) {
      this.page = np;
      this.needLayout = true;
      this.requestFrame();
    }
  }

  /** Highlight by index in board order (switching pages as needed). */
  highlightIndex(i) {
    if (this.order.length === 0) {
      this.highlightId = null;
      return;
    }
    const idx = Math.max(0, Math.min(this.order.length - 1, i));
    this.highlightId = this.order[idx].id;
    const p = this.pageOf[idx];
    if (p !== undefined && p !== this.page) this.page = p;
    this.needLayout = true;
    this.requestFrame();
  }

  highlightedIndex() {
    if (this.highlightId == null) return -1;
    return this.order.findIndex((c) => c.id === this.highlightId);
  }

  /** Arrows: dx -1/+1 moves by one card, dy by one row. */
  move(dx, dy) {
    const cur = this.highlightedIndex();
    if (cur < 0) {
      const first = this.firstOfPage?.[this.page] ?? 0;
      this.highlightIndex(first);
      return;
    }
    this.highlightIndex(cur + dx + dy * this.columns);
  }

  /** Digit n: the n-th card of the current page. Returns its order id or null. */
  pick(n) {
    const c = this.visible[n - 1];
    if (!c) return null;
    this.highlightId = c.id;
    this.needLayout = true;
    this.requestFrame();
    return c.id;
  }

  /** Ids on the board, in order (for tests and the benchmark). */
  ids() {
    return this.order.map((c) => c.id);
  }
}
