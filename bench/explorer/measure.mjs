// Drives Debian's Chromium on Lookout's topic explorer (/topics) and measures inside the page, in
// five steps: idle and with the load generator publishing; with every level open and publishing;
// with every level open and the view scrolling, idle and publishing. Run by run.sh, which starts everything this talks to and passes it in
// BENCH_* variables; writes its measurements as JSON to the path given.

import { readFileSync, writeFileSync } from 'node:fs';
import { launchChromium, logIn, collectErrors } from '../../end2end/tests/support.mjs';
import { cpuShares, cpuTicks, mqttPublisher, nowUs, publishLoad, sleep, waitForQuiet } from '../common/browser.mjs';

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set (run.sh sets it)`);
  return value;
};
const url = env('BENCH_URL');
const topics = Number(env('BENCH_TOPICS'));
const groups = Number(env('BENCH_GROUPS'));
const rate = Number(env('BENCH_RATE'));
const secs = Number(env('BENCH_SECS'));
const scrollPxPerS = Number(env('BENCH_SCROLL_PX_S'));
const mqttPort = Number(env('BENCH_MQTT_PORT'));
const out = process.argv[2];

// Marker messages carry sequence numbers from here on, so the page tells them from the load.
const MARKER_BASE = 900_000_000_000_000;
const MARKER_TOPIC = 'bench/_marker';
// One marker every this long, the first half a period into a step.
const MARKER_EVERY_MS = 2000;
// Toggle probes (a real click on a level's toggle, then another one back) at these fractions of
// a step.
const PROBES_AT = [0.25, 0.6];
const PROBE_PAIR_GAP_MS = 1500;


/** Runs in the page: records frames, long tasks, value latencies, clicks and the stream. */
function pageInstruments() {
  // Wrapped before the page's wasm opens its stream, to count what the stream delivers.
  const Original = window.EventSource;
  const stream = { messages: 0, resyncs: 0, opened: 0 };
  // Per marker: how long after its publish the page received it.
  const received = new Map();
  const MARKER_IN_EVENT = /\\"seq\\":(\d+),\\"sent_us\\":(\d+)/;
  window.EventSource = class extends Original {
    constructor(...args) {
      super(...args);
      stream.opened += 1;
      this.addEventListener('message', (event) => {
        stream.messages += 1;
        if (event.data.includes('bench/_marker')) {
          const match = MARKER_IN_EVENT.exec(event.data);
          if (match) received.set(match[1], (Date.now() * 1000 - Number(match[2])) / 1000);
        }
      });
      this.addEventListener('resync', () => (stream.resyncs += 1));
    }
  };
  const VALUE = /"seq":(\d+),"sent_us":(\d+)/;
  const seen = new Set();
  let step = null;
  let scroll = null;

  const afterFrame = (callback) =>
    requestAnimationFrame(() => {
      // The frame this rAF belongs to is committed once the task that runs the callbacks ends.
      const channel = new MessageChannel();
      channel.port1.onmessage = () => callback(performance.now());
      channel.port2.postMessage(0);
    });

  // How long the main thread stays taken after a frame begins: a message posted from a frame
  // callback is handled after the frame's style, layout and paint (the same task) and after
  // whatever tasks were queued ahead of it, such as the stream's events.
  const frameEnd = new MessageChannel();
  let frameStart = null;
  frameEnd.port1.onmessage = () => {
    if (step && frameStart !== null) step.frameWork.push(performance.now() - frameStart);
    frameStart = null;
  };
  let loop = 0;
  function onFrame(time, generation) {
    if (!step || generation !== loop) return;
    step.frames.push(time);
    frameStart = time;
    frameEnd.port2.postMessage(0);
    if (step.frames.length % 30 === 0) {
      const rows = document.querySelectorAll('.explorer-row').length;
      step.rowsMax = Math.max(step.rowsMax, rows);
    }
    if (scroll && !scroll.paused) {
      const box = document.querySelector('.explorer-rows');
      const elapsed = (time - scroll.since) / 1000;
      box.scrollTop = (scroll.from + elapsed * scroll.pxPerS) % Math.max(1, box.scrollHeight - box.clientHeight);
    }
    requestAnimationFrame((next) => onFrame(next, generation));
  }

  const longTasks = new PerformanceObserver((list) => {
    if (step) for (const entry of list.getEntries()) step.longTasks.push(entry.duration);
  });

  // Frames over 50 ms, with the scripts that ran in them (Long Animation Frames API).
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

  // A value shown in a row that was already drawn: how long since it was published.
  const values = new MutationObserver((records) => {
    const at = Date.now() * 1000;
    const fresh = new Set();
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        for (const row of node.matches('.explorer-row') ? [node] : node.querySelectorAll('.explorer-row')) {
          fresh.add(row);
          // What a newly drawn row shows is old news.
          const match = VALUE.exec(row.querySelector('.value')?.textContent ?? '');
          if (match) seen.add(match[1]);
        }
      }
    }
    for (const record of records) {
      const element = record.target.nodeType === 1 ? record.target : record.target.parentElement;
      const row = element?.closest('.explorer-row');
      if (!row || fresh.has(row)) continue;
      const match = VALUE.exec(row.querySelector('.value')?.textContent ?? '');
      if (!match || seen.has(match[1])) continue;
      seen.add(match[1]);
      if (step) {
        const marker = Number(match[1]) >= window.__benchMarkerBase;
        step.latencies.push({ ms: (at - Number(match[2])) / 1000, marker, receivedMs: marker ? received.get(match[1]) : undefined });
      }
    }
  });

  // A click on a level's toggle: from the press (its input event's time) to the end of the
  // first frame showing the level opened or closed.
  let pressedAt = null;
  document.addEventListener('mousedown', (event) => (pressedAt = event.timeStamp), true);
  document.addEventListener(
    'click',
    (event) => {
      const row = event.target.closest?.('.explorer-row');
      if (!row || !step) return;
      const path = row.dataset.path;
      const before = row.getAttribute('aria-expanded');
      const input = pressedAt ?? event.timeStamp;
      pressedAt = null;
      // How long the click itself waited for the page's main thread.
      const probe = { path, from: before, ms: null, clickWaitedMs: performance.now() - event.timeStamp };
      step.clicks.push(probe);
      const check = () => {
        const now = document.querySelector(`.explorer-row[data-path="${CSS.escape(path)}"]`);
        if (now && now.getAttribute('aria-expanded') !== before) {
          afterFrame((end) => (probe.ms = end - input));
        } else if (performance.now() - input < 5000) {
          requestAnimationFrame(check);
        }
      };
      requestAnimationFrame(check);
    },
    true,
  );

  window.__bench = {
    stream,
    start({ scrolling, pxPerS }) {
      step = { frames: [], frameWork: [], longTasks: [], longFrames: [], latencies: [], clicks: [], rowsMax: 0, startedAt: performance.now() };
      const box = document.querySelector('.explorer-rows');
      if (scrolling) box.scrollTop = 0;
      scroll = scrolling ? { from: 0, since: performance.now(), pxPerS, paused: false } : null;
      longTasks.observe({ type: 'longtask' });
      // What is shown already is old news too.
      for (const value of document.querySelectorAll('.explorer-row .value')) {
        const match = VALUE.exec(value.textContent);
        if (match) seen.add(match[1]);
      }
      values.observe(document.querySelector('.explorer-window'), { childList: true, characterData: true, subtree: true });
      longFrames.observe({ type: 'long-animation-frame' });
      loop += 1;
      const generation = loop;
      requestAnimationFrame((time) => onFrame(time, generation));
    },
    stop() {
      const result = { ...step, durationMs: performance.now() - step.startedAt };
      result.rowsEnd = document.querySelectorAll('.explorer-row').length;
      result.elementsEnd = document.getElementsByTagName('*').length;
      step = null;
      scroll = null;
      longTasks.disconnect();
      longFrames.disconnect();
      values.disconnect();
      return result;
    },
    // Stops the scrolling and brings a level with a toggle into the middle of the view; returns
    // where to click.
    async probeTarget() {
      const box = document.querySelector('.explorer-rows');
      if (scroll) scroll.paused = true;
      const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
      const view = box.getBoundingClientRect();
      for (let tries = 0; tries < 50; tries++) {
        await frame();
        await frame();
        const target = [...box.querySelectorAll('.explorer-row:not(.depth-0) button.toggle')].find((button) => {
          const rect = button.getBoundingClientRect();
          return rect.top >= view.top + 30 && rect.bottom <= view.bottom - 30;
        });
        if (target) {
          const rect = target.getBoundingClientRect();
          return { x: rect.left + rect.width / 2, y: rect.top + rect.height / 2, path: target.closest('.explorer-row').dataset.path };
        }
        box.scrollTop += box.clientHeight - 60;
      }
      throw new Error('no level with a toggle came into view');
    },
    resumeScroll() {
      if (!scroll) return;
      const box = document.querySelector('.explorer-rows');
      scroll = { ...scroll, from: box.scrollTop, since: performance.now(), paused: false };
    },
    // Opens every closed level: from the bottom up, so that what opens only moves rows below.
    async expandAll() {
      const box = document.querySelector('.explorer-rows');
      const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
      box.scrollTop = box.scrollHeight;
      for (;;) {
        await frame();
        await frame();
        const closed = [...box.querySelectorAll('.explorer-row[aria-expanded="false"] button.toggle')];
        for (const button of closed.reverse()) {
          button.click();
          await frame();
        }
        if (box.scrollTop === 0 && closed.length === 0) break;
        if (closed.length === 0) box.scrollTop = Math.max(0, box.scrollTop - box.clientHeight);
      }
      box.scrollTop = 0;
      await frame();
    },
    async wasmBytes() {
      const wasm = (await import('/pkg/lookout.js')).initSync();
      return wasm.memory.buffer.byteLength;
    },
  };
}

async function heap(cdp, page) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  const m = Object.fromEntries(metrics.map(({ name, value }) => [name, value]));
  return { ...m, WasmMemory: await page.evaluate(() => window.__bench.wasmBytes()) };
}

async function main() {
  const namedPids = Object.fromEntries(env('BENCH_PIDS').split(' ').map((pair) => pair.split('=')).map(([k, v]) => [k, Number(v)]));
  const mqtt = await mqttPublisher(mqttPort, 'explorer-bench');
  let markers = 0;
  const marker = () => {
    const seq = MARKER_BASE + markers;
    markers += 1;
    mqtt.publish(MARKER_TOPIC, `{"seq":${seq},"sent_us":${nowUs()},"marker":true}`);
  };
  // The marker's topic, so that the tree has its row before the page opens.
  marker();
  await sleep(1000);

  const quiet = await waitForQuiet();
  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.addInitScript(pageInstruments);
  await page.addInitScript((base) => (window.__benchMarkerBase = base), MARKER_BASE);
  await logIn(page, url, env('BENCH_USER'), env('BENCH_PASSWORD'));
  const loadStart = Date.now();
  await page.goto(`${url}/topics`);
  await page.waitForSelector('.explorer-view[data-hydrated="true"]', { timeout: 60_000 });
  await page.waitForSelector('.live-state[data-state="live"]', { timeout: 60_000 });
  const loadMs = Date.now() - loadStart;
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const counts = () => page.locator('.explorer-counts').innerText();
  const opened = { loadMs, counts: await counts(), heap: await heap(cdp, page) };
  console.error(`bench: /topics ready in ${loadMs} ms: ${opened.counts}`);

  let seqBase = topics;
  let published = topics + markers;
  const steps = [];
  async function measure(name, { flowing, scrolling }) {
    console.error(`bench: step "${name}"`);
    const heapBefore = await heap(cdp, page);
    const cpuBefore = cpuTicks(namedPids);
    const streamBefore = await page.evaluate(() => ({ ...window.__bench.stream }));
    await page.evaluate((options) => window.__bench.start(options), { scrolling, pxPerS: scrollPxPerS });
    const started = Date.now();
    const count = flowing ? Math.round(rate * secs) : 0;
    const load = flowing
      ? publishLoad({ publisher: env('BENCH_PUBLISHER'), mqttPort, rate, count, topics, groups, seqBase })
      : null;
    seqBase += count;
    // Markers and toggle probes, in time order.
    const events = [];
    for (let at = MARKER_EVERY_MS / 2; at < secs * 1000; at += MARKER_EVERY_MS) events.push({ at, what: 'marker' });
    for (const fraction of PROBES_AT) events.push({ at: fraction * secs * 1000, what: 'probe' });
    events.sort((a, b) => a.at - b.at);
    for (const event of events) {
      const wait = started + event.at - Date.now();
      if (wait > 0) await sleep(wait);
      if (event.what === 'marker') {
        marker();
      } else {
        const target = await page.evaluate(() => window.__bench.probeTarget());
        await page.mouse.click(target.x, target.y);
        await sleep(PROBE_PAIR_GAP_MS);
        await page.mouse.click(target.x, target.y);
        await sleep(300);
        await page.evaluate(() => window.__bench.resumeScroll());
      }
    }
    const rest = started + secs * 1000 - Date.now();
    if (rest > 0) await sleep(rest);
    const result = await page.evaluate(() => window.__bench.stop());
    const elapsed = (Date.now() - started) / 1000;
    const cpuAfter = cpuTicks(namedPids);
    const loaded = load ? await load : null;
    const heapAfter = await heap(cdp, page);
    published += (loaded?.acked ?? 0) + events.filter((e) => e.what === 'marker').length;
    // How long after the step the stream had delivered everything published so far.
    const caughtUpFrom = Date.now();
    let streamAfter;
    for (;;) {
      streamAfter = await page.evaluate(() => ({ ...window.__bench.stream }));
      if (streamAfter.messages + topics + 1 >= published || Date.now() - caughtUpFrom > 30_000) break;
      await sleep(100);
    }
    steps.push({
      name,
      flowing,
      scrolling,
      elapsed,
      published: loaded,
      page: result,
      cpu: cpuShares(cpuBefore, cpuAfter, elapsed, loaded?.ticks),
      heapBefore,
      heapAfter,
      stream: {
        messages: streamAfter.messages - streamBefore.messages,
        resyncs: streamAfter.resyncs - streamBefore.resyncs,
        reopened: streamAfter.opened - streamBefore.opened,
        missing: Math.max(0, published - topics - 1 - streamAfter.messages),
        caughtUpMs: Date.now() - caughtUpFrom,
      },
      loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
      rowsText: await counts(),
    });
    await sleep(1000);
  }

  await measure('idle', { flowing: false, scrolling: false });
  await measure('flowing', { flowing: true, scrolling: false });
  console.error('bench: opening every level');
  const expandStart = Date.now();
  await page.evaluate(() => window.__bench.expandAll());
  const expanded = { ms: Date.now() - expandStart, counts: await counts() };
  console.error(`bench: ${expanded.counts}`);
  await measure('flowing, all open', { flowing: true, scrolling: false });
  await measure('idle, all open, scrolling', { flowing: false, scrolling: true });
  await measure('flowing, all open, scrolling', { flowing: true, scrolling: true });

  // The tree's own count at the root must equal what was published, stream and snapshot together.
  await page.evaluate(() => (document.querySelector('.explorer-rows').scrollTop = 0));
  await sleep(500);
  const rootCounts = await page.locator('.explorer-row[data-path="bench"] .counts').innerText();
  mqtt.close();
  const version = browser.version();
  const userAgent = await page.evaluate(() => navigator.userAgent);
  await browser.close();
  writeFileSync(out, JSON.stringify({
    topics, groups, rate, secs, scrollPxPerS, markerEveryMs: MARKER_EVERY_MS, probesAt: PROBES_AT,
    chromium: version, userAgent, quiet, opened, expanded, steps, published, rootCounts, errors,
  }, null, 1));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
