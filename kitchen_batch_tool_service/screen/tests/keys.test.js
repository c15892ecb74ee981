import { test, assertEqual, assertDeepEqual } from './harness.js';
import { keyAction } from '../js/keys.js';

test('keys: a bump bar maps to actions', () => {
  assertDeepEqual(keyAction({ key: 'ArrowRight' }), { type: 'move', dx: 1, dy: 0 });
  assertDeepEqual(keyAction({ key: 'ArrowUp' }), { type: 'move', dx: 0, dy: -1 });
  assertDeepEqual(keyAction({ key: 'Enter' }), { type: 'bump' });
  assertDeepEqual(keyAction({ key: 'Backspace' }), { type: 'recall' });
  assertDeepEqual(keyAction({ key: 'r' }), { type: 'recall' });
  assertDeepEqual(keyAction({ key: 'R' }), { type: 'recall' });
  assertDeepEqual(keyAction({ key: '7' }), { type: 'pick', n: 7 });
  assertEqual(keyAction({ key: '0' }), null);
  assertEqual(keyAction({ key: 'r', ctrlKey: true }), null, 'ctrl+R stays the browser reload');
  assertEqual(keyAction({ key: 'x' }), null);
});
