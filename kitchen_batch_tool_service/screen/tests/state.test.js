import { test, assert, assertEqual, assertDeepEqual } from './harness.js';
import {
  Board, shortId, stationShort, isReady, readyAt, onView, allDayTotals, compareTickets, normalizeTicket,
  stationStatus,
} from '../js/state.js';
import { ticket, snapshot, orderData, change, item } from './fixtures.js';

const GRILL = { view: 'station', station: 'Grill Station' };
const FRYER = { view: 'station', station: 'Fryer Station' };
const ALL = { view: 'all', station: null };
const EXPO = { view: 'expo', station: null };

const ids = (list) => list.map((t) => t.order_id);

test('state: snapshot loads open tickets, last event id, aging, server clock offset', () => {
  const b = new Board();
  const changed = b.applySnapshot(snapshot([ticket(1), ticket(2)], 42, {
    aging: { warn_after_secs: 120, late_after_secs: 240 },
  }), Date.parse('2026-12-02T10:29:58.000Z'));
  assertEqual(changed, 2);
  assertEqual(b.size, 2);
  assertEqual(b.lastEventId, 42);
  assertDeepEqual(b.aging, { warn_after_secs: 120, late_after_secs: 240 });
  assertEqual(b.serverOffsetMs, 2000, 'server is 2 s ahead');
  assertEqual(b.serverNow(1000), 3000);
});

test('state: snapshot skips handed-over tickets and keeps the board otherwise', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1), ticket(2, { handed_over: true, handed_over_at: '2026-12-02T10:00:00Z' })]));
  assertDeepEqual(b.openIds(), ['order-1']);
});

test('state: re-applying the same snapshot changes nothing (no repaint)', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1), ticket(2)]));
  b.takeDirty();
  const changed = b.applySnapshot(snapshot([ticket(1), ticket(2)]));
  assertEqual(changed, 0);
  assertEqual(b.takeDirty().size, 0);
});

test('state: a fresh snapshot removes tickets it no longer has and replaces changed ones', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1), ticket(2), ticket(3)]));
  b.takeDirty();
  const t2 = ticket(2, { items: [item(0, 'Classic Burger', 'Grill Station', 2, true), item(1, 'French Fries', 'Fryer Station', 1)] });
  const changed = b.applySnapshot(snapshot([ticket(1), t2], 120));
  assertEqual(changed, 2);
  assertDeepEqual(b.openIds(), ['order-1', 'order-2']);
  assertEqual(b.get('order-2').items[0].done, true);
  assertDeepEqual([...b.takeDirty()].sort(), ['order-2', 'order-3']);
  assertEqual(b.lastEventId, 120);
});

test('state: ordering is by timestamp, then event id, whatever the arrival order', () => {
  const b = new Board();
  const late = ticket(5, { timestamp: '2026-12-02T11:00:00.000Z' });
  const early = ticket(9, { timestamp: '2026-12-02T09:00:00.000Z' });
  const tieA = ticket(7, { timestamp: '2026-12-02T10:00:00.000Z' });
  const tieB = ticket(6, { timestamp: '2026-12-02T10:00:00.000Z' });
  b.applySnapshot(snapshot([late, tieA]));
  b.applyEvent({ id: 200, type: 'message', data: orderData(9, { timestamp: early.timestamp }) });
  b.applyEvent({ id: 201, type: 'message', data: { ...orderData(6), timestamp: tieB.timestamp } });
  // order-6 came as event 201, order-7 has event id 7: same timestamp, so 7 before 201.
  assertDeepEqual(ids(b.boardTickets(ALL)), ['order-9', 'order-7', 'order-6', 'order-5']);
  assert(compareTickets(normalizeTicket(early), normalizeTicket(late)) < 0);
});

test('state: order event builds a ticket: SSE id, positions from the index, received_at', () => {
  const b = new Board();
  b.applySnapshot(snapshot([], 10));
  assert(b.applyEvent({ id: 11, type: 'message', data: orderData(3) }));
  const t = b.get('order-3');
  assertEqual(t.event_id, 11);
  assertDeepEqual(t.items.map((i) => [i.position, i.name, i.station, i.quantity, i.done]), [
    [0, 'Classic Burger', 'Grill Station', 2, false],
    [1, 'French Fries', 'Fryer Station', 1, false],
  ]);
  assertEqual(t.received_at, orderData(3).received_at);
  assertEqual(b.lastEventId, 11);
});

test('state: order event without received_at takes the arrival time (server clock)', () => {
  const b = new Board();
  const data = orderData(4);
  delete data.received_at;
  b.applyEvent({ id: 5, type: 'message', data }, Date.parse('2026-12-02T10:20:00.000Z'));
  assertEqual(b.get('order-4').received_at, '2026-12-02T10:20:00.000Z');
  assertEqual(b.get('order-4').receivedMs, Date.parse('2026-12-02T10:20:00.000Z'));
});

test('state: a replayed order event does not reopen items already done', () => {
  const b = new Board();
  const done = ticket(1, { items: [item(0, 'Classic Burger', 'Grill Station', 2, true), item(1, 'French Fries', 'Fryer Station', 1)] });
  b.applySnapshot(snapshot([done], 0)); // snapshot reflects events beyond its last_event_id
  b.applyEvent({ id: 1, type: 'message', data: orderData(1) });
  assertEqual(b.get('order-1').items[0].done, true);
});

test('state: events at or below the last applied id are skipped', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1)], 50));
  const ch = change(40, 'order_handed_over', { handed_over: ['order-1'] });
  assertEqual(b.applyEvent({ id: 40, type: 'order_handed_over', data: ch }), false);
  assertEqual(b.size, 1);
  assertEqual(b.lastEventId, 50);
});

test('state: item bump sets lines done with done_at = at; applying it twice is harmless', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1)], 10));
  const ch = change(11, 'item_bumped', { order_id: 'order-1', station: 'Grill Station', lines: [{ order_id: 'order-1', position: 0 }] });
  assert(b.applyChange(ch), 'first application changes');
  b.takeDirty();
  assertEqual(b.applyChange(ch), false, 'second application changes nothing');
  assertEqual(b.takeDirty().size, 0);
  b.applyEvent({ id: 11, type: 'item_bumped', data: ch }); // the stream's copy
  const it = b.get('order-1').items[0];
  assertEqual(it.done, true);
  assertEqual(it.done_at, '2026-12-02T10:10:00.000Z');
  assertEqual(b.get('order-1').items[1].done, false);
});

test('state: lines of unknown tickets and positions are ignored', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1)]));
  const ch = change(11, 'batch_bumped', { lines: [{ order_id: 'nope', position: 0 }, { order_id: 'order-1', position: 9 }] });
  assertEqual(b.applyChange(ch), false);
  assertEqual(b.size, 1);
});

test('state: undo (done false) reopens lines and clears done_at', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1, { items: [item(0, 'Classic Burger', 'Grill Station', 2, true)] })]));
  b.applyChange(change(12, 'change_undone', { undoes: 11, done: false, lines: [{ order_id: 'order-1', position: 0 }] }));
  assertEqual(b.get('order-1').items[0].done, false);
  assertEqual(b.get('order-1').items[0].done_at, null);
});

test('state: hand-over removes the ticket from memory; recall (reopened) brings it back whole', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1), ticket(2)]));
  b.applyEvent({ id: 101, type: 'order_handed_over', data: change(101, 'order_handed_over', { order_id: 'order-1', handed_over: ['order-1'] }) });
  assertEqual(b.get('order-1'), undefined);
  assertEqual(b.sorted.length, 1);
  const back = ticket(1, { items: [item(0, 'Classic Burger', 'Grill Station', 2, false)] });
  b.applyEvent({ id: 102, type: 'order_recalled', data: change(102, 'order_recalled', { order_id: 'order-1', done: false, reopened: [back] }) });
  assertDeepEqual(ids(b.boardTickets(ALL)), ['order-1', 'order-2']);
  assertEqual(b.get('order-1').items.length, 1);
});

test('state: reopened ticket replaces the held one (not a duplicate) and keeps the order', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1), ticket(2), ticket(3)]));
  b.applyChange(change(103, 'order_recalled', { reopened: [ticket(2, { brand_name: 'Burger Kiosk' })] }));
  assertEqual(b.size, 3);
  assertEqual(b.sorted.length, 3);
  assertDeepEqual(ids(b.sorted), ['order-1', 'order-2', 'order-3']);
  assertEqual(b.get('order-2').brand_name, 'Burger Kiosk');
});

test('state: replaying a whole stream over a snapshot that already reflects it converges', () => {
  // Events 101..104 happened; the snapshot (last_event_id 100) already reflects all of them.
  const events = [
    { id: 101, type: 'message', data: orderData(7) },
    { id: 102, type: 'item_bumped', data: change(102, 'item_bumped', { lines: [{ order_id: 'order-7', position: 0 }] }) },
    { id: 103, type: 'message', data: orderData(8) },
    { id: 104, type: 'order_handed_over', data: change(104, 'order_handed_over', { handed_over: ['order-8'] }) },
  ];
  const live = new Board();
  live.applySnapshot(snapshot([], 100));
  for (const e of events) live.applyEvent(e);
  const snapAfter = snapshot([{ ...ticket(7), event_id: 101, items: [item(0, 'Classic Burger', 'Grill Station', 2, true, '2026-12-02T10:10:00.000Z'), item(1, 'French Fries', 'Fryer Station', 1)] }], 100);
  const rebuilt = new Board();
  rebuilt.applySnapshot(snapAfter);
  for (const e of events) rebuilt.applyEvent(e);
  for (const e of events) rebuilt.applyEvent(e); // and again: all skipped
  assertDeepEqual(rebuilt.openIds(), live.openIds());
  assertDeepEqual(rebuilt.openIds(), ['order-7']);
  assertEqual(rebuilt.get('order-7').items[0].done, true);
  assertEqual(rebuilt.get('order-7').items[1].done, false);
  assertEqual(rebuilt.lastEventId, 104);
});

test('state: station view shows tickets with open items there; done at a station leaves it', () => {
  const b = new Board();
  const t1 = ticket(1);
  const t2 = ticket(2, { items: [item(0, 'French Fries', 'Fryer Station', 3)] });
  const t3 = ticket(3, { items: [item(0, 'Classic Burger', 'Grill Station', 1, true), item(1, 'French Fries', 'Fryer Station', 1)] });
  b.applySnapshot(snapshot([t1, t2, t3]));
  assertDeepEqual(ids(b.boardTickets(GRILL)), ['order-1']);
  assertDeepEqual(ids(b.boardTickets(FRYER)), ['order-1', 'order-2', 'order-3']);
  assertDeepEqual(ids(b.boardTickets(ALL)), ['order-1', 'order-2', 'order-3']);
  b.applyChange(change(200, 'order_bumped', { lines: [{ order_id: 'order-1', position: 1 }] }));
  assertDeepEqual(ids(b.boardTickets(FRYER)), ['order-2', 'order-3']);
  assertEqual(onView(b.get('order-1'), GRILL), true);
});

test('state: all-stations board drops a ticket once all its items are done; expo gets it', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1)]));
  b.applyChange(change(200, 'order_bumped', { lines: [{ order_id: 'order-1', position: 0 }, { order_id: 'order-1', position: 1 }] }));
  assertDeepEqual(ids(b.boardTickets(ALL)), []);
  assertDeepEqual(ids(b.expoTickets().ready), ['order-1']);
});

test('state: expo orders ready tickets by when they became ready, pending after', () => {
  const b = new Board();
  const readyLate = ticket(1, { items: [item(0, 'A', 'Grill Station', 1, true, '2026-12-02T10:20:00.000Z'), item(1, 'B', 'Fryer Station', 1, true, '2026-12-02T10:09:00.000Z')] });
  const readyEarly = ticket(2, { items: [item(0, 'A', 'Grill Station', 1, true, '2026-12-02T10:15:00.000Z')] });
  const pending = ticket(3);
  b.applySnapshot(snapshot([readyLate, readyEarly, pending]));
  const { ready, pending: p } = b.expoTickets();
  assertDeepEqual(ids(ready), ['order-2', 'order-1']);
  assertDeepEqual(ids(p), ['order-3']);
  assertDeepEqual(ids(b.viewTickets(EXPO)), ['order-2', 'order-1', 'order-3']);
  assertEqual(readyAt(b.get('order-1')), Date.parse('2026-12-02T10:20:00.000Z'));
  assert(Number.isNaN(readyAt(b.get('order-3'))));
});

test('state: readiness and per-station status', () => {
  const t = normalizeTicket(ticket(1, { items: [item(0, 'A', 'Grill Station', 1, true), item(1, 'B', 'Fryer Station', 2), item(2, 'C', 'Fryer Station', 1, true)] }));
  assertEqual(isReady(t), false);
  assertDeepEqual(stationStatus(t), [
    { station: 'Fryer Station', open: 1, total: 2 },
    { station: 'Grill Station', open: 0, total: 1 },
  ]);
  assertEqual(isReady(normalizeTicket(ticket(2, { items: [] }))), false, 'no items: not ready');
  assertEqual(isReady(normalizeTicket(ticket(3, { items: [item(0, 'A', 'Grill Station', 1, true)] }))), true);
});

test('state: all-day totals sum open items per station with the brand split, sorted', () => {
  const b = new Board();
  b.applySnapshot(snapshot([
    ticket(1, { brand_name: 'Desayuna', items: [item(0, 'Classic Burger', 'Grill Station', 2), item(1, 'Hot Dog', 'Grill Station', 1)] }),
    ticket(2, { brand_name: 'Burger Kiosk', items: [item(0, 'Classic Burger', 'Grill Station', 3), item(1, 'French Fries', 'Fryer Station', 4)] }),
    ticket(3, { brand_name: 'Desayuna', items: [item(0, 'Classic Burger', 'Grill Station', 4), item(1, 'Hot Dog', 'Grill Station', 3, true)] }),
  ]));
  const all = b.allDay();
  assertDeepEqual(all, [
    { station: 'Fryer Station', items: [{ name: 'French Fries', quantity: 4, tickets: 1, brands: [{ brand_name: 'Burger Kiosk', quantity: 4 }] }] },
    { station: 'Grill Station', items: [
      { name: 'Classic Burger', quantity: 9, tickets: 3, brands: [{ brand_name: 'Desayuna', quantity: 6 }, { brand_name: 'Burger Kiosk', quantity: 3 }] },
      { name: 'Hot Dog', quantity: 1, tickets: 1, brands: [{ brand_name: 'Desayuna', quantity: 1 }] },
    ] },
  ]);
  const grill = b.allDay('Grill Station');
  assertEqual(grill.length, 1);
  assertEqual(grill[0].station, 'Grill Station');
});

test('state: all-day ties sort by name; brands with equal quantity by name', () => {
  const totals = allDayTotals([
    normalizeTicket(ticket(1, { brand_name: 'Zeta', items: [item(0, 'Wings', 'Fryer Station', 2), item(1, 'Fries', 'Fryer Station', 2)] })),
    normalizeTicket(ticket(2, { brand_name: 'Alpha', items: [item(0, 'Wings', 'Fryer Station', 2)] })),
  ]);
  assertDeepEqual(totals[0].items.map((i) => [i.name, i.quantity]), [['Wings', 4], ['Fries', 2]]);
  assertDeepEqual(totals[0].items[0].brands.map((x) => x.brand_name), ['Alpha', 'Zeta']);
});

test('state: all-day follows a batch bump at once (done items leave the totals)', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1), ticket(2)]));
  assertEqual(b.allDay('Grill Station')[0].items[0].quantity, 4);
  b.applyChange(change(300, 'batch_bumped', { station: 'Grill Station', item: 'Classic Burger', lines: [{ order_id: 'order-1', position: 0 }, { order_id: 'order-2', position: 0 }] }));
  assertDeepEqual(b.allDay('Grill Station'), []);
  assertEqual(b.allDay('Fryer Station')[0].items[0].quantity, 2);
});

test('state: stations lists every station on open tickets', () => {
  const b = new Board();
  b.applySnapshot(snapshot([ticket(1), ticket(2, { items: [item(0, 'Salad', 'Salad Station', 1)] })]));
  assertDeepEqual(b.stations(), ['Fryer Station', 'Grill Station', 'Salad Station']);
});

test('state: short ids and station names', () => {
  assertEqual(shortId({ otter_order_id: '019c52aa-1232-307c-b56d-1a3af34b458c', order_id: 'x' }), 'b458c');
  assertEqual(shortId({ otter_order_id: '', order_id: '67adcfdc15da8840bc9673bd' }), '673bd');
  assertEqual(stationShort('Grill Station'), 'Grill');
  assertEqual(stationShort('Salad'), 'Salad');
});

test('state: many tickets in and out leave no trace (bounded memory)', () => {
  const b = new Board();
  b.applySnapshot(snapshot([], 0));
  for (let n = 1; n <= 2000; n++) {
    b.applyEvent({ id: 2 * n - 1, type: 'message', data: orderData(n) });
    b.applyEvent({ id: 2 * n, type: 'order_handed_over', data: change(2 * n, 'order_handed_over', { handed_over: [`order-${n}`] }) });
  }
  assertEqual(b.size, 0);
  assertEqual(b.sorted.length, 0);
  assertEqual(b.takeDirty().size, 2000);
  assertEqual(b.takeDirty().size, 0);
});
