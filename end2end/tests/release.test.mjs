// The one file to deploy: the release binary (scripts/release.sh), copied alone into an empty
// directory and run with nothing but its settings, serves the whole site, hydrated, from the
// wasm, JavaScript and CSS inside it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { startLookout, launchChromium, collectErrors, uniqueName, logIn, publish } from './support.mjs';

const release = process.env.LOOKOUT_RELEASE_BIN;
const prefix = uniqueName('e2e');
let directory;
let lookout;
let browser;

// scripts/test.sh always builds it; a developer running these tests alone may not have.
const skip = release ? false : 'LOOKOUT_RELEASE_BIN is unset: build it with scripts/release.sh';

before(async () => {
  if (skip) return;
  directory = mkdtempSync(path.join(tmpdir(), 'lookout-release-'));
  const binary = path.join(directory, 'lookout');
  copyFileSync(release, binary);
  assert.deepEqual(readdirSync(directory), ['lookout']);
  lookout = await startLookout({ prefix, binary, cwd: directory, siteRoot: null });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await lookout?.stop();
  if (directory) rmSync(directory, { recursive: true, force: true });
});

test('the release binary alone in an empty directory serves the hydrated site', { skip }, async () => {
  const password = lookout.addUser('solo', 'admin');
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  const assets = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname.startsWith('/pkg/')) assets.push([response.url(), response.status()]);
  });
  await logIn(page, lookout.url, 'solo', password);
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 30_000 });
  assert.ok(assets.some(([url]) => url.endsWith('.wasm')), JSON.stringify(assets));
  assert.ok(assets.every(([, status]) => status === 200 || status === 304), JSON.stringify(assets));

  // A page reached through the hydrated router, not a full load. Its code is a chunk of its own
  // (app/src/lib.rs), fetched from the binary only now.
  assert.ok(!assets.some(([url]) => /split_.*users.*\.wasm$/.test(url)), JSON.stringify(assets));
  await Promise.all([page.waitForURL(/\/admin\/users$/), page.click('nav.admin-links >> text=Users')]);
  await page.waitForSelector('h1:has-text("Users")');
  await page.waitForSelector('tr[data-user="solo"] th.name');
  assert.ok(assets.some(([url]) => /split_.*users.*\.wasm$/.test(url)), JSON.stringify(assets));

  // A page whose code is split out, opened directly: the chunk is loaded before it hydrates.
  const topic = `${prefix}/release/temperature`;
  publish(topic, '21.5');
  // Asked with the session's cookies but outside the page: a 404 while it is not stored yet
  // would count as a console error there.
  for (const deadline = Date.now() + 15_000; ; ) {
    const response = await context.request.get(`${lookout.url}/topic/${topic}`);
    if (response.status() === 200) break;
    assert.ok(Date.now() < deadline, `the topic was not stored: ${response.status()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await page.goto(`${lookout.url}/topic/${topic}`);
  await page.waitForSelector('.topic-detail[data-hydrated="true"]', { timeout: 30_000 });
  assert.equal(await page.locator('.payload').innerText(), '21.5');
  assert.ok(assets.some(([url]) => /split_.*topic.*\.wasm$/.test(url)), JSON.stringify(assets));
  assert.ok(assets.every(([, status]) => status === 200 || status === 304), JSON.stringify(assets));
  assert.deepEqual(errors, []);
  await context.close();

  // Served with what a browser needs to cache it: the type, and a validator for revalidation.
  const wasm = await fetch(`${lookout.url}/pkg/lookout.wasm`);
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  const etag = wasm.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(`${lookout.url}/pkg/lookout.wasm`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  const css = await fetch(`${lookout.url}/pkg/lookout.css`);
  assert.equal(css.status, 200);
  assert.match(css.headers.get('content-type'), /^text\/css/);
  assert.equal((await fetch(`${lookout.url}/pkg/nothing-here.js`)).status, 404);
});

test('the wasm every operator loads stays within its 400 KB gzip budget', { skip }, async () => {
  // The README's goal for the main module; the pages split out of it load only when opened.
  // gzip -9, as bench/footprint measures it; a KB is 1,000 bytes there too.
  const wasm = Buffer.from(await (await fetch(`${lookout.url}/pkg/lookout.wasm`)).arrayBuffer());
  const compressed = gzipSync(wasm, { level: 9 }).length;
  assert.ok(compressed <= 400_000, `lookout.wasm is ${compressed} bytes gzipped, over the 400 KB budget`);
});

/** A GET whose body is kept as sent, not decoded (fetch would undo the Content-Encoding). */
function rawGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

test('the wasm goes out compressed at build time: brotli within 400 KB on the wire, gzip, or plain', { skip }, async () => {
  const url = `${lookout.url}/pkg/lookout.wasm`;
  const plain = await rawGet(url);
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['content-encoding'], undefined);

  const brotli = await rawGet(url, { 'Accept-Encoding': 'gzip, deflate, br' });
  assert.equal(brotli.status, 200);
  assert.equal(brotli.headers['content-encoding'], 'br');
  assert.equal(brotli.headers['content-type'], 'application/wasm');
  assert.match(brotli.headers.vary, /accept-encoding/i);
  assert.ok(brotli.body.length <= 400_000, `lookout.wasm is ${brotli.body.length} bytes on the wire, over 400 KB`);
  assert.ok(brotliDecompressSync(brotli.body).equals(plain.body));

  const gzip = await rawGet(url, { 'Accept-Encoding': 'gzip' });
  assert.equal(gzip.headers['content-encoding'], 'gzip');
  assert.ok(gunzipSync(gzip.body).equals(plain.body));
  const refused = await rawGet(url, { 'Accept-Encoding': 'br;q=0, gzip;q=0' });
  assert.equal(refused.headers['content-encoding'], undefined);
  assert.ok(refused.body.equals(plain.body));

  // Each form has its own validator, and revalidates as itself.
  const tags = [plain, brotli, gzip].map((response) => response.headers.etag);
  assert.equal(new Set(tags).size, 3, JSON.stringify(tags));
  for (const [accept, etag] of [['identity', tags[0]], ['br', tags[1]], ['gzip', tags[2]]]) {
    const again = await rawGet(url, { 'Accept-Encoding': accept, 'If-None-Match': etag });
    assert.equal(again.status, 304, accept);
    assert.equal(again.headers.etag, etag);
    assert.match(again.headers.vary, /accept-encoding/i);
  }
  assert.equal((await rawGet(url, { 'Accept-Encoding': 'br', 'If-None-Match': tags[2] })).status, 200);
});
