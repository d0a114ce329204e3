// Device liveness, served by the real binary, in a real Chromium: an admin adds a device rule
// through its form, a device reports, and the device list shows it hydrated and without errors.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLookout, launchChromium, collectErrors, uniqueName, logIn, publish } from './support.mjs';

const prefix = uniqueName('e2e');
let lookout;
let browser;
let password;

before(async () => {
  lookout = await startLookout({ prefix });
  password = lookout.addUser('chief', 'admin');
  browser = await launchChromium();
});

after(async () => {
  // Clears the retained status on the broker.
  publish(`${prefix}/sensors/boiler/status`, '', { retain: true });
  await browser?.close();
  await lookout?.stop();
});

test('an admin adds a device rule and the device list shows the device online, then offline', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'chief', password);
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 20_000 });

  await Promise.all([page.waitForURL(/\/admin\/devices$/), page.click('nav.admin-links >> text=Device rules')]);
  const cell = (name) => page.locator(`input[form="new-device-rule"][name="${name}"]`);
  await cell('name').fill('sensors');
  await cell('filter').fill(`${prefix}/sensors/+/#`);
  await cell('interval').fill('60');
  await cell('status_topic').fill(`${prefix}/sensors/+/status`);
  await Promise.all([
    page.waitForURL(/\/admin\/devices\?done=device_rule_added$/),
    page.locator('form#new-device-rule button[type="submit"]').click(),
  ]);
  await page.waitForSelector('text=The device rule was added.');

  publish(`${prefix}/sensors/boiler/status`, 'online', { retain: true });
  publish(`${prefix}/sensors/boiler/temp`, '71.5');
  await Promise.all([page.waitForURL(/\/devices$/), page.click('nav.main-links >> text=Devices')]);
  const row = page.locator(`tr[data-device="sensors/boiler"]`);
  // Stored within moments; the list is read when the page loads, so look again until it shows.
  const deadline = Date.now() + 20_000;
  while ((await row.count()) === 0 || (await row.getAttribute('data-state')) !== 'online') {
    assert.ok(Date.now() < deadline, await page.content());
    await page.waitForTimeout(300);
    await page.reload();
  }
  await page.waitForSelector('.devices-view[data-hydrated="true"]');
  assert.equal(await row.locator('.device-state').innerText(), 'online');
  assert.match(await row.locator('.reason').innerText(), /reports online and sends, expected every 1 min/);
  assert.match(await page.locator('.device-counts').innerText(), /1 online/);

  publish(`${prefix}/sensors/boiler/status`, 'offline', { retain: true });
  for (;;) {
    await page.reload();
    if ((await row.getAttribute('data-state')) === 'offline') break;
    assert.ok(Date.now() < deadline + 20_000, await page.content());
    await page.waitForTimeout(300);
  }
  assert.match(await row.locator('.reason').innerText(), /^reported offline at \d\d:\d\d UTC \(last will or status message\)$/);

  assert.deepEqual(errors, []);
  await context.close();
});
