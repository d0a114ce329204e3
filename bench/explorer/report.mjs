// Turns measure.mjs's JSON and run.sh's machine notes into bench/results/explorer.md.
//   node report.mjs explorer.json meta explorer.md

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

const quantile = (values, q) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const sum = (values) => values.reduce((a, b) => a + b, 0);
const fmt = (value, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const int = (value) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–');
const mib = (bytes) => fmt(bytes / 2 ** 20);
const pct = (share) => (Number.isFinite(share) ? `${(share * 100).toFixed(1)} %` : '–');

function summarize(step) {
  const { page } = step;
  const intervals = page.frames.slice(1).map((time, i) => time - page.frames[i]);
  const span = page.frames.length > 1 ? page.frames.at(-1) - page.frames[0] : 0;
  const missed = sum(intervals.map((ms) => Math.max(0, Math.round(ms / NOMINAL_MS) - 1)));
  const task = (name) => (step.heapAfter[name] - step.heapBefore[name]) / step.elapsed;
  const values = page.latencies.filter((l) => !l.marker).map((l) => l.ms);
  const markerEntries = page.latencies.filter((l) => l.marker);
  const markers = markerEntries.map((l) => l.ms);
  const clicks = page.clicks.map((c) => c.ms).filter((ms) => ms !== null);
  const cpu = step.cpu;
  const ours = sum(['lookout', 'mosquitto', 'postgres', 'chromium', 'publisher', 'driver'].map((k) => cpu[k] ?? 0));
  return {
    fps: intervals.length / (span / 1000),
    frameP50: quantile(intervals, 0.5),
    frameP99: quantile(intervals, 0.99),
    frameMax: Math.max(...intervals),
    dropped: span > 0 ? missed / (span / NOMINAL_MS) : NaN,
    over50: intervals.filter((ms) => ms > 50).length,
    workP50: quantile(page.frameWork, 0.5),
    workP99: quantile(page.frameWork, 0.99),
    workMax: page.frameWork.length ? Math.max(...page.frameWork) : NaN,
    longCount: page.longTasks.length,
    longMs: sum(page.longTasks),
    longMax: page.longTasks.length ? Math.max(...page.longTasks) : 0,
    busy: task('TaskDuration'),
    script: task('ScriptDuration'),
    layoutStyle: task('LayoutDuration') + task('RecalcStyleDuration'),
    markers,
    markerEntries,
    markerP50: quantile(markers, 0.5),
    markerMax: markers.length ? Math.max(...markers) : NaN,
    values,
    valueP50: quantile(values, 0.5),
    valueP99: quantile(values, 0.99),
    valueMax: values.length ? Math.max(...values) : NaN,
    clicks,
    clickMax: clicks.length ? Math.max(...clicks) : NaN,
    clicksLost: page.clicks.length - clicks.length,
    clickWaitMax: page.clicks.length ? Math.max(...page.clicks.map((c) => c.clickWaitedMs)) : NaN,
    heapStart: step.heapBefore.JSHeapUsedSize,
    heapEnd: step.heapAfter.JSHeapUsedSize,
    wasmStart: step.heapBefore.WasmMemory,
    wasmEnd: step.heapAfter.WasmMemory,
    nodes: step.heapAfter.Nodes,
    rowsEnd: page.rowsEnd,
    rowsMax: page.rowsMax,
    elements: page.elementsEnd,
    streamRate: step.stream.messages / step.elapsed,
    published: step.published,
    cpu,
    // Ticks of processes that ended within the step are lost, so this can dip a little below 0.
    others: Math.max(0, cpu.machine - ours),
  };
}

const steps = data.steps.map((step) => ({ ...step, s: summarize(step) }));
const step = (name) => steps.find((candidate) => candidate.name === name);
const idle = step('idle');
const flowing = step('flowing');
const open = step('flowing, all open');
const idleScroll = step('idle, all open, scrolling');
const flowingScroll = step('flowing, all open, scrolling');
const rowsOf = (s) => int(Number(/([\d,]+) rows/.exec(s.rowsText)?.[1]?.replaceAll(',', '')));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `×${fmt(a / b, 2)}` : '–');

// The table's columns: each step, and after a step the ratio to the step it is compared with.
const columns = [
  { step: idle, title: 'idle' },
  { step: flowing, title: `${int(data.rate)} msg/s` },
  { ratio: [flowing, idle], title: 'ratio to idle' },
  { step: open, title: `${int(data.rate)} msg/s, all open` },
  { ratio: [open, flowing], title: `ratio to ${int(data.rate)} msg/s` },
  { step: idleScroll, title: 'idle, all open, scrolling' },
  { step: flowingScroll, title: `${int(data.rate)} msg/s, all open, scrolling` },
  { ratio: [flowingScroll, idleScroll], title: 'ratio to idle, all open, scrolling' },
];

// One table row: a label, a cell per step, and where `value` is given the ratios.
function row(label, cell, value = null) {
  const cells = columns.map((column) => {
    if (!column.ratio) return cell(column.step.s, column.step);
    const [a, b] = column.ratio;
    return value ? ratio(value(a.s), value(b.s)) : '';
  });
  return `| ${label} | ${cells.join(' | ')} |`;
}

// Times below a millisecond can come out a hair negative: the page's clock has whole milliseconds.
const ms0 = (ms) => fmt(Math.max(0, ms), 0);
const list = (values) => values.map(ms0).join(', ') || '–';
const valueLatency = (s) =>
  s.values.length ? `${ms0(s.valueP50)} / ${ms0(s.valueP99)} / ${ms0(s.valueMax)} (${s.values.length})` : '–';
const rootExpected = data.published;
const rootShown = Number(/([\d,]+) msgs/.exec(data.rootCounts)?.[1]?.replaceAll(',', ''));

const table = [
  `| | ${columns.map((column) => column.title).join(' | ')} |`,
  `| --- |${columns.map(() => ' ---: |').join('')}`,
  row('rows in the tree', (s, step) => rowsOf(step)),
  row('frames per second', (s) => fmt(s.fps), (s) => s.fps),
  row('frame interval p50, ms', (s) => fmt(s.frameP50), (s) => s.frameP50),
  row('frame interval p99, ms', (s) => fmt(s.frameP99), (s) => s.frameP99),
  row('frame interval max, ms', (s) => fmt(s.frameMax)),
  row('frames dropped (60 Hz slots missed)', (s) => pct(s.dropped)),
  row('a task queued at a frame\'s start ran after, ms: p50 / p99 / max', (s) => `${fmt(s.workP50)} / ${fmt(s.workP99)} / ${fmt(s.workMax)}`, (s) => s.workP99),
  row('long animation frames (> 50 ms)', (s, step) => int(step.page.longFrames.length)),
  row('long tasks (> 50 ms): count', (s) => int(s.longCount)),
  row('long tasks: total ms (longest)', (s) => `${int(s.longMs)} (${int(s.longMax)})`),
  row('main thread busy (share of the step)', (s) => pct(s.busy), (s) => s.busy),
  row('… of it script', (s) => pct(s.script), (s) => s.script),
  row('… of it style and layout', (s) => pct(s.layoutStyle), (s) => s.layoutStyle),
  row('marker publish → in the tree, ms, each (of it: → received by the page)', (s) =>
    s.markerEntries.map((l) => `${ms0(l.ms)} (${l.receivedMs === undefined ? '–' : ms0(l.receivedMs)})`).join(', ') || '–'),
  row('any shown value publish → in the tree, ms: p50 / p99 / max (n)', valueLatency),
  row('click on a toggle → frame showing it, ms (each)', (s) => list(s.clicks) + (s.clicksLost ? `, ${s.clicksLost} never` : '')),
  row('stream: messages received per second', (s) => int(s.streamRate)),
  row('stream: resyncs / messages missing at the end', (s, step) => `${step.stream.resyncs} / ${int(step.stream.missing)}`),
  row('stream: caught up after the step, ms', (s, step) => int(step.stream.caughtUpMs)),
  row('JS heap used, MiB: start → end', (s) => `${mib(s.heapStart)} → ${mib(s.heapEnd)}`),
  row('wasm memory, MiB: start → end', (s) => `${mib(s.wasmStart)} → ${mib(s.wasmEnd)}`),
  row('row elements in the document: end (max sampled)', (s) => `${int(s.rowsEnd)} (${int(s.rowsMax)})`),
  row('elements in the document at the end', (s) => int(s.elements)),
  row('CPU, cores: Chromium (all its processes)', (s) => fmt(s.cpu.chromium, 2), (s) => s.cpu.chromium),
  row('CPU, cores: Lookout / Mosquitto / PostgreSQL / load generator', (s) =>
    [s.cpu.lookout, s.cpu.mosquitto, s.cpu.postgres, s.cpu.publisher ?? 0].map((c) => fmt(c, 2)).join(' / ')),
  row('CPU, cores: the whole machine (of which not this run)', (s) => `${fmt(s.cpu.machine, 2)} (${fmt(s.others, 2)})`),
  row('load average at the end', (s, step) => step.loadavg.split(' ').slice(0, 3).join(' ')),
].join('\n');

const publishedRates = steps
  .filter((step) => step.published)
  .map((step) => `${int(step.published.acked)} at ${int(step.published.rate)} msg/s`)
  .join(', ');

// Main-thread time per frame that one step takes more than another.
const perFrame = (more, less) => (more.s.busy - less.s.busy) * NOMINAL_MS;
const scriptPerFrame = (more, less) => (more.s.script - less.s.script) * NOMINAL_MS;
const f = flowing.s;
const o = open.s;
const fs = flowingScroll.s;
const clickMax = (s) => fmt(s.clickMax, 0);
const findings = [
  `With ${int(data.rate)} msg/s over ${int(data.topics)} topics the page drew ${fmt(f.fps)} frames per second ` +
    `(idle: ${fmt(idle.s.fps)}), ${pct(f.dropped)} of 60 Hz frames dropped, ${f.longCount} long tasks, ` +
    `${flowing.page.longFrames.length} long animation frames; its main thread was busy ${pct(f.busy)} of the time ` +
    `(idle: ${pct(idle.s.busy)}), ${fmt(perFrame(flowing, idle))} ms per frame for the messages.`,
  `With every level open (${rowsOf(open)} rows instead of ${rowsOf(flowing)}) and the same messages, the main thread ` +
    `was busy ${pct(o.busy)}: ${fmt(perFrame(open, flowing))} ms more per frame (script: ` +
    `${fmt(scriptPerFrame(open, flowing))} ms), ${fmt(o.fps)} frames per second, ${pct(o.dropped)} dropped, ` +
    `${o.longCount} long tasks. That is the price of the longer row list: each frame that applies messages changes ` +
    `the tree, so the explorer's \`rows\` memo rebuilds the list of all ${rowsOf(open)} open rows (a walk of every open ` +
    `node with a set lookup of its path) before the ${int(o.rowsEnd)} in view are cut from it, although messages ` +
    `only change values, never which rows there are.`,
  `Open and scrolling at ${int(data.scrollPxPerS)} px/s with the messages: ${fmt(fs.fps)} frames per second ` +
    `(without messages: ${fmt(idleScroll.s.fps)}), ${pct(fs.dropped)} dropped (${pct(idleScroll.s.dropped)}), ` +
    `longest frame interval ${fmt(fs.frameMax)} ms (${fmt(idleScroll.s.frameMax)} ms), ${fs.longCount} long tasks, ` +
    `main thread busy ${pct(fs.busy)} (${pct(idleScroll.s.busy)}).`,
  `Markers reached the tree in ${list(f.markers)} ms while messages flowed ` +
    `(idle: ${list(idle.s.markers)} ms; all open: ${list(o.markers)} ms)` +
    (fs.values.length ? `; values changing in view while scrolling: p50 ${ms0(fs.valueP50)} ms, p99 ${ms0(fs.valueP99)} ms, max ${ms0(fs.valueMax)} ms.` : '.'),
  `Clicks on a toggle showed their result within ${clickMax(f)} ms with the messages, ${clickMax(o)} ms with every ` +
    `level open, ${clickMax(fs)} ms while scrolling (idle: ${clickMax(idle.s)} ms).`,
  `The document held ${int(f.rowsEnd)} row elements whether the tree had ${rowsOf(flowing)} rows or ${rowsOf(open)} ` +
    `(at most ${int(Math.max(...steps.map((step) => step.s.rowsMax)))} sampled in any step): only the rows in view ` +
    `and ${10} above and below are drawn.`,
  `The stream delivered every message: ${steps.reduce((a, step) => a + step.stream.resyncs, 0)} resyncs, ` +
    `${int(sum(steps.map((step) => step.stream.missing)))} missing; the root of the tree counted ${int(rootShown)} messages` +
    (rootShown === rootExpected ? `, exactly the ${int(rootExpected)} published.` : ` against ${int(rootExpected)} published.`),
  `JS heap ${mib(steps[0].s.heapStart)} MiB at the first step's start, ${mib(steps.at(-1).s.heapEnd)} MiB at the last one's end; ` +
    `wasm memory ${mib(steps[0].s.wasmStart)} → ${mib(steps.at(-1).s.wasmEnd)} MiB (wasm memory only grows).`,
];

const report = `# Topic explorer benchmark

Issue 5 asks that the topic explorer (\`/topics\`) "stays responsive with 10,000+ topics at 5,000 msg/s
(render only what is visible; coalesce updates per animation frame)". This measures it in a real
Chromium against the real release build, from inside the page.

Run on ${meta.date}, Lookout ${meta.lookout_rev}, by \`bench/explorer/run.sh\` (about 3 minutes plus builds).
Before commit ba81c9c the explorer page (and the overview) came out cut short on about every second
load, whatever the number of topics: the server panicked while rendering it ("Dropped SendWrapper<T>
variable from a thread different to the one it has been created with", see server/tests/live.rs,
\`pages_following_the_stream_render_whole_on_any_worker_thread\`).

## Results

${int(data.topics)} topics under ${int(data.groups)} levels (\`bench/group-NNN/dev-NNNNN\`), ${int(data.secs)} s per step;
published by the load generator: ${publishedRates}. The tree opened in ${int(data.opened.loadMs)} ms
(navigation to hydrated and live: ${data.opened.counts}); opening all ${int(data.groups)} levels took
${int(data.expanded.ms)} ms of scripted clicks.

${table}

Ratios: each step with messages against the same view without them, and the tree with every level
open against the same messages with the levels closed.

## Findings

${findings.map((line) => `- ${line}`).join('\n')}
${data.errors.length ? `\nThe page reported errors: ${data.errors.map((e) => `\`${e}\``).join(', ')}.\n` : ''}
## Method

- **System**: a private PostgreSQL ${meta.postgres} (default durability) and Mosquitto ${meta.mosquitto}
  on their own ports, \`lookout serve\` built with \`cargo build --release\` from \`git archive\` of the
  commit, its site (wasm, js, css) with \`cargo leptos build --release --frontend-only\`
  (${int(Number(meta.wasm_bytes) / 1024)} KiB of wasm). A viewer logs in through the login form.
- **Topics**: \`ingest-bench publish\` (bench/ingest) publishes each of the ${int(data.topics)} topics once,
  at QoS 1, payloads of about 200 bytes of JSON that begin \`{"seq":N,"sent_us":T,…\`; the page
  opens once Lookout has stored them all. The tree has one root, \`bench\`, which opens by itself
  (three roots or fewer do), holding ${int(data.groups)} closed levels and the marker topic.
- **Steps**, ${int(data.secs)} s each, in this order: (1) idle: no load, only the markers; (2) the load
  generator publishing ${int(data.rate)} msg/s round-robin over all topics (each topic every
  ${fmt(data.topics / data.rate)} s); then every level is opened (scripted clicks, not measured) and
  (3) the same load with the view at the top; (4) the view scrolled by script at
  ${int(data.scrollPxPerS)} px/s (${int(data.scrollPxPerS / 30)} rows/s), no load; (5) as (4) with the load.
- **In the page** (an init script, before the page's own code): \`requestAnimationFrame\` timestamps
  give the frame intervals. A message posted from that callback is handled once the frame's style,
  layout and paint are done and any tasks queued before it (the stream's events) have run: the time
  from the frame's start to then is how long the main thread stays taken after a frame begins, an
  upper bound for what an input arriving then waits (input goes ahead of other tasks). "dropped" counts the 60 Hz slots between two frames beyond the first, over
  all slots of the step. \`PerformanceObserver\`s count \`longtask\` entries (tasks over 50 ms) and
  \`long-animation-frame\` entries (frames over 50 ms).
  Chromium's own accounting (CDP \`Performance.getMetrics\`: TaskDuration, ScriptDuration,
  LayoutDuration, RecalcStyleDuration) gives how much of the step the main thread was busy.
- **Latency**: a marker (QoS 0, topic \`bench/_marker\`, row 2 of the view) is published by the driver
  every ${fmt(data.markerEveryMs / 1000)} s with its send time in the payload; a \`MutationObserver\` on the drawn
  rows sees the new value arrive in the document and takes the difference (same machine, same clock).
  It runs inside the animation frame that applies the message, so this is publish → in the DOM of the
  frame that draws it; the page's wrapped \`EventSource\` notes when the marker arrived, which splits
  the time into server and network (publish → received) and the page (received → in the tree). Every value of the load that changes in a row already in view is timed the
  same way from its \`sent_us\` (in steps 1–2 no topic rows are in view except while a probe has a
  level open). Rows newly drawn by scrolling are not counted: they show old values. In steps 4–5
  the marker's row is scrolled away.
- **Clicks**: at ${data.probesAt.map((f) => `${Math.round(f * 100)} %`).join(' and ')} of each step, the driver
  clicks a level's toggle with a real input event (CDP \`Input.dispatchMouseEvent\` through Playwright)
  and again ${fmt(1.5)} s later to undo it; scrolling pauses around the pair. Timed from the press (the
  \`mousedown\` event's timestamp, which includes any wait for the main thread) to the end of the first
  animation frame in which the row shows its new state.
- **Memory**: \`JSHeapUsedSize\` from CDP and the wasm module's linear memory (\`memory.buffer.byteLength\`
  of the page's own wasm instance) at each step's start and end.
- **Rows**: \`.explorer-row\` elements in the document, sampled every 30 frames and at the end.
- **Stream**: the page's \`EventSource\` is wrapped to count \`message\` and \`resync\` events; after each
  step the driver waits until the page has received everything published (or 30 s). At the end the
  root row's message count is compared with all messages published.
- **CPU**: user + system ticks from \`/proc\` per process tree over the step, in cores (1.00 = one
  core busy the whole step); "not this run" is the machine's busy time less all of the run's processes.

## Machine, and what headless frame timing means

${meta.nproc} vCPUs (${meta.cpu}), ${meta.memory}, ${meta.uname}; Chromium ${data.chromium}
(Debian's, \`--headless --disable-gpu\`, the flags of end2end/tests/support.mjs), viewport 1280×800,
Node ${meta.node}, ${meta.rustc}. The cores are shared with other work on the machine (other
people's builds and benchmarks), shown in the CPU rows above; everything of this run (Chromium,
Lookout, PostgreSQL, Mosquitto, the load generator) also shares these ${meta.nproc} cores. The driver waits for
a quiet moment before it starts (other work below 0.25 cores over 3 s, for up to 5 minutes): this
run waited ${int(data.quiet.waitedS)} s and started at ${fmt(data.quiet.busyCores, 2)} cores busy; how busy the
machine was with other work during each step is in the table.

Headless Chromium has no display and so no vsync: its compositor begins a frame on a 60 Hz timer and
rasterizes in software (no GPU). The \`requestAnimationFrame\` timestamp is the frame's begin time on
that timer, so intervals come in whole periods: 16.7 ms when every tick got its frame, 33.3 ms when
the main thread was still busy at a tick and one was skipped, and so on. That is why the interval
percentiles read 16.7 or 16.8 ms: they tell whether a frame was missed, not how close to the edge a
frame came; the "task queued at a frame's start" row and the main thread's busy share show that.
What a screen would present is not measured: there is no display latency, and raster and
compositing run on the same CPU cores as the page's script (with a GPU they would not compete for
them). Compare the steps with each other.

Lookout's log had ${meta.lookout_log_errors} lines mentioning an error.
`;

writeFileSync(outPath, report);
