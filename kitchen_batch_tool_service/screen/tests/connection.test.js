import { test, assert, assertEqual, assertDeepEqual } from './harness.js';
import { Connection } from '../js/connection.js';
import { Board } from '../js/state.js';
import { ticket, snapshot, orderData, change } from './fixtures.js';

class FakeES {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.listeners = new Map();
    this.closed = false;
    FakeES.all.push(this);
  }
  addEventListener(type, f) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(f);
  }
  removeEventListener(type, f) {
    this.listeners.get(type)?.delete(f);
  }
  close() { this.readyState = 2; this.closed = true; }
  open() { this.readyState = 1; this.onopen?.({}); }
  fail(closed = false) { this.readyState = closed ? 2 : 0; this.onerror?.({}); }
  order(id, data) { this.onmessage?.({ type: 'message', data: JSON.stringify(data), lastEventId: String(id) }); }
  emit(kind, id, data) {
    for (const f of this.listeners.get(kind) || []) f({ type: kind, data: JSON.stringify(data), lastEventId: String(id) });
  }
  listenerCount() { let n = 0; for (const s of this.listeners.values()) n += s.size; return n; }
}

function fakeTimers(clock) {
  let seq = 0;
  const due = new Map();
  return {
    setTimeout: (f, ms) => { const id = ++seq; due.set(id, { at: clock.now + ms, f }); return id; },
    clearTimeout: (id) => due.delete(id),
    setInterval: (f, ms) => { const id = ++seq; due.set(id, { at: clock.now + ms, f, every: ms }); return id; },
    clearInterval: (id) => due.delete(id),
    advance(ms) {
      const end = clock.now + ms;
      for (;;) {
        let next = null;
        for (const [id, t] of due) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
        if (!next) break;
        const [id, t] = next;
        clock.now = t.at;
        if (t.every) t.at += t.every; else due.delete(id);
        t.f();
      }
      clock.now = end;
    },
  };
}

const flush = async () => { for (let i = 0; i < 10; i++) await Promise.resolve(); };

function setup(snaps) {
  FakeES.all = [];
  const clock = { now: Date.parse('2026-12-02T10:30:00.000Z') };
  const timers = fakeTimers(clock);
  const board = new Board();
  const log = { states: [], news: [], snapshots: 0 };
  const api = { snapshot: async () => { log.snapshots += 1; const s = snaps.shift(); if (s instanceof Error) throw s; return s; } };
  const conn = new Connection({
    api, board, EventSource: FakeES, now: () => clock.now, timers,
    hooks: { onState: (s) => log.states.push(s), onNewOrders: (ids) => log.news.push(...ids) },
  });
  return { conn, board, clock, timers, log };
}

test('connection: snapshot first, then the stream from its last event id; LIVE on open', async () => {
  const { conn, board, log } = setup([snapshot([ticket(1)], 100)]);
  await conn.start();
  assertEqual(board.size, 1);
  assertEqual(FakeES.all.length, 1);
  assertEqual(FakeES.all[0].url, '/orders/events?last_event_id=100');
  assertEqual(conn.state, 'reconnecting');
  FakeES.all[0].open();
  assertEqual(conn.state, 'live');
  FakeES.all[0].order(101, orderData(2));
  assertEqual(board.size, 2);
  assertEqual(board.lastEventId, 101);
  assertDeepEqual(log.news, ['order-2']);
  FakeES.all[0].emit('order_handed_over', 102, change(102, 'order_handed_over', { handed_over: ['order-1'] }));
  assertDeepEqual(board.openIds(), ['order-2']);
  conn.stop();
});

test('connection: an error shows RECONNECTING at once, OFFLINE after the threshold', async () => {
  const { conn, timers } = setup([snapshot([], 5)]);
  await conn.start();
  const es = FakeES.all[0];
  es.open();
  es.fail();
  assertEqual(conn.state, 'reconnecting');
  timers.advance(4000);
  assertEqual(conn.state, 'reconnecting');
  timers.advance(8000);
  assertEqual(conn.state, 'offline');
  assert(conn.downSince > 0, 'since when');
  conn.stop();
});

test('connection: after the browser reconnects, a fresh snapshot rebuilds the board and the replay is kept', async () => {
  const { conn, board, log } = setup([snapshot([ticket(1), ticket(2)], 100), snapshot([ticket(2), ticket(3)], 103)]);
  await conn.start();
  const es = FakeES.all[0];
  es.open();
  es.fail(); // the browser retries by itself (readyState CONNECTING) with Last-Event-ID
  es.open();
  // The replay arrives before the snapshot answer: an order above the snapshot's last_event_id.
  es.order(104, orderData(4));
  await flush();
  assertEqual(log.snapshots, 2);
  assertDeepEqual(board.openIds(), ['order-2', 'order-3', 'order-4']);
  assertEqual(board.lastEventId, 104);
  assertEqual(conn.state, 'live');
  assertEqual(FakeES.all.length, 1, 'the browser\'s connection is kept');
  assert(log.news.includes('order-3'), 'a missed order is flagged as new');
  conn.stop();
});

test('connection: a CLOSED EventSource is replaced after a backoff, from the last applied id', async () => {
  const { conn, board, timers } = setup([snapshot([], 100), snapshot([], 101)]);
  await conn.start();
  const first = FakeES.all[0];
  first.open();
  first.order(101, orderData(1));
  first.fail(true);
  assertEqual(first.closed, true);
  assertEqual(first.listenerCount(), 0, 'listeners removed from the old connection');
  assertEqual(FakeES.all.length, 1, 'not at once');
  timers.advance(1300);
  assertEqual(FakeES.all.length, 2);
  assertEqual(FakeES.all[1].url, '/orders/events?last_event_id=101');
  FakeES.all[1].open();
  await flush();
  assertEqual(conn.state, 'live');
  assertEqual(board.lastEventId, 101);
  conn.stop();
});

test('connection: event reset rebuilds from a snapshot and replays from its last event id', async () => {
  const { conn, board } = setup([snapshot([ticket(1)], 100), snapshot([ticket(5)], 40)]);
  await conn.start();
  FakeES.all[0].open();
  FakeES.all[0].emit('reset', 0, {});
  await flush();
  assertDeepEqual(board.openIds(), ['order-5']);
  assertEqual(FakeES.all.length, 2);
  assertEqual(FakeES.all[1].url, '/orders/events?last_event_id=40');
  assertEqual(FakeES.all[0].closed, true);
  conn.stop();
});

test('connection: the periodic check repairs a board that differs from the server', async () => {
  const { conn, board, timers } = setup([snapshot([ticket(1)], 100), snapshot([ticket(1), ticket(2)], 100)]);
  await conn.start();
  FakeES.all[0].open();
  FakeES.all[0].order(90, orderData(9)); // already reflected (<= 100): skipped
  assertEqual(board.size, 1);
  timers.advance(60_000);
  await flush();
  assertDeepEqual(board.openIds(), ['order-1', 'order-2']);
  assertEqual(conn.stats.repairs, 1);
  conn.stop();
});

test('connection: a silent stream while the server moved on is replaced', async () => {
  const { conn, timers } = setup([snapshot([], 100), snapshot([ticket(1)], 110)]);
  await conn.start();
  FakeES.all[0].open();
  timers.advance(60_000);
  await flush();
  assertEqual(FakeES.all.length, 2, 'a new connection');
  assertEqual(FakeES.all[1].url, '/orders/events?last_event_id=110');
  conn.stop();
});

test('connection: the first snapshot is retried until it loads', async () => {
  const { conn, board, timers } = setup([new Error('down'), snapshot([ticket(1)], 7)]);
  const started = conn.start();
  await flush();
  assertEqual(board.size, 0);
  timers.advance(1300);
  await started;
  assertEqual(board.size, 1);
  assertEqual(FakeES.all[0].url, '/orders/events?last_event_id=7');
  conn.stop();
});
