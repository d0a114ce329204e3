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
const climate = `${prefix}/room/climate`;
let lookout;
let browser;
let password;
let adminPassword;

before(async () => {
  lookout = await startLookout({ prefix });
  password = lookout.addUser('viewer', 'viewer');
  adminPassword = lookout.addUser('chief', 'admin');
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

test('a field of JSON payloads named as a series is charted on its own, with and without JavaScript', async () => {
  // Named through the admin page's plain form, as without JavaScript.
  const admin = await browser.newContext({ javaScriptEnabled: false });
  const form = await admin.newPage();
  await logIn(form, lookout.url, 'chief', adminPassword);
  await form.goto(`${lookout.url}/admin/series`);
  const cell = (name) => form.locator(`input[form="new-series"][name="${name}"]`);
  // A field that is not a JSON pointer is refused, and the form says why.
  await cell('filter').fill(`${prefix}/+/climate`);
  await cell('pointer').fill('humidity');
  await cell('label').fill('Humidity');
  await Promise.all([form.waitForURL(/error=bad_series_field/), form.click('form#new-series button')]);
  await form.getByText('The field must be a JSON pointer').first().waitFor();
  await cell('filter').fill(`${prefix}/+/climate`);
  await cell('pointer').fill('/humidity');
  await cell('label').fill('Humidity');
  await cell('unit').fill('%');
  await Promise.all([form.waitForURL(/done=series_added/), form.click('form#new-series button')]);
  assert.equal(await form.locator('tr[data-series] code').nth(1).innerText(), '/humidity');
  await admin.close();

  for (const [temperature, humidity] of [[20, 40], [21, 45], [22, 50]]) {
    publish(climate, JSON.stringify({ temperature, humidity }));
  }

  for (const javaScriptEnabled of [false, true]) {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    const errors = collectErrors(page);
    await logIn(page, lookout.url, 'viewer', password);
    const path = `/topic/${climate.split('/').map(encodeURIComponent).join('/')}`;
    // The rollups are written with the messages: wait for the third.
    for (const deadline = Date.now() + 15_000; ; ) {
      await page.goto(`${lookout.url}${path}`);
      if (await page.getByRole('img', { name: /Humidity.*3 numeric values/ }).count()) break;
      if (Date.now() > deadline) throw new Error(`no humidity chart:\n${await page.content()}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    // The named series is shown first; the payload's own number (two numbers: none) is offered.
    assert.equal(await page.locator('.series a[aria-current="page"]').innerText(), 'Humidity (%)');
    assert.match(await page.locator('figcaption').innerText(), /minimum 40 %, maximum 50 %/);
    if (javaScriptEnabled) await page.waitForSelector('.topic-detail[data-hydrated="true"]', { timeout: 20_000 });
    await page.getByRole('link', { name: 'Payload value', exact: true }).click();
    await page.waitForURL(/[?&]series=0/);
    await page.getByText('No numeric values to chart').waitFor();
    assert.deepEqual(errors, []);
    await context.close();
  }
});
