import { test, assertEqual, assertDeepEqual } from './harness.js';
import { ageSeconds, formatAge, ageLevel, levelLabel, agingInfo, clockText } from '../js/aging.js';

const AGING = { warn_after_secs: 300, late_after_secs: 480 };
const T0 = Date.parse('2026-12-02T10:00:00.000Z');

test('aging: seconds from received_at, corrected by the server clock offset', () => {
  assertEqual(ageSeconds(T0, T0 + 61_900, 0), 61);
  // The local clock is 30 s behind the server: offset +30 s.
  assertEqual(ageSeconds(T0, T0 + 10_000, 30_000), 40);
  // The local clock is ahead: a fresh ticket is never negative.
  assertEqual(ageSeconds(T0, T0, -5_000), 0);
  assertEqual(ageSeconds(NaN, T0, 0), 0);
});

test('aging: text is m:ss, minutes keep counting', () => {
  assertEqual(formatAge(0), '0:00');
  assertEqual(formatAge(9), '0:09');
  assertEqual(formatAge(462), '7:42');
  assertEqual(formatAge(3725), '62:05');
});

test('aging: levels at the thresholds', () => {
  assertEqual(ageLevel(299, AGING), 'ok');
  assertEqual(ageLevel(300, AGING), 'warn');
  assertEqual(ageLevel(479, AGING), 'warn');
  assertEqual(ageLevel(480, AGING), 'late');
  assertEqual(ageLevel(100, { warn_after_secs: 60, late_after_secs: 90 }), 'late', 'thresholds come from the snapshot');
  assertEqual(ageLevel(400, undefined), 'warn', 'defaults without aging');
});

test('aging: text labels so that colour is never the only signal', () => {
  assertEqual(levelLabel('ok'), '');
  assertEqual(levelLabel('warn'), 'WAIT');
  assertEqual(levelLabel('late'), 'LATE');
});

test('aging: agingInfo puts it together', () => {
  const a = agingInfo(T0, T0 + 500_000, 0, AGING);
  assertDeepEqual({ secs: a.secs, text: a.text, level: a.level, label: a.label }, { secs: 500, text: '8:20', level: 'late', label: 'LATE' });
  assertEqual(agingInfo(T0, T0 + 310_000, 0, AGING).label, 'WAIT');
});

test('aging: clock text is HH:MM local', () => {
  const d = new Date(2026, 11, 2, 9, 5, 0);
  assertEqual(clockText(d.getTime()), '09:05');
});
