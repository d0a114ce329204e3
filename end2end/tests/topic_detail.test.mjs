// The topic detail page, served by the real binary, in a real Chromium: reached from the topic
// list, with its chart, and still right after hydration and a change of range.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLookout, publish, launchChromium, collectErrors, uniqueName, logIn } from './support.mjs';

const prefix = uniqueName('e2e');
// Spaces and non-ASCII need encoding in the link.
const topic = `${prefix}/hall/Ofen 2 °C`;
// The browser's router would decode `%41` to `A`: this link loads the page from the server.
const percent = `${prefix}/tank/50%41 full`;
let lookout;
let browser;
let password;

before(async () => {
  lookout = await startLookout({ prefix });
  password = lookout.addUser('viewer', 'viewer');
  for (const value of ['21.5', '22', '22.75']) publish(topic, value);
  publish(percent, 'half');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await lookout?.stop();
});

async function linkInList(page, name) {
  const link = page.getByRole('link', { name, exact: true });
  for (const deadline = Date.now() + 15_000; (await link.count()) === 0; ) {
    if (Date.now() > deadline) throw new Error(`no link to ${name}:\n${await page.content()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await page.reload();
  }
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 20_000 });
  return link;
}

test('a topic opens from the list and shows its chart, before and after hydration', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'viewer', password);

  await (await linkInList(page, topic)).click();
  await page.waitForURL((url) => decodeURIComponent(url.pathname) === `/topic/${topic}`);

  const chart = page.getByRole('img', { name: /3 numeric values/ });
  await chart.waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('h1').innerText(), topic);
  assert.equal(await page.locator('.latest .count').innerText(), '3');
  assert.equal(await page.locator('.payload').innerText(), '22.75');
  assert.equal(await page.locator('.message-log tbody tr').count(), 3);
  await page.waitForSelector('.topic-detail[data-hydrated="true"]', { timeout: 20_000 });

  // Another range, as the hydrated page fetches it: the same values, and that range marked.
  await page.getByRole('link', { name: '1 h', exact: true }).click();
  await page.waitForURL(/[?&]range=1h/);
  await page.waitForSelector('.ranges a[aria-current="page"]:text-is("1 h")');
  await page.getByRole('img', { name: /last 1 h: 3 numeric values/ }).waitFor({ timeout: 10_000 });

  // A new message shows at once, without a reload.
  await page.waitForSelector('.topic-detail .live-state[data-state="live"]', { timeout: 20_000 });
  publish(topic, '23.5');
  await page.waitForSelector('.payload:text-is("23.5")', { timeout: 10_000 });
  assert.equal(await page.locator('.latest .count').innerText(), '4');

  assert.deepEqual(errors, []);
  await context.close();
});

test('a topic whose name holds a percent sign opens as itself', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'viewer', password);
  await (await linkInList(page, percent)).click();
  await page.waitForSelector('.topic-detail[data-hydrated="true"]', { timeout: 20_000 });
  assert.equal(await page.locator('h1').innerText(), percent);
  assert.equal(await page.locator('.payload').innerText(), 'half');
  await page.getByText('No numeric values to chart').waitFor();
  // The address shown is the page's own: reloading or sharing it opens the same topic.
  assert.equal(decodeURIComponent(new URL(page.url()).pathname), `/topic/${percent}`);
  await page.reload();
  assert.equal(await page.locator('h1').innerText(), percent);
  assert.deepEqual(errors, []);
  await context.close();
});
