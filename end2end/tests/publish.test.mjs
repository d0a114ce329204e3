// Publishing from the dashboard, served by the real binary, in a real Chromium: an operator
// whose rule allows it publishes through the form and the message reaches the broker; a viewer
// gets no form.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startLookout, launchChromium, collectErrors, uniqueName, logIn, publish } from './support.mjs';

const broker = new URL(process.env.LOOKOUT_MQTT_URL ?? 'mqtt://127.0.0.1:1883');
const prefix = uniqueName('e2e');
let lookout;
let browser;
const passwords = {};

before(async () => {
  lookout = await startLookout({ prefix });
  passwords.chief = lookout.addUser('chief', 'admin');
  passwords.op = lookout.addUser('op', 'operator');
  passwords.watcher = lookout.addUser('watcher', 'viewer');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await lookout?.stop();
});

/** Resolves with the first message on `topic`, as mosquitto_sub (a device of its own) gets it. */
function firstMessage(topic) {
  const args = ['-h', broker.hostname, '-p', broker.port || '1883', '-t', topic, '-C', '1', '-W', '20'];
  const child = spawn('mosquitto_sub', args);
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(output.trim()) : reject(new Error(`mosquitto_sub exited with ${code}`))));
  });
}

test('an operator publishes through the form and a viewer gets none', async () => {
  // The admin lets operators publish under the prefix, on the rules page.
  const admin = await browser.newContext();
  const adminPage = await admin.newPage();
  await logIn(adminPage, lookout.url, 'chief', passwords.chief);
  await adminPage.goto(`${lookout.url}/admin/rules`);
  await adminPage.selectOption('select[name="role"][form="new-rule"]', 'operator');
  await adminPage.fill('input[name="filter"][form="new-rule"]', `${prefix}/allowed/#`);
  await adminPage.selectOption('select[name="permission"][form="new-rule"]', 'publish');
  await Promise.all([adminPage.waitForURL(/\?done=rule_added$/), adminPage.click('form#new-rule button')]);
  await admin.close();

  const operator = await browser.newContext();
  const page = await operator.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'op', passwords.op);
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 20_000 });
  // The dashboard is live for the operator: a device's message shows without a reload.
  await page.waitForSelector('.live-state[data-state="live"]', { timeout: 20_000 });
  const reading = `reading-${Date.now()}`;
  publish(`${prefix}/boiler/temperature`, reading);
  await page.waitForSelector(`td.value >> text=${reading}`, { timeout: 10_000 });
  // The header's link, followed by the hydrated router: the page loads through /api/publish_page.
  await Promise.all([page.waitForURL(/\/publish$/), page.click('nav.main-links >> text=Publish')]);
  const form = page.locator('form.publish-form');
  await form.waitFor();
  assert.equal(await page.locator('.publish-filters code').innerText(), `${prefix}/allowed/#`);

  const topic = `${prefix}/allowed/lights/hall`;
  // Subscribed before the form is sent; a moment for the subscription to be in place.
  const arrived = firstMessage(topic);
  await new Promise((resolve) => setTimeout(resolve, 500));
  await form.locator('input[name="topic"]').fill(topic);
  await form.locator('textarea[name="payload"]').fill('on');
  await form.locator('select[name="qos"]').selectOption('1');
  await Promise.all([page.waitForURL(/\/publish$/), form.locator('button[type="submit"]').click()]);

  const notice = page.locator('[data-delivery="acknowledged"]');
  await notice.waitFor();
  assert.match(await notice.innerText(), /^Published 2 bytes to .*allowed\/lights\/hall \(QoS 1\)\. The broker acknowledged it\.$/);
  assert.equal(await arrived, 'on');
  // The topic stays for the next message; the payload does not.
  assert.equal(await page.locator('input[name="topic"]').inputValue(), topic);
  assert.equal(await page.locator('textarea[name="payload"]').inputValue(), '');
  assert.deepEqual(errors, []);
  await operator.close();

  const viewer = await browser.newContext();
  const viewerPage = await viewer.newPage();
  await logIn(viewerPage, lookout.url, 'watcher', passwords.watcher);
  await viewerPage.waitForSelector('[data-hydrated="true"]', { timeout: 20_000 });
  assert.equal(await viewerPage.locator('nav.main-links >> text=Publish').count(), 0);
  await viewerPage.goto(`${lookout.url}/publish`);
  await viewerPage.waitForSelector('text=Your role may not publish to any topic.');
  assert.equal(await viewerPage.locator('form.publish-form').count(), 0);
  // And the server refuses the viewer's post whatever the page shows.
  const status = await viewerPage.evaluate(async (topic) => {
    const body = new URLSearchParams({ topic, payload: 'off', qos: '0' });
    return (await fetch('/publish', { method: 'POST', body, redirect: 'manual' })).status;
  }, `${prefix}/allowed/lights/hall`);
  assert.equal(status, 403);
  await viewer.close();
});
