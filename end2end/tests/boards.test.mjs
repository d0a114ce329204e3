// Boards: one address, two views. An admin builds a board closed to the public with the
// editor's forms and JavaScript off; a signed-in viewer opens it and watches a value change as
// the message arrives, long before the snapshot's TTL (an hour here); a visitor without a
// session gets the same 404 as for no board. An operator turns a switch on: the broker's
// acknowledgement is shown, and the device's report of its new state. An admin arranges a board
// by dragging its widgets (JavaScript on), and an operator sets its slider.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLookout, launchChromium, collectErrors, uniqueName, logIn, publish, deviceAnswering } from './support.mjs';

const prefix = uniqueName('board');
const slug = `live-${process.pid}`;
let lookout;
let browser;
let adminPassword;
let viewerPassword;

before(async () => {
  lookout = await startLookout({ prefix, env: { LOOKOUT_STATUS_TTL_SECONDS: '3600' } });
  adminPassword = lookout.addUser('chief', 'admin');
  viewerPassword = lookout.addUser('watcher', 'viewer');
  browser = await launchChromium();
  publish(`${prefix}/boiler`, JSON.stringify({ temp: 40.5 }));
});

after(async () => {
  await browser?.close();
  await lookout?.stop();
});

// Publishing is granted, never assumed: operators may send to `topic`, by the rules page's form.
async function letOperatorsPublish(editor, topic) {
  await editor.goto(`${lookout.url}/admin/rules`);
  await editor.selectOption('select[name="role"][form="new-rule"]', 'operator');
  await editor.fill('input[name="filter"][form="new-rule"]', topic);
  await editor.selectOption('select[name="permission"][form="new-rule"]', 'publish');
  await Promise.all([editor.waitForURL(/\?done=rule_added$/), editor.click('form#new-rule button')]);
}

test('a signed-in viewer watches a board change live, long before its TTL', async () => {
  const admin = await browser.newContext({ javaScriptEnabled: false });
  const editor = await admin.newPage();
  await logIn(editor, lookout.url, 'chief', adminPassword);
  await editor.goto(`${lookout.url}/admin/pages`);
  await editor.fill('input[name="slug"]', slug);
  await editor.fill('input[name="title"]', 'Boiler room');
  await Promise.all([editor.waitForURL(/\/admin\/pages\/\d+\?done=page_added$/), editor.click('text=Create draft')]);
  const settings = editor.locator('form.page-settings');
  await settings.locator('input[name="public"]').uncheck();
  await settings.locator('select[name="open_to"]').selectOption('viewer');
  await settings.locator('input[name="published"]').check();
  await Promise.all([editor.waitForURL(/done=page_changed$/), settings.locator('button[type="submit"]').click()]);
  const add = async (fields) => {
    const form = editor.locator('form#new-widget');
    await form.locator('select[name="kind"]').selectOption(fields.kind);
    for (const name of ['label', 'topic', 'pointer', 'unit']) {
      await form.locator(`input[name="${name}"]`).fill(fields[name] ?? '');
    }
    await Promise.all([editor.waitForURL(/done=widget_added$/), form.locator('button[type="submit"]').click()]);
  };
  await add({ kind: 'value', label: 'Boiler', topic: `${prefix}/boiler`, pointer: '/temp', unit: '°C' });
  await add({ kind: 'sparkline', label: 'Boiler today', topic: `${prefix}/boiler`, pointer: '/temp' });
  await admin.close();
  assert.equal((await fetch(`${lookout.url}/status/${slug}`)).status, 404);

  const context = await browser.newContext();
  await logIn(await context.newPage(), lookout.url, 'watcher', viewerPassword);
  // A page of its own, so the dashboard's requests after logging in are not counted.
  const page = await context.newPage();
  const errors = collectErrors(page);
  const requests = [];
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(`${lookout.url}/status/${slug}`);
  assert.match(await page.locator('.view-note').innerText(), /as a viewer/);
  await page.waitForSelector('main[data-live-state="live"]', { timeout: 15_000 });
  assert.match(await page.locator('.status-updated').innerText(), /^Live/);
  const value = page.locator('section.widget-value [data-value]');
  assert.equal(await value.innerText(), '40.5 °C');
  publish(`${prefix}/boiler`, JSON.stringify({ temp: 85.5 }));
  await page.waitForFunction(
    () => document.querySelector('section.widget-value [data-value]')?.textContent === '85.5 °C',
    null,
    { timeout: 15_000 },
  );
  // The chart's text alternative counts the new value among its points.
  assert.match(await page.locator('section.widget-sparkline [data-plot-high]').innerText(), /85\.5/);
  assert.ok(requests.some((url) => url.includes('/api/live?filter=')), requests.join('\n'));
  assert.ok(!requests.some((url) => url.endsWith('.wasm')), 'a board needs no wasm');
  assert.deepEqual(errors, []);
  await context.close();
});

test('an operator turns a switch on and sees the device confirm it', async (t) => {
  const operatorPassword = lookout.addUser('shift', 'operator');
  const command = `${prefix}/pump/set`;
  const state = `${prefix}/pump/state`;
  publish(state, 'OFF');
  const admin = await browser.newContext({ javaScriptEnabled: false });
  const editor = await admin.newPage();
  await logIn(editor, lookout.url, 'chief', adminPassword);
  await letOperatorsPublish(editor, command);
  await editor.goto(`${lookout.url}/admin/pages`);
  await editor.fill('input[name="slug"]', `pump-${process.pid}`);
  await editor.fill('input[name="title"]', 'Pump house');
  await Promise.all([editor.waitForURL(/\/admin\/pages\/\d+\?done=page_added$/), editor.click('text=Create draft')]);
  const form = editor.locator('form#new-widget');
  await form.locator('select[name="kind"]').selectOption('switch');
  await form.locator('input[name="label"]').fill('Pump');
  await form.locator('input[name="topic"]').fill(state);
  await form.locator('input[name="command_topic"]').fill(command);
  await form.locator('input[name="payload_on"]').fill('ON');
  await form.locator('input[name="payload_off"]').fill('OFF');
  await Promise.all([editor.waitForURL(/done=widget_added$/), form.locator('button[type="submit"]').click()]);
  const settings = editor.locator('form.page-settings');
  await settings.locator('input[name="published"]').check();
  await Promise.all([editor.waitForURL(/done=page_changed$/), settings.locator('button[type="submit"]').click()]);
  await admin.close();

  const context = await browser.newContext();
  await logIn(await context.newPage(), lookout.url, 'shift', operatorPassword);
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(`${lookout.url}/status/pump-${process.pid}`);
  await page.waitForSelector('main[data-live-state="live"]', { timeout: 15_000 });
  const value = page.locator('section.widget-switch [data-value]');
  assert.equal(await value.innerText(), 'OFF');
  const device = deviceAnswering(command, state);
  t.after(() => device.stop());
  await device.listening;
  await page.click('section.widget-switch button[value="on"]');
  const outcome = page.locator('section.widget-switch [data-control-outcome][data-outcome]');
  await outcome.waitFor({ timeout: 15_000 });
  assert.equal(await outcome.getAttribute('data-outcome'), 'acknowledged', await outcome.innerText());
  assert.equal(await outcome.innerText(), 'The broker acknowledged it.');
  assert.equal(await device.answered, 'ON');
  await page.waitForFunction(
    () => document.querySelector('section.widget-switch [data-value]')?.textContent === 'ON',
    null,
    { timeout: 15_000 },
  );
  // The public view never offers it.
  const anonymous = await (await fetch(`${lookout.url}/status/pump-${process.pid}`)).text();
  assert.ok(!anonymous.includes('data-control'));
  assert.deepEqual(errors, []);
  await context.close();
});

test('an admin arranges a board by drag, and an operator sets its slider', async (t) => {
  const operatorPassword = lookout.addUser('dial', 'operator');
  const command = `${prefix}/setpoint/set`;
  const state = `${prefix}/setpoint`;
  publish(state, '20');
  const admin = await browser.newContext();
  const editor = await admin.newPage();
  const editorErrors = collectErrors(editor);
  await logIn(editor, lookout.url, 'chief', adminPassword);
  await letOperatorsPublish(editor, command);
  await editor.goto(`${lookout.url}/admin/pages`);
  const board = `heating-${process.pid}`;
  await editor.fill('input[name="slug"]', board);
  await editor.fill('input[name="title"]', 'Heating');
  await Promise.all([editor.waitForURL(/\/admin\/pages\/\d+\?done=page_added$/), editor.click('text=Create draft')]);
  const add = async (fill) => {
    const form = editor.locator('form#new-widget');
    await fill(form);
    await Promise.all([editor.waitForURL(/done=widget_added$/), form.locator('button[type="submit"]').click()]);
  };
  await add(async (form) => {
    await form.locator('select[name="kind"]').selectOption('text');
    await form.locator('input[name="label"]').fill('About');
    await form.locator('textarea[name="markdown"]').fill('The boiler keeps the **setpoint**.');
  });
  await add(async (form) => {
    await form.locator('select[name="kind"]').selectOption('slider');
    await form.locator('input[name="label"]').fill('Setpoint');
    await form.locator('input[name="topic"]').fill(state);
    await form.locator('input[name="unit"]').fill('°C');
    await form.locator('input[name="command_topic"]').fill(command);
    await form.locator('input[name="min"]').fill('15');
    await form.locator('input[name="max"]').fill('25');
    await form.locator('input[name="step"]').fill('0.5');
    await form.locator('select[name="width"]').selectOption('wide');
  });
  const settings = editor.locator('form.page-settings');
  await settings.locator('input[name="published"]').check();
  await Promise.all([editor.waitForURL(/done=page_changed$/), settings.locator('button[type="submit"]').click()]);

  // The list to drag shows once the editor runs in the browser; the slider goes first.
  const list = editor.locator('form[data-arrange]');
  await list.waitFor({ state: 'visible', timeout: 15_000 });
  const labels = () => list.locator('li').allInnerTexts();
  assert.deepEqual((await labels()).map((text) => text.replace('⠿', '').trim()), ['About', 'Setpoint']);
  await Promise.all([
    editor.waitForURL(/done=widgets_arranged$/, { timeout: 15_000 }),
    list.locator('li', { hasText: 'Setpoint' }).dragTo(list.locator('li', { hasText: 'About' })),
  ]);
  await list.waitFor({ state: 'visible', timeout: 15_000 });
  assert.deepEqual((await labels()).map((text) => text.replace('⠿', '').trim()), ['Setpoint', 'About']);
  assert.deepEqual(editorErrors, []);
  await admin.close();

  const context = await browser.newContext();
  await logIn(await context.newPage(), lookout.url, 'dial', operatorPassword);
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(`${lookout.url}/status/${board}`);
  await page.waitForSelector('main[data-live-state="live"]', { timeout: 15_000 });
  const order = await page.locator('section.status-widget h2').allInnerTexts();
  assert.deepEqual(order, ['Setpoint', 'About']);
  assert.match(await page.locator('section.widget-slider').getAttribute('class'), /width-wide/);
  // The script puts a slider beside the number field; the two move together.
  const field = page.locator('section.widget-slider input[type="number"]');
  const range = page.locator('section.widget-slider input[type="range"]');
  assert.equal(await field.inputValue(), '20');
  assert.equal(await range.inputValue(), '20');
  // (Playwright fills no range input: moved as a person's drag would leave it.)
  await range.evaluate((slider) => {
    slider.value = '23';
    slider.dispatchEvent(new Event('input', { bubbles: true }));
  });
  assert.equal(await field.inputValue(), '23');
  await field.fill('22.5');
  const device = deviceAnswering(command, state);
  t.after(() => device.stop());
  await device.listening;
  await page.click('section.widget-slider button[value="set"]');
  const outcome = page.locator('section.widget-slider [data-control-outcome][data-outcome]');
  await outcome.waitFor({ timeout: 15_000 });
  assert.equal(await outcome.getAttribute('data-outcome'), 'acknowledged', await outcome.innerText());
  assert.equal(await device.answered, '22.5');
  await page.waitForFunction(
    () => document.querySelector('section.widget-slider [data-value]')?.textContent === '22.5 °C',
    null,
    { timeout: 15_000 },
  );
  assert.deepEqual(errors, []);
  await context.close();
});
