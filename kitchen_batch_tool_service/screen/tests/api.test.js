import { test, assert, assertEqual, assertDeepEqual, assertRejects } from './harness.js';
import { Api } from '../js/api.js';

function fakeFetch(answers) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, method: init.method, headers: init.headers, body: init.body });
    const a = answers.shift();
    if (a instanceof Error) throw a;
    return { status: a.status, ok: a.status >= 200 && a.status < 300, text: async () => JSON.stringify(a.body ?? null) };
  };
  return { fn, calls };
}

let n = 0;
const uuid = () => `key-${++n}`;
const noSleep = async () => {};

test('api: a change keeps its Idempotency-Key across retries (network error, 503)', async () => {
  const f = fakeFetch([new TypeError('failed to fetch'), { status: 503, body: { error: 'db' } }, { status: 200, body: { change: { event_id: 9 } } }]);
  const api = new Api({ fetch: f.fn, uuid, sleep: noSleep });
  const res = await api.bumpBatch('Grill Station', 'Classic Burger');
  assertEqual(res.change.event_id, 9);
  assertEqual(f.calls.length, 3);
  const keys = f.calls.map((c) => c.headers['Idempotency-Key']);
  assert(keys[0] && keys.every((k) => k === keys[0]), `same key: ${keys}`);
  assertEqual(f.calls[0].url, '/api/batches/bump');
  assertEqual(f.calls[0].method, 'POST');
  assertDeepEqual(JSON.parse(f.calls[0].body), { station: 'Grill Station', item: 'Classic Burger' });
});

test('api: a new action gets a new key; 4xx is not retried', async () => {
  const f = fakeFetch([{ status: 200, body: { change: null, message: 'already done' } }, { status: 409, body: { error: 'handed over' } }]);
  const api = new Api({ fetch: f.fn, uuid, sleep: noSleep });
  const first = await api.bumpItem('o/1', 2);
  assertEqual(first.message, 'already done');
  const err = await assertRejects(() => api.bumpOrder('o1', 'Grill Station'));
  assertEqual(err.status, 409);
  assertEqual(err.message, 'handed over');
  assertEqual(f.calls.length, 2);
  assert(f.calls[0].headers['Idempotency-Key'] !== f.calls[1].headers['Idempotency-Key'], 'distinct keys');
  assertEqual(f.calls[0].url, '/api/orders/o%2F1/items/2/bump');
  assertDeepEqual(JSON.parse(f.calls[1].body), { station: 'Grill Station' });
});

test('api: recall bodies and paths follow the view', async () => {
  const f = fakeFetch(new Array(6).fill(0).map(() => ({ status: 200, body: { change: null, tickets: [] } })));
  const api = new Api({ fetch: f.fn, uuid, sleep: noSleep });
  await api.recallOrder('o1', { view: 'station', station: 'Fryer Station' });
  await api.recallOrder('o1', { view: 'expo', station: null });
  await api.recallOrder('o1', { view: 'all', station: null });
  await api.recall({ view: 'station', station: 'Fryer Station' });
  await api.recall({ view: 'expo', station: null });
  await api.undo(77);
  assertDeepEqual(f.calls.slice(0, 3).map((c) => JSON.parse(c.body)), [{ station: 'Fryer Station' }, { expo: true }, {}]);
  assertDeepEqual(f.calls.slice(3).map((c) => c.url), ['/api/recall?station=Fryer%20Station', '/api/recall?view=expo', '/api/changes/77/undo']);
});

test('api: retries run out with the last error', async () => {
  const f = fakeFetch([{ status: 503, body: { error: 'db down' } }, { status: 503, body: { error: 'db down' } }]);
  const api = new Api({ fetch: f.fn, uuid, sleep: noSleep, retries: 1 });
  const err = await assertRejects(() => api.handOver('o1'));
  assertEqual(err.status, 503);
  assertEqual(f.calls.length, 2);
});
