// Every test module (relative to this folder): the browser runner and the node runner import these.
export const modules = [
  './state.test.js',
  './aging.test.js',
  './charts.test.js',
  './layout.test.js',
  './keys.test.js',
  './api.test.js',
  './connection.test.js',
];
