// Turns measure.mjs's JSON and run.sh's machine notes into bench/results/boards.md.
//   node report.mjs boards.json meta boards.md

import { readFileSync, writeFileSync } from 'node:fs';

const [jsonPath, metaPath, outPath] = process.argv.slice(2);
const data = JSON.parse(readFileSync(jsonPath, 'utf8'));
const meta = Object.fromEntries(
  readFileSync(metaPath, 'utf8')
    .split('\n')
    .filter((line) => line.includes('='))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);

// The frame period Chromium's headless compositor ticks at (60 Hz).
const NOMINAL_MS = 1000 / 60;
// What the issue asks: 60 fps, and no long task over 50 ms.
const LONG_TASK_MS = 50;

const quantile = (values, q) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const sum = (values) => values.reduce((a, b) => a + b, 0);
const max = (values) => (values.length ? Math.max(...values) : NaN);
const fmt = (value, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const int = (value) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–');
const pct = (share) => (Number.isFinite(share) ? `${(share * 100).toFixed(1)} %` : '–');

function summarize(step) {
  const intervals = step.frames.slice(1).map((time, i) => time - step.frames[i]);
  const span = step.frames.length > 1 ? step.frames.at(-1) - step.frames[0] : 0;
  const missed = sum(intervals.map((ms) => Math.max(0, Math.round(ms / NOMINAL_MS) - 1)));
  const reads = step.reads.filter((read) => read.status === 200);
  return {
    fps: intervals.length / (span / 1000),
    frameP99: quantile(intervals, 0.99),
    frameMax: max(intervals),
    dropped: span > 0 ? missed / (span / NOMINAL_MS) : NaN,
    longCount: step.longTasks.length,
    longMax: step.longTasks.length ? max(step.longTasks) : 0,
    longFrames: step.longFrames.length,
    readsPerS: step.reads.length / step.elapsed,
    readP50: quantile(reads.map((read) => read.ms), 0.5),
    readP99: quantile(reads.map((read) => read.ms), 0.99),
    readBytes: quantile(reads.map((read) => read.bytes), 0.5),
    mutationsPerS: step.mutations / step.elapsed,
    markerP50: quantile(step.markers.latencies, 0.5),
    markerP99: quantile(step.markers.latencies, 0.99),
    markerMax: max(step.markers.latencies),
    markersSent: step.markers.sent,
    markersUnseen: step.markers.unseen,
    rate: step.published ? step.published.acked / step.elapsed : 0,
    cpu: step.cpu,
  };
}

const [idle, flowing] = data.steps.map(summarize);
const ratio = (a, b) => (Number.isFinite(a / b) ? `×${(a / b).toFixed(2)}` : '–');
const row = (label, pick, show) =>
  `| ${label} | ${show(pick(idle))} | ${show(pick(flowing))} | ${ratio(pick(flowing), pick(idle))} |`;
const meets = flowing.fps >= 0.95 * 60 && flowing.longMax <= LONG_TASK_MS;

const scripts = new Map();
for (const frame of data.steps[1].longFrames) {
  for (const script of frame.scripts) {
    const key = `${script.invoker} ${script.source}`;
    scripts.set(key, (scripts.get(key) ?? 0) + script.duration);
  }
}
const heaviest = [...scripts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);

const lines = [
  '# Boards: a 50-widget board live in Chromium',
  '',
  `A signed-in viewer's live view of a board of ${data.opened.widgets} widgets, in Debian's headless Chromium ${data.chromium}, idle (the reference) and while ${int(data.rate)} msg/s go to the board's own ${data.topics} topics (about ${int(data.rate / data.topics)} msg/s per widget): ${meets ? 'it keeps 60 fps with no long task over 50 ms' : '**it does not keep 60 fps with no long task over 50 ms**'}.`,
  '',
  '| | idle (reference) | flowing | flowing / idle |',
  '|---|---:|---:|---:|',
  row('messages published, per s', (s) => s.rate, int),
  row('frames per s', (s) => s.fps, (v) => fmt(v)),
  row('frames dropped', (s) => s.dropped, pct),
  row('frame interval p99, ms', (s) => s.frameP99, (v) => fmt(v)),
  row('longest frame interval, ms', (s) => s.frameMax, (v) => fmt(v)),
  row('long tasks (over 50 ms)', (s) => s.longCount, int),
  row('longest long task, ms', (s) => s.longMax, (v) => fmt(v)),
  row('long animation frames', (s) => s.longFrames, int),
  row('JSON rereads per s', (s) => s.readsPerS, (v) => fmt(v)),
  row('JSON reread p50, ms', (s) => s.readP50, (v) => fmt(v)),
  row('JSON reread p99, ms', (s) => s.readP99, (v) => fmt(v)),
  row('JSON size p50, bytes compressed', (s) => s.readBytes, int),
  row('DOM changes per s', (s) => s.mutationsPerS, int),
  row('publish to screen p50, ms', (s) => s.markerP50, (v) => fmt(v)),
  row('publish to screen p99, ms', (s) => s.markerP99, (v) => fmt(v)),
  row('publish to screen max, ms', (s) => s.markerMax, (v) => fmt(v)),
  row('markers never shown', (s) => s.markersUnseen, int),
  row('Chromium CPU, cores', (s) => s.cpu.chromium, (v) => fmt(v, 2)),
  row('Lookout CPU, cores', (s) => s.cpu.lookout, (v) => fmt(v, 2)),
  row('Mosquitto CPU, cores', (s) => s.cpu.mosquitto, (v) => fmt(v, 2)),
  row('PostgreSQL CPU, cores', (s) => s.cpu.postgres, (v) => fmt(v, 2)),
  row('machine busy, cores', (s) => s.cpu.machine, (v) => fmt(v, 2)),
  '',
  `The board opened live in ${int(data.opened.loadMs)} ms (${int(data.opened.htmlBytes)} bytes of HTML). Page errors: ${data.errors.length ? data.errors.join('; ') : 'none'}. Lookout logged ${meta.lookout_log_errors} lines with "error".`,
  '',
  heaviest.length ? 'Scripts in the long animation frames while flowing (total ms):' : 'No long animation frame while flowing.',
  ...heaviest.map(([key, ms]) => `- ${key}: ${fmt(ms)}`),
  '',
  '## Method',
  '',
  `\`bench/boards/run.sh\` starts a private PostgreSQL ${meta.postgres} and Mosquitto ${meta.mosquitto}, the release Lookout (\`${meta.lookout_rev}\`) and a board stored as the editor stores one: the marker's value first, then value, status, sparkline, gauge, history and last-seen widgets in turn over ${data.topics} topics, and a table of every topic. A viewer signs in and opens the board; its script follows the board's topics on /api/live and rereads the board's JSON at most once per animation frame. Each step lasts ${data.secs} s: the page counts frames (requestAnimationFrame), long tasks and long animation frames (PerformanceObserver), DOM changes (MutationObserver) and the JSON it reread (Resource Timing). Every ${data.markerEveryMs} ms the driver publishes a marker with its send time to the marker's topic; "publish to screen" is from that publish to the DOM change showing it. The load generator (bench/ingest's \`publish\`, QoS 1) publishes round-robin over the board's topics while flowing. CPU is from /proc, per process tree. The idle step is the reference in the same run: the flowing column divided by it is the cost of the traffic.`,
  '',
  `Machine: ${meta.machine}. ${meta.rustc}; Node ${meta.node}. Waited ${fmt(data.quiet.waitedS, 0)} s for a quiet machine (${fmt(data.quiet.busyCores, 2)} cores busy then).`,
  '',
];
writeFileSync(outPath, lines.join('\n'));
