// The alerts page, served by the real binary, in a real Chromium: an admin makes a channel and
// a rule with the plain forms (JavaScript off), a message over the threshold reaches a real
// HTTP receiver, and the page shows the rule firing with its delivered notice. With JavaScript
// on, the same page hydrates and the same forms work.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startLookout, launchChromium, collectErrors, uniqueName, logIn, publish } from './support.mjs';

const prefix = uniqueName('alerts');
let lookout;
let browser;
let password;
let receiver;
const received = [];

before(async () => {
  receiver = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      received.push(JSON.parse(body));
      response.writeHead(200).end('ok');
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  lookout = await startLookout({ prefix });
  password = lookout.addUser('chief', 'admin');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await lookout?.stop();
  receiver?.close();
});

async function until(what, check, patienceMs = 30_000) {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    const found = await check();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

test('without JavaScript an admin makes a channel and a rule, and the rule fires', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'chief', password);
  await page.goto(`${lookout.url}/admin/alerts`);

  await page.click('summary:has-text("Add a channel")');
  const channel = (name) => page.locator(`[form="new-channel"][name="${name}"]`);
  await channel('name').fill('Ops hook');
  await channel('format').selectOption('webhook');
  await channel('url').fill(`http://127.0.0.1:${receiver.address().port}/hook`);
  await Promise.all([page.waitForURL(/done=channel_added$/), page.click('form#new-channel button')]);
  await page.waitForSelector('text=The channel was added');
  assert.match(await page.locator('.alert-channel').innerText(), /Ops hook/);

  await page.click('summary:has-text("Add a rule")');
  const rule = (name) => page.locator(`[form="new-alert-rule"][name="${name}"]`);
  await rule('name').fill('Boiler too hot');
  await rule('kind').selectOption('threshold');
  await rule('topics').fill(`${prefix}/+/temp`);
  await rule('direction').selectOption('above');
  await rule('trigger').fill('90');
  await rule('recover').fill('85');
  await rule('severity').selectOption('critical');
  await page.check('[form="new-alert-rule"][name="channel"]');
  // A refusal names the field to fix, and keeps nothing.
  await rule('recover').fill('95');
  await Promise.all([page.waitForURL(/error=bad_alert_threshold/), page.click('form#new-alert-rule button')]);
  assert.equal(await page.locator('.alert-rule').count(), 0);
  await page.click('summary:has-text("Add a rule")');
  await rule('name').fill('Boiler too hot');
  await rule('topics').fill(`${prefix}/+/temp`);
  await rule('trigger').fill('90');
  await rule('recover').fill('85');
  await rule('severity').selectOption('critical');
  await page.check('[form="new-alert-rule"][name="channel"]');
  await Promise.all([page.waitForURL(/done=alert_rule_added$/), page.click('form#new-alert-rule button')]);
  const card = page.locator('.alert-rule');
  assert.match(await card.innerText(), /Boiler too hot/);
  assert.match(await card.innerText(), /above 90 \(recovers at or below 85\)/);

  // The engine reads its rules at each look (10 s): hot until it fires.
  await until('the firing notice', async () => {
    publish(`${prefix}/boiler/temp`, '97.5');
    return received.find((notice) => notice.state === 'firing');
  });
  const firing = received.find((notice) => notice.state === 'firing');
  assert.equal(firing.rule, 'Boiler too hot');
  assert.equal(firing.subject, `${prefix}/boiler/temp`);
  assert.equal(firing.value, '97.5');

  await until('the page to show it firing and delivered', async () => {
    await page.goto(`${lookout.url}/admin/alerts`);
    const text = await page.locator('.alert-rule').innerText();
    return /firing: 1/.test(text) && /delivered/.test(text);
  });
  assert.match(await page.locator('.alert-rule .firing').innerText(), new RegExp(`${prefix}/boiler/temp since .*value 97.5`));

  // Disabled through its change form: saved with the box unticked.
  await page.click('.alert-rule summary:has-text("Change")');
  const formId = await page.locator('.alert-rule form[action="/admin/alerts/rules/change"]').getAttribute('id');
  await page.uncheck(`[form="${formId}"][name="enabled"]`);
  await Promise.all([page.waitForURL(/done=alert_rule_changed$/), page.click(`form#${formId} button`)]);
  assert.match(await page.locator('.alert-rule h3').innerText(), /disabled/);

  assert.deepEqual(errors, []);
  await context.close();
});

test('with JavaScript the page hydrates and a channel test is sent', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'chief', password);
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 20_000 });
  await Promise.all([page.waitForURL(/\/admin\/alerts$/), page.click('nav.admin-links >> text=Alerts')]);
  await page.locator('.alert-channel').waitFor();
  const before = received.length;
  await Promise.all([page.waitForURL(/done=channel_test_queued$/), page.click('text=Send a test')]);
  await until('the test notice', async () => received.length > before && received.at(-1).state === 'test');
  assert.match(received.at(-1).subject, /asked by chief/);
  assert.deepEqual(errors, []);
  await context.close();
});
