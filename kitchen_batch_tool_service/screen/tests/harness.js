// A tiny test harness that runs the same in the browser and under node.

const registry = [];

export function test(name, fn) {
  registry.push({ name, fn });
}

export class AssertionError extends Error {}

function show(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

export function assert(cond, message = 'assertion failed') {
  if (!cond) throw new AssertionError(message);
}

export function assertEqual(actual, expected, message = '') {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(`${message ? `${message}: ` : ''}expected ${show(expected)}, got ${show(actual)}`);
  }
}

function deepEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Set && b instanceof Set) return a.size === b.size && [...a].every((x) => b.has(x));
  if (a instanceof Map && b instanceof Map) {
    return a.size === b.size && [...a].every(([k, v]) => b.has(k) && deepEqual(v, b.get(k)));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
}

export function assertDeepEqual(actual, expected, message = '') {
  if (!deepEqual(actual, expected)) {
    throw new AssertionError(`${message ? `${message}: ` : ''}expected ${show(expected)}, got ${show(actual)}`);
  }
}

export async function assertRejects(fn, message = 'expected a rejection') {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new AssertionError(message);
}

/** Runs every registered test (in order); report(name, error|null) is called for each. */
export async function run(report = () => {}) {
  const results = { passed: 0, failed: 0, failures: [] };
  for (const { name, fn } of registry) {
    try {
      await fn();
      results.passed += 1;
      report(name, null);
    } catch (e) {
      results.failed += 1;
      const message = e && e.message ? e.message : String(e);
      results.failures.push({ name, message });
      report(name, e);
    }
  }
  return results;
}

export function count() {
  return registry.length;
}
