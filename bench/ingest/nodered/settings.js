// Node-RED settings for the ingest benchmark: headless, quiet, and `pg` from the benchmark's
// npm install (BENCH_NODERED_HOME) handed to function nodes as global.get('pg').
const path = require('path');
const home = process.env.BENCH_NODERED_HOME || '/var/tmp/lookout-bench-nodered';

module.exports = {
  flowFile: 'flows.json',
  flowFilePretty: true,
  credentialSecret: false,
  uiHost: '127.0.0.1',
  // No editor or admin API: nothing but the flow runs.
  disableEditor: true,
  httpAdminRoot: false,
  httpNodeRoot: false,
  functionExternalModules: false,
  functionGlobalContext: {
    pg: require(require.resolve('pg', { paths: [path.join(home, 'node_modules')] })),
  },
  logging: { console: { level: 'warn', metrics: false, audit: false } },
  telemetry: { enabled: false },
  diagnostics: { enabled: false },
  runtimeState: { enabled: false },
};
