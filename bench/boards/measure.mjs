// Drives Debian's Chromium on a board's live view (a signed-in viewer's) and measures inside the
// page, in two steps: idle (the reference) and while the load generator publishes to the board's
// topics. Run by run.sh, which starts everything this talks to and passes it in BENCH_*
// variables; writes its measurements as JSON to the path given.

import { readFileSync, writeFileSync } from 'node:fs';
import { launchChromium, logIn, collectErrors } from '../../end2end/tests/support.mjs';
import { cpuShares, cpuTicks, mqttPublisher, nowUs, publishLoad, sleep, waitForQuiet } from '../common/browser.mjs';

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set (run.sh sets it)`);
  return value;
};
const url = env('BENCH_URL');
const slug = env('BENCH_SLUG');
const topics = Number(env('BENCH_TOPICS'));
const rate = Number(env('BENCH_RATE'));
const secs = Number(env('BENCH_SECS'));
const mqttPort = Number(env('BENCH_MQTT_PORT'));
const out = process.argv[2];

// The marker widget shows the `id` of the newest marker; its sending time stays here.
const MARKER_TOPIC = 'bench/_marker';
const MARKER_EVERY_MS = 500;

/** Runs in the page: frames, long tasks and long animation frames, the marker's changes, and
 * the JSON the page reread. */
function pageInstruments() {
  let step = null;
  let loop = 0;
  function onFrame(time, generation) {
    if (!step || generation !== loop) return;
    step.frames.push(time);
    requestAnimationFrame((next) => onFrame(next, generation));
  }
  const longTasks = new PerformanceObserver((list) => {
    if (step) for (const entry of list.getEntries()) step.longTasks.push(entry.duration);
  });
  const longFrames = new PerformanceObserver((list) => {
    if (!step) return;
    for (const entry of list.getEntries()) {
      step.longFrames.push({
        duration: entry.duration,
        blocking: entry.blockingDuration,
        scripts: entry.scripts.map((script) => ({
          invoker: script.invoker,
          source: script.sourceFunctionName || script.sourceURL,
          duration: script.duration,
        })),
      });
    }
  });
  // Every text the page changes, and when the marker's value became each marker.
  const changes = new MutationObserver((records) => {
    if (!step) return;
    const atUs = Date.now() * 1000;
    step.mutations += records.length;
    for (const record of records) {
      const element = record.target.nodeType === 1 ? record.target : record.target.parentElement;
      const value = element?.closest('[data-bench-marker] [data-value]');
      if (value) step.markers.push({ id: value.textContent.trim(), atUs });
    }
  });
  window.__bench = {
    start() {
      // (Marked, not renamed: the page's script finds each widget by its id.)
      document.querySelector('section.status-widget').dataset.benchMarker = '';
      step = { frames: [], longTasks: [], longFrames: [], markers: [], mutations: 0, startedAt: performance.now() };
      performance.clearResourceTimings();
      performance.setResourceTimingBufferSize(100_000);
      longTasks.observe({ type: 'longtask' });
      longFrames.observe({ type: 'long-animation-frame' });
      changes.observe(document.getElementById('status'), { childList: true, characterData: true, subtree: true });
      loop += 1;
      const generation = loop;
      requestAnimationFrame((time) => onFrame(time, generation));
    },
    stop() {
      const reads = performance
        .getEntriesByType('resource')
        .filter((entry) => entry.name.includes('.json'))
        .map((entry) => ({ ms: entry.duration, bytes: entry.encodedBodySize, status: entry.responseStatus }));
      const result = { ...step, reads, durationMs: performance.now() - step.startedAt };
      result.elements = document.getElementsByTagName('*').length;
      result.liveState = document.getElementById('status').dataset.liveState;
      step = null;
      longTasks.disconnect();
      longFrames.disconnect();
      changes.disconnect();
      return result;
    },
  };
}

async function main() {
  const namedPids = Object.fromEntries(env('BENCH_PIDS').split(' ').map((pair) => pair.split('=')).map(([k, v]) => [k, Number(v)]));
  const mqtt = await mqttPublisher(mqttPort, 'boards-bench');
  const sent = new Map();
  let markers = 0;
  const marker = () => {
    const id = `m-${markers}`;
    markers += 1;
    sent.set(id, nowUs());
    mqtt.publish(MARKER_TOPIC, `{"id":"${id}","sent_us":${sent.get(id)}}`);
  };
  // The marker's topic exists before the page opens, so its widget has a value.
  marker();
  await sleep(1000);

  const quiet = await waitForQuiet();
  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await logIn(await context.newPage(), url, env('BENCH_USER'), env('BENCH_PASSWORD'));
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.addInitScript(pageInstruments);
  const loadStart = Date.now();
  const response = await page.goto(`${url}/status/${slug}`);
  const htmlBytes = (await response.body()).length;
  await page.waitForSelector('main[data-live-state="live"]', { timeout: 60_000 });
  const opened = {
    loadMs: Date.now() - loadStart,
    htmlBytes,
    widgets: await page.locator('section.status-widget').count(),
  };
  console.error(`bench: board live in ${opened.loadMs} ms, ${opened.widgets} widgets`);

  let seqBase = topics;
  const steps = [];
  async function measure(name, flowing) {
    console.error(`bench: step "${name}"`);
    const cpuBefore = cpuTicks(namedPids);
    await page.evaluate(() => window.__bench.start());
    const started = Date.now();
    const count = flowing ? Math.round(rate * secs) : 0;
    const load = flowing
      ? publishLoad({ publisher: env('BENCH_PUBLISHER'), mqttPort, rate, count, topics, groups: 1, seqBase })
      : null;
    seqBase += count;
    const firstMarker = markers;
    for (let at = MARKER_EVERY_MS / 2; at < secs * 1000; at += MARKER_EVERY_MS) {
      const wait = started + at - Date.now();
      if (wait > 0) await sleep(wait);
      marker();
    }
    const rest = started + secs * 1000 - Date.now();
    if (rest > 0) await sleep(rest);
    // The last marker's time to arrive, within the step's account.
    await sleep(1000);
    const result = await page.evaluate(() => window.__bench.stop());
    const elapsed = (Date.now() - started) / 1000;
    const cpuAfter = cpuTicks(namedPids);
    const loaded = load ? await load : null;
    // Each marker of the step: how long from its publish to the page showing it (missing: shown
    // never, as a newer marker came first or the page fell behind).
    const shownAt = new Map();
    for (const { id, atUs } of result.markers) if (!shownAt.has(id)) shownAt.set(id, atUs);
    const latencies = [];
    let unseen = 0;
    for (let n = firstMarker; n < markers; n++) {
      const id = `m-${n}`;
      if (shownAt.has(id)) latencies.push((shownAt.get(id) - sent.get(id)) / 1000);
      else unseen += 1;
    }
    steps.push({
      name,
      flowing,
      elapsed,
      published: loaded,
      frames: result.frames,
      longTasks: result.longTasks,
      longFrames: result.longFrames,
      reads: result.reads,
      mutations: result.mutations,
      elements: result.elements,
      liveState: result.liveState,
      markers: { sent: markers - firstMarker, unseen, latencies },
      cpu: cpuShares(cpuBefore, cpuAfter, elapsed, loaded?.ticks),
      loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
    });
    await sleep(2000);
  }

  await measure('idle', false);
  await measure('flowing', true);
  mqtt.close();
  const version = browser.version();
  await browser.close();
  writeFileSync(out, JSON.stringify({
    topics, rate, secs, markerEveryMs: MARKER_EVERY_MS, chromium: version, quiet, opened, steps, errors,
  }, null, 1));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
