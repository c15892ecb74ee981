// node screen/tests/run-node.mjs: the browser's test modules, under node (no npm package).
import { run } from './harness.js';
import { modules } from './modules.js';

for (const m of modules) await import(m);
const results = await run((name, err) => {
  if (err) console.log(`FAIL ${name}\n     ${err.message}`);
  else console.log(`ok   ${name}`);
});
console.log(`${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed === 0 && results.passed > 0 ? 0 : 1);
