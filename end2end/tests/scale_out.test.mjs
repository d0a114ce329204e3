// Two instances in one shared subscription group, on one database and one broker
// (docs/scaling.md), in a real Chromium: a login on one is a login on the other, the dashboard
// of either shows every message live, and logging out on one logs out of both.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLookout, freshDatabase, publish, launchChromium, collectErrors, uniqueName, logIn } from './support.mjs';

const prefix = uniqueName('e2e');
const group = uniqueName('group');
let first;
let second;
let browser;

before(async () => {
  const databaseUrl = freshDatabase();
  const instance = (id) =>
    startLookout({
      prefix,
      databaseUrl,
      env: { LOOKOUT_MQTT_SHARED_GROUP: group, LOOKOUT_MQTT_CLIENT_ID: `${group}-${id}` },
    });
  [first, second] = await Promise.all([instance('a'), instance('b')]);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await first?.stop();
  await second?.stop();
});

test('a browser logged in on one instance uses the other, live, and logs out of both', async () => {
  const password = first.addUser('olga', 'operator');
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);

  await logIn(page, first.url, 'olga', password);
  // Both listen on 127.0.0.1, and cookies do not tell ports apart: a load balancer in one.
  await page.goto(second.url);
  assert.equal(new URL(page.url()).pathname, '/', 'the second instance knows the session');
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 20_000 });
  await page.waitForSelector('.live-state[data-state="live"]', { timeout: 20_000 });
  assert.equal(await page.locator('.account .user').innerText(), 'olga');

  // The broker hands each message to one instance to store; the second instance's dashboard
  // shows all of them as they arrive, whichever stored them.
  const markers = [0, 1, 2, 3, 4, 5].map((n) => `value-${n}-${Date.now()}`);
  markers.forEach((marker, n) => publish(`${prefix}/room-${n}/temperature`, marker));
  for (const marker of markers) {
    await page.waitForSelector(`text=${marker}`, { timeout: 10_000 });
  }

  await Promise.all([page.waitForURL(/\/login\?logged_out=1/), page.click('text=Log out')]);
  await page.goto(first.url);
  assert.equal(new URL(page.url()).pathname, '/login', 'logged out of the first one too');
  assert.deepEqual(errors, []);
  await context.close();
});
