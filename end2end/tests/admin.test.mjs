// The admin pages, served by the real binary, in a real Chromium.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLookout, launchChromium, collectErrors, uniqueName, logIn } from './support.mjs';

let lookout;
let browser;
let password;

before(async () => {
  lookout = await startLookout({ prefix: uniqueName('e2e') });
  password = lookout.addUser('chief', 'admin');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await lookout?.stop();
});

test('an admin adds a user through the form and sees it in the table', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'chief', password);
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 20_000 });

  // The header's link, followed by the hydrated router: the page loads through /api/admin_users.
  await Promise.all([page.waitForURL(/\/admin\/users$/), page.click('nav.admin-links >> text=Users')]);
  const form = page.locator('form[action="/admin/users/add"]');
  await form.waitFor();
  await form.locator('input[name="name"]').fill('newcomer');
  await form.locator('select[name="role"]').selectOption('operator');
  await form.locator('input[name="password"]').fill('a long enough password');
  await Promise.all([page.waitForURL(/\/admin\/users\?done=user_added$/), form.locator('button[type="submit"]').click()]);

  await page.waitForSelector('text=The user was added.');
  const row = page.locator('tr[data-user="newcomer"]');
  assert.equal(await row.locator('.role').innerText(), 'operator');
  assert.equal(await row.locator('.state').innerText(), 'active');

  // The rules page hydrates too, and its preview is a plain GET form.
  await Promise.all([page.waitForURL(/\/admin\/rules$/), page.click('nav.admin-links >> text=Rules')]);
  await page.fill('input[name="topic"]', 'plant/boiler/temperature');
  await Promise.all([page.waitForURL(/\?topic=plant%2Fboiler%2Ftemperature$/), page.click('form.preview-form button[type="submit"]')]);
  assert.equal(await page.locator('.may-read').innerText(), 'viewer, operator, admin');
  assert.equal(await page.locator('.may-publish').innerText(), 'admin');

  // Strict CSP: any inline script or style the pages needed would show up here.
  assert.deepEqual(errors, []);
  await context.close();
});
