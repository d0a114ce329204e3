// The bytes a first visit to each page transfers, for bench/footprint/run.sh: Chromium with an
// empty cache loads the page and everything it pulls in (stylesheet, script, wasm, the chunks of
// a split page, server function answers) until the network has been quiet for a second. Sizes
// come from the DevTools protocol: what crossed the wire (headers and bodies, as encoded) and the
// bodies once decoded. The live stream a dashboard page opens runs on; it is left out.
//
// node transfer.mjs BASE_URL USER PASSWORD TOPIC STATUS_SLUG
// prints one Markdown table row per page.

import { createRequire } from 'node:module';
import path from 'node:path';

const [base, user, password, topic, slug] = process.argv.slice(2);
if (!slug) {
  console.error('usage: node transfer.mjs BASE_URL USER PASSWORD TOPIC STATUS_SLUG');
  process.exit(2);
}

// playwright-core as the browser tests have it (end2end/node_modules), else from the tools.
const repo = path.resolve(import.meta.dirname, '..', '..');
const tools = process.env.LOOKOUT_TOOLS ?? '/var/cache/lookout-tools';
function playwright() {
  for (const dir of [path.join(repo, 'end2end'), tools]) {
    try {
      return createRequire(path.join(dir, 'package.json'))('playwright-core');
    } catch {
      // not installed there
    }
  }
  throw new Error('playwright-core is missing: run npm ci in end2end/');
}
const { chromium } = playwright();

const LIVE = '/api/live';
const QUIET_MS = 1000;
const PATIENCE_MS = 30_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

/** Loads `pagePath` in a fresh context (nothing cached), signed in first if `signedIn`. */
async function visit(pagePath, signedIn) {
  const context = await browser.newContext({ extraHTTPHeaders: { 'Accept-Encoding': 'br, gzip' } });
  if (signedIn) {
    // Through the API, which shares the context's cookies but not its cache: the page's files
    // are still fetched for the first time below.
    const response = await context.request.post(`${base}/login`, {
      form: { name: user, password, next: '/' },
      headers: { Origin: base },
      maxRedirects: 0,
    });
    if (response.status() !== 303) throw new Error(`logging in: ${response.status()}`);
  }
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const requests = new Map();
  let lastActivity = Date.now();
  const entry = (id) => {
    if (!requests.has(id)) requests.set(id, { url: '', encoded: 0, decoded: 0, done: false });
    return requests.get(id);
  };
  const acceptEncodings = new Set();
  cdp.on('Network.requestWillBeSent', (event) => {
    entry(event.requestId).url = event.request.url;
    lastActivity = Date.now();
  });
  cdp.on('Network.requestWillBeSentExtraInfo', (event) => {
    const sent = Object.entries(event.headers).find(([name]) => name.toLowerCase() === 'accept-encoding');
    if (sent) acceptEncodings.add(sent[1]);
  });
  cdp.on('Network.responseReceived', (event) => {
    const request = entry(event.requestId);
    request.encoding = event.response.headers['content-encoding'] ?? event.response.headers['Content-Encoding'] ?? '';
  });
  cdp.on('Network.dataReceived', (event) => {
    entry(event.requestId).decoded += event.dataLength;
  });
  cdp.on('Network.loadingFinished', (event) => {
    const request = entry(event.requestId);
    request.encoded = event.encodedDataLength;
    request.done = true;
    lastActivity = Date.now();
  });

  const response = await page.goto(`${base}${pagePath}`, { waitUntil: 'load' });
  if (response.status() !== 200) throw new Error(`${pagePath}: ${response.status()}`);
  // A dashboard page is done once hydrated and the requests that follows have ended.
  if (await page.$('[data-hydrated]')) {
    await page.waitForSelector('[data-hydrated="true"]', { timeout: PATIENCE_MS });
  }
  const deadline = Date.now() + PATIENCE_MS;
  const pending = () =>
    [...requests.values()].some((request) => !request.done && !new URL(request.url || base).pathname.startsWith(LIVE));
  while ((pending() || Date.now() - lastActivity < QUIET_MS) && Date.now() < deadline) {
    await page.waitForTimeout(100);
  }
  const loaded = [...requests.values()].filter((request) => request.done);
  await context.close();
  return { loaded, acceptEncodings };
}

const kb = (bytes) => `${(bytes / 1e3).toFixed(0)} KB`;
const sum = (list, field) => list.reduce((total, item) => total + item[field], 0);

const pages = [
  ['login', '/login', false],
  ['overview', '/', true],
  [`topic (\`${topic}\`)`, `/topic/${topic}`, true],
  [`public status page (\`/status/${slug}\`)`, `/status/${slug}`, false],
];
const sent = new Set();
for (const [name, pagePath, signedIn] of pages) {
  const { loaded, acceptEncodings } = await visit(pagePath, signedIn);
  acceptEncodings.forEach((value) => sent.add(value));
  const wasm = loaded.filter((request) => new URL(request.url).pathname.endsWith('.wasm'));
  const compressed = loaded.filter((request) => request.encoding).length;
  console.log(
    `| ${name} | ${loaded.length} (${compressed} compressed) | ${kb(sum(loaded, 'encoded'))} | ` +
      `${wasm.length ? kb(sum(wasm, 'encoded')) : '–'} | ${kb(sum(loaded, 'decoded'))} |`,
  );
}
await browser.close();
if ([...sent].some((value) => !/\bbr\b/.test(value))) {
  throw new Error(`Chromium did not send the Accept-Encoding asked for: ${[...sent].join(' / ')}`);
}
