// The topic list, served by the real binary, in a real Chromium.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLookout, publish, launchChromium, collectErrors, uniqueName, logIn } from './support.mjs';

const prefix = uniqueName('e2e');
let lookout;
let browser;
let password;

before(async () => {
  lookout = await startLookout({ prefix });
  password = lookout.addUser('viewer', 'viewer');
  publish(`${prefix}/weather/temperature`, '21.5');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await lookout?.stop();
});

async function waitForText(page, text, { reload = false, timeout = 10_000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if ((await page.content()).includes(text)) return;
    if (Date.now() > deadline) throw new Error(`"${text}" never appeared:\n${await page.content()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (reload) await page.reload();
  }
}

test('the topic list is complete with JavaScript off', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await logIn(page, lookout.url, 'viewer', password);
  await waitForText(page, `${prefix}/weather/temperature`, { reload: true });
  const row = page.locator('tr', { hasText: `${prefix}/weather/temperature` });
  assert.equal(await row.locator('.value').innerText(), '21.5');
  assert.match(await row.locator('.age').innerText(), /^\d+ (s|min) ago$/);
  await context.close();
});

test('values published after the page loaded appear without a reload, and the page hydrates cleanly', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'viewer', password);
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 20_000 });
  await page.waitForSelector('.live-state[data-state="live"]', { timeout: 20_000 });
  const loadedAt = await page.evaluate(() => performance.timeOrigin);

  // A new topic joins the table, and an existing one changes its value, both live.
  const marker = `value-${Date.now()}`;
  publish(`${prefix}/door/status`, marker);
  await waitForText(page, marker);
  publish(`${prefix}/weather/temperature`, '23.25');
  const temperature = page.locator('tr', { hasText: `${prefix}/weather/temperature` }).locator('.value');
  for (const deadline = Date.now() + 10_000; (await temperature.innerText()) !== '23.25'; ) {
    assert.ok(Date.now() < deadline, 'the temperature did not change live');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(await page.evaluate(() => performance.timeOrigin), loadedAt, 'no reload happened');

  // The overview's figures are read again while the page is open: the rate appears.
  await page.waitForFunction(
    () => /^\d+ msg\/s$/.test(document.querySelector('.overview-figures .rate')?.textContent ?? ''),
    null,
    { timeout: 10_000 },
  );
  assert.match(await page.locator('.overview-figures .lag').innerText(), /^\d+ ms$/);
  // The trends fill from Lookout's own readings (one every 10 s) while the page stays open: the
  // rate needs two readings, so within about 20 s its card draws a line or a dot.
  await page.waitForFunction(
    () => document.querySelectorAll('.overview-figures .figure:has(.rate) .sparkline polyline').length > 0,
    null,
    { timeout: 40_000 },
  );
  assert.ok(await page.locator('.overview-figures .figure:has(.backlog) .sparkline polyline').count() > 0);

  // Hydrated pages keep their ages current without a reload.
  const age = page.locator('tr', { hasText: marker }).locator('.age');
  const before = await age.innerText();
  let now = before;
  for (const deadline = Date.now() + 5_000; now === before && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    now = await age.innerText();
  }
  assert.notEqual(now, before, 'the age did not tick after hydration');

  assert.deepEqual(errors, []);
  await context.close();
});

test('logging in and out in the browser', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  const operator = lookout.addUser('olga', 'operator');

  await page.goto(lookout.url);
  assert.equal(new URL(page.url()).pathname, '/login', 'the dashboard asks for a login first');
  await page.fill('input[name="name"]', 'olga');
  await page.fill('input[name="password"]', 'not-the-password');
  await page.click('form.login-form button[type="submit"]');
  await page.waitForSelector('text=do not match');

  await logIn(page, lookout.url, 'olga', operator);
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 20_000 });
  assert.equal(await page.locator('.account .user').innerText(), 'olga');

  await Promise.all([page.waitForURL(/\/login\?logged_out=1/), page.click('text=Log out')]);
  await page.waitForSelector('text=You have logged out');
  await page.goto(lookout.url);
  assert.equal(new URL(page.url()).pathname, '/login', 'logged out means logged out');

  // A failed login is answered with a redirect; the browser logs no error for it, and the
  // page's Content-Security-Policy lets hydration run.
  assert.deepEqual(errors, []);
  await context.close();
});
