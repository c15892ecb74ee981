// Wiring: reads ?station= and ?view=, builds the board model, the connection and the view, and
// turns touches and keys into API calls. One listener per kind of input for the page's life.

import { Board, onView, shortId, stationShort } from './state.js';
import { Api } from './api.js';
import { Connection } from './connection.js';
import { BoardView, esc } from './render.js';
import { attachKeys } from './keys.js';
import { Sound } from './sound.js';
import { clockText } from './aging.js';

const UNDO_MS = 5000;

export function parseView(search) {
  const p = new URLSearchParams(search);
  if (p.get('view') === 'expo') return { view: 'expo', station: null };
  const station = p.get('station');
  if (station) return { view: 'station', station };
  return { view: 'all', station: null };
}

const $ = (id) => document.getElementById(id);

function main() {
  const view = parseView(location.search);
  const board = new Board();
  const api = new Api();
  const sound = new Sound();
  document.body.dataset.view = view.view;
  if (view.station) document.body.dataset.station = view.station;
  document.title = view.view === 'expo' ? 'Expo' : view.station ? `${stationShort(view.station)} - kitchen` : 'All stations - kitchen';

  let frameQueued = false;
  let tickQueued = false;
  let lastPaint = { eventId: 0, at: 0, paints: 0 };
  const requestFrame = () => {
    if (frameQueued) return;
    frameQueued = true;
    const run = () => {
      if (!frameQueued) return;
      frameQueued = false;
      paint();
    };
    requestAnimationFrame(run);
    setTimeout(run, 100); // hidden tabs get no animation frames
  };

  const boardView = new BoardView({
    els: {
      board: $('board'), pager: $('pager'), pageText: $('page-text'), prev: $('page-prev'), next: $('page-next'),
      allDay: $('all-day-body'), counts: $('counts'),
    },
    model: board,
    view,
    requestFrame,
  });

  // ---- header ----
  const switcher = $('station-switcher');
  switcher.innerHTML = `${esc(view.view === 'expo' ? 'EXPO' : view.station ? view.station.toUpperCase() : 'ALL STATIONS')} &#9662;`;
  const viewLink = $('view-link');
  if (view.view === 'expo') {
    viewLink.textContent = 'Board';
    viewLink.href = '/';
  }
  const menu = $('station-menu');
  const openMenu = (open) => {
    menu.hidden = !open;
    switcher.setAttribute('aria-expanded', String(open));
    if (!open) return;
    const stations = board.stations();
    if (view.station && !stations.includes(view.station)) stations.push(view.station);
    const link = (href, label, current) =>
      `<a class="menu-item${current ? ' is-current' : ''}" data-testid="station-option" href="${esc(href)}">${esc(label)}</a>`;
    menu.innerHTML = link('/', 'All stations', view.view === 'all') +
      stations.map((s) => link(`/?station=${encodeURIComponent(s)}`, s, view.station === s)).join('') +
      link('/?view=expo', 'Expo', view.view === 'expo') + link('/day', 'Day view', false);
  };
  switcher.addEventListener('click', (e) => {
    e.stopPropagation();
    openMenu(menu.hidden);
  });

  const connEl = $('connection');
  const stale = $('stale-banner');
  let everLive = false;
  const showConn = (state, since) => {
    let text;
    if (state === 'live') {
      everLive = true;
      text = '\u25CF LIVE';
    } else if (state === 'offline') text = `\u2715 OFFLINE since ${clockText(since ?? Date.now())}`;
    else text = everLive ? '\u25CC RECONNECTING' : '\u25CC CONNECTING';
    connEl.dataset.state = state;
    if (connEl.textContent !== text) connEl.textContent = text;
    document.body.dataset.conn = state;
    stale.hidden = state !== 'offline';
  };

  // ---- toast, undo ----
  const toast = $('toast');
  let toastTimer = null;
  const say = (msg, kind = 'error') => {
    toast.textContent = msg;
    toast.dataset.kind = kind;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, 4000);
  };

  const undoBar = $('undo-bar');
  const undoText = $('undo-text');
  const undoFill = $('undo-fill');
  let undo = null; // {eventId, timer}
  const hideUndo = () => {
    if (undo) clearTimeout(undo.timer);
    undo = null;
    undoBar.hidden = true;
  };
  const offerUndo = (change, label) => {
    if (!change || !Number.isFinite(change.event_id)) return;
    hideUndo();
    undo = { eventId: change.event_id, timer: setTimeout(hideUndo, UNDO_MS) };
    undoBar.dataset.eventId = String(change.event_id);
    undoText.textContent = label;
    undoBar.hidden = false;
    undoFill.style.animation = 'none';
    void undoFill.offsetWidth; // restart the countdown bar
    undoFill.style.animation = '';
  };

  const inFlight = new Set();
  /** Runs one change: applies its answer at once (the stream's copy is then a no-op). */
  const act = async (key, call, label) => {
    if (inFlight.has(key)) return null;
    inFlight.add(key);
    try {
      const res = await call();
      if (res && res.change) {
        board.applyChange(res.change);
        requestFrame();
        if (label) offerUndo(res.change, typeof label === 'function' ? label(res.change) : label);
      } else if (res && res.message) {
        say(res.message, 'info');
      }
      return res;
    } catch (e) {
      say(e && e.message ? e.message : String(e));
      return null;
    } finally {
      inFlight.delete(key);
    }
  };

  $('undo-button').addEventListener('click', () => {
    if (!undo) return;
    const id = undo.eventId;
    hideUndo();
    act(`undo:${id}`, () => api.undo(id), null).then((r) => { if (r && r.change) say('Undone', 'info'); });
  });

  // ---- actions ----
  let lastBumped = null;
  const cardLabel = (t) => (t ? `#${shortId(t)} ${t.brand_name}` : 'ticket');
  const bumpCard = (orderId) => {
    const t = board.get(orderId);
    if (view.view === 'expo') return handOver(orderId);
    lastBumped = orderId;
    return act(`card:${orderId}`, () => api.bumpOrder(orderId, view.station), `Bumped ${cardLabel(t)}`);
  };
  const bumpItem = (orderId, position) => {
    const t = board.get(orderId);
    const it = t && t.items.find((i) => i.position === position);
    if (!it || it.done) return null;
    return act(`item:${orderId}:${position}`, () => api.bumpItem(orderId, position),
      `Done ${it.quantity} \u00d7 ${it.name} (${cardLabel(t)})`);
  };
  const bumpBatch = (station, item) => act(`batch:${station}:${item}`, () => api.bumpBatch(station, item),
    (ch) => {
      let qty = 0;
      for (const l of ch.lines || []) {
        const it = board.get(l.order_id)?.items.find((i) => i.position === l.position);
        if (it) qty += it.quantity;
      }
      return `Batch up: ${qty} \u00d7 ${item} (${stationShort(station)})`;
    });
  const handOver = (orderId) => {
    const t = board.get(orderId);
    if (!t || !t.items.every((i) => i.done)) return null;
    lastBumped = orderId;
    return act(`hand:${orderId}`, () => api.handOver(orderId), `Handed over ${cardLabel(t)}`);
  };
  const recallOrder = (orderId) => act(`recall:${orderId}`, () => api.recallOrder(orderId, view), null)
    .then((r) => { if (r && r.change) say('Recalled', 'info'); return r; });

  const boardEl = $('board');
  boardEl.addEventListener('click', (e) => {
    const target = e.target.closest('[data-action]');
    const card = e.target.closest('.card');
    if (!card) return;
    const id = card.dataset.orderId;
    boardView.seen(id);
    boardView.highlightId = id;
    boardView.needLayout = true;
    requestFrame();
    if (!target) return;
    switch (target.dataset.action) {
      case 'bump-item': bumpItem(id, Number(target.dataset.position)); break;
      case 'bump-card': bumpCard(id); break;
      case 'hand-over': case 'hand-over-card': handOver(id); break;
      default: break;
    }
  });
  $('all-day-body').addEventListener('click', (e) => {
    const row = e.target.closest('[data-action="bump-batch"]');
    if (row) bumpBatch(row.dataset.station, row.dataset.item);
  });
  $('page-prev').addEventListener('click', () => boardView.setPage(boardView.page - 1));
  $('page-next').addEventListener('click', () => boardView.setPage(boardView.page + 1));
  // The page indicator jumps to the newest tickets (last page), and from there back to the oldest.
  $('page-text').addEventListener('click', () => boardView.setPage(boardView.page >= boardView.pages - 1 ? 0 : boardView.pages - 1));

  // ---- recall ----
  const recallPanel = $('recall-panel');
  const recallList = $('recall-list');
  const closeRecall = () => { recallPanel.hidden = true; recallList.textContent = ''; };
  const openRecall = async () => {
    recallPanel.hidden = false;
    recallList.innerHTML = '<li class="recall-empty">Loading\u2026</li>';
    try {
      const { tickets } = await api.recall(view);
      if (recallPanel.hidden) return;
      recallList.innerHTML = (tickets || []).slice(0, 20).map((t) => {
        const items = (t.items || [])
          .filter((i) => !view.station || i.station === view.station)
          .map((i) => `${i.quantity} ${i.name}`).join(', ');
        const at = t.bumped_at ? clockText(Date.parse(t.bumped_at)) : '';
        return `<li><button type="button" class="recall-item" data-testid="recall-item" data-order-id="${esc(t.order_id)}">` +
          `<span class="r-id">#${esc(shortId(t))}</span><span class="r-brand">${esc(t.brand_name)}</span>` +
          `<span class="r-items">${esc(items)}</span><span class="r-at">${esc(at)}</span></button></li>`;
      }).join('') || '<li class="recall-empty" data-testid="recall-empty">Nothing bumped yet</li>';
    } catch (e) {
      recallList.innerHTML = `<li class="recall-empty">${esc(e.message || e)}</li>`;
    }
  };
  $('recall-button').addEventListener('click', () => (recallPanel.hidden ? openRecall() : closeRecall()));
  $('recall-close').addEventListener('click', closeRecall);
  recallPanel.addEventListener('click', (e) => {
    const b = e.target.closest('.recall-item');
    if (b) {
      recallOrder(b.dataset.orderId);
      closeRecall();
    } else if (e.target === recallPanel) closeRecall();
  });
  const recallLast = async () => {
    try {
      const { tickets } = await api.recall(view);
      const first = (tickets || [])[0];
      if (first) recallOrder(first.order_id);
      else say('Nothing to recall', 'info');
    } catch (e) {
      say(e.message || String(e));
    }
  };

  // ---- keys ----
  attachKeys(window, (a) => {
    switch (a.type) {
      case 'move': boardView.move(a.dx, a.dy); break;
      case 'pick': boardView.pick(a.n); break;
      case 'page': boardView.setPage(boardView.page + a.delta); break;
      case 'bump': {
        const i = boardView.highlightedIndex();
        if (i >= 0) {
          const id = boardView.order[i].id;
          boardView.seen(id);
          bumpCard(id);
        }
        break;
      }
      case 'recall': recallLast(); break;
      case 'undo': $('undo-button').click(); break;
      case 'escape':
        openMenu(false);
        closeRecall();
        boardView.highlightId = null;
        boardView.needLayout = true;
        requestFrame();
        break;
      default: break;
    }
  });

  // ---- sound ----
  const notice = $('sound-notice');
  const updateNotice = () => { notice.hidden = sound.enabled; };
  const unlock = () => {
    if (!sound.enabled) sound.unlock().then(updateNotice);
  };
  window.addEventListener('pointerdown', unlock, { capture: true });
  window.addEventListener('keydown', unlock, { capture: true });
  document.addEventListener('click', (e) => {
    if (!menu.hidden && !e.target.closest('.hdr-station-wrap')) openMenu(false);
  });

  // ---- connection ----
  const conn = new Connection({
    api,
    board,
    hooks: {
      onState: (s, since) => { showConn(s, since); requestFrame(); },
      onApplied: requestFrame,
      onNewOrders: (ids) => {
        if (view.view === 'expo') return;
        const mine = ids.filter((id) => {
          const t = board.get(id);
          return t && onView(t, view);
        });
        if (mine.length === 0) return;
        boardView.markNew(mine);
        sound.chime();
      },
      onError: (e) => console.warn('kitchen screen:', e && e.message ? e.message : e),
    },
  });
  window.addEventListener('online', () => conn.kick());

  // ---- frame ----
  const clock = $('clock');
  const paint = () => {
    const tick = tickQueued;
    tickQueued = false;
    boardView.render({ tick });
    $('board-empty').hidden = boardView.order.length > 0 || board.snapshots === 0;
    lastPaint = { eventId: board.lastEventId, at: performance.now(), paints: lastPaint.paints + 1 };
    window.dispatchEvent(new CustomEvent('kitchenscreen:paint', { detail: { lastEventId: board.lastEventId } }));
  };
  setInterval(() => {
    tickQueued = true;
    const c = clockText(Date.now());
    if (clock.textContent !== c) clock.textContent = c;
    if (conn.state === 'offline') showConn('offline', conn.downSince);
    updateNotice();
    requestFrame();
  }, 1000);
  clock.textContent = clockText(Date.now());

  const ro = new ResizeObserver(() => {
    boardView.measureBoard();
    requestFrame();
  });
  ro.observe(boardEl);
  boardView.measureBoard();

  // ---- for tests and benchmarks (read-only) ----
  const summary = () => Object.freeze({
    view: view.view,
    station: view.station,
    connection: conn.state,
    downSince: conn.downSince,
    lastEventId: board.lastEventId,
    lastPaintedEventId: lastPaint.eventId,
    lastPaintAt: lastPaint.at,
    paints: lastPaint.paints,
    ticketsHeld: board.size,
    ticketsOnBoard: boardView.order.length,
    cardsInDom: boardEl.childElementCount,
    page: boardView.page + 1,
    pages: boardView.pages,
    columns: boardView.columns,
    highlighted: boardView.highlightId,
    newOrders: boardView.newUntil.size,
    soundEnabled: sound.enabled,
    chimes: sound.played,
    serverOffsetMs: board.serverOffsetMs,
    aging: { ...board.aging },
    truncated: board.truncated,
    snapshots: board.snapshots,
    lastBumped,
    undoEventId: undo ? undo.eventId : null,
    stats: { ...conn.stats },
  });
  const copy = (x) => JSON.parse(JSON.stringify(x));
  window.kitchenScreen = Object.freeze({
    get state() { return summary(); },
    ticketIds: () => boardView.ids(),
    ticket: (id) => { const t = board.get(id); return t ? copy(t) : null; },
    allDay: () => copy(board.allDay(view.station || null)),
    stations: () => board.stations(),
  });

  showConn('reconnecting', null);
  updateNotice();
  conn.start();
}

if (typeof document !== 'undefined' && document.getElementById('board')) main();
