// Public status pages, served by the real binary, in a real Chromium: an admin builds a page
// with the editor's forms and publishes it; a visitor without JavaScript reads the values; a
// visitor with JavaScript sees a new value after the page's TTL without reloading, and never
// gets a live stream; a device's uptime bar and percentages read without JavaScript, on a phone
// too.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLookout, launchChromium, collectErrors, uniqueName, logIn, publish } from './support.mjs';

const prefix = uniqueName('e2e');
const slug = `plant-${process.pid}`;
let lookout;
let browser;
let password;

before(async () => {
  // A TTL of 1 s, so the refresh shows within the test's patience.
  lookout = await startLookout({ prefix, env: { LOOKOUT_STATUS_TTL_SECONDS: '1' } });
  password = lookout.addUser('chief', 'admin');
  browser = await launchChromium();
  publish(`${prefix}/boiler`, JSON.stringify({ temp: 71.5, owner: 'Ada Lovelace' }));
  publish(`${prefix}/private/vault`, 'secret-combination-1234');
});

after(async () => {
  await browser?.close();
  await lookout?.stop();
});

test('an admin builds and publishes a page with the editor', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'chief', password);
  // Public means chosen: the boiler's topic joins the public audience on the rules page first.
  await page.goto(`${lookout.url}/admin/rules`);
  await page.selectOption('select[name="role"][form="new-rule"]', 'public');
  await page.fill('input[name="filter"][form="new-rule"]', `${prefix}/boiler`);
  await Promise.all([page.waitForURL(/\?done=rule_added$/), page.click('form#new-rule button')]);
  // From the overview (which marks itself hydrated), the header's links go through the router.
  await page.goto(`${lookout.url}/`);
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 20_000 });
  await Promise.all([page.waitForURL(/\/admin\/pages$/), page.click('nav.admin-links >> text=Status pages')]);
  await page.fill('input[name="slug"]', slug);
  await page.fill('input[name="title"]', 'Plant 7');
  await Promise.all([page.waitForURL(/\/admin\/pages\/\d+\?done=page_added$/), page.click('text=Create draft')]);

  const addWidget = async (fields) => {
    const form = page.locator('form#new-widget');
    await form.locator('select[name="kind"]').selectOption(fields.kind);
    for (const name of ['label', 'topic', 'pointer', 'unit', 'degraded_at', 'down_at', 'min', 'max']) {
      await form.locator(`input[name="${name}"]`).fill(fields[name] ?? '');
    }
    await form.locator('textarea[name="markdown"]').fill(fields.markdown ?? '');
    await Promise.all([page.waitForURL(/done=widget_added$/), form.locator('button[type="submit"]').click()]);
  };
  await addWidget({ kind: 'value', label: 'Boiler', topic: `${prefix}/boiler`, pointer: '/temp', unit: '°C' });
  await addWidget({ kind: 'status', label: 'Boiler health', topic: `${prefix}/boiler`, pointer: '/temp', degraded_at: '60', down_at: '80' });
  await addWidget({ kind: 'sparkline', label: 'Boiler today', topic: `${prefix}/boiler`, pointer: '/temp' });
  await addWidget({
    kind: 'gauge', label: 'Boiler dial', topic: `${prefix}/boiler`, pointer: '/temp', unit: '°C',
    degraded_at: '60', down_at: '80', min: '0', max: '100',
  });
  await addWidget({
    kind: 'text', label: 'Who to call',
    markdown: '## On call\n\nRing **Maria** or mail <ops@example.org>; <b>not</b> [this](javascript:alert(1)).',
  });

  // A draft: the admin previews it, a visitor gets a 404.
  const preview = await context.newPage();
  await preview.goto(`${lookout.url}/status/${slug}`);
  assert.match(await preview.locator('.draft-notice').innerText(), /Draft preview/);
  const anonymous = await fetch(`${lookout.url}/status/${slug}`);
  assert.equal(anonymous.status, 404);

  await page.check('input[name="published"]');
  await Promise.all([page.waitForURL(/done=page_changed$/), page.click('text=Save page')]);
  assert.deepEqual(errors, []);
  await context.close();
});

test('without JavaScript the page is complete; with it, values refresh after the TTL', async () => {
  const noScript = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noScript.newPage();
  const response = await plain.goto(`${lookout.url}/status/${slug}`);
  assert.equal(response.status(), 200);
  const boiler = plain.locator('section.widget-value [data-value]');
  assert.equal(await boiler.innerText(), '71.5 °C');
  assert.equal(await plain.locator('section.widget-status [data-level-text]').innerText(), 'Degraded');
  assert.equal(await plain.locator('[data-summary-text]').innerText(), 'Partially degraded');
  assert.equal(await plain.locator('section.widget-sparkline svg[role="img"]').count(), 1);
  // The gauge: its dial drawn by the server, the value's arc in its stretch's colour.
  assert.equal(await plain.locator('section.widget-gauge [data-value]').innerText(), '71.5 °C');
  assert.equal(await plain.locator('section.widget-gauge .gauge-value.zone-degraded').count(), 1);
  assert.equal(await plain.locator('section.widget-gauge [data-gauge-scale]').innerText(), '0 to 100 °C; degraded from 60, down from 80');
  // The text block: the admin's Markdown as HTML, raw HTML as text, the unsafe link's words only.
  const notes = plain.locator('section.widget-text .markdown');
  assert.equal(await notes.locator('h4').innerText(), 'On call');
  assert.equal(await notes.locator('strong').innerText(), 'Maria');
  assert.equal(await notes.locator('a').count(), 1);
  assert.equal(await notes.locator('a').getAttribute('href'), 'mailto:ops@example.org');
  assert.equal(await notes.locator('b').count(), 0);
  assert.match(await notes.innerText(), /<b>not<\/b> this\.$/);
  assert.equal(await plain.locator('main h1').innerText(), 'Plant 7');
  assert.equal(await plain.locator('meta[property="og:title"]').getAttribute('content'), 'Plant 7 · Status');
  const html = await plain.content();
  for (const secret of ['Ada Lovelace', 'secret-combination-1234', 'private/vault']) {
    assert.ok(!html.includes(secret), `the page leaks ${secret}`);
  }
  await noScript.close();

  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  const requests = [];
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(`${lookout.url}/status/${slug}`);
  assert.equal(await page.locator('section.widget-value [data-value]').innerText(), '71.5 °C');
  publish(`${prefix}/boiler`, JSON.stringify({ temp: 85, owner: 'Ada Lovelace' }));
  await page.waitForFunction(
    () => document.querySelector('section.widget-value [data-value]')?.textContent === '85 °C',
    null,
    { timeout: 15_000 },
  );
  assert.equal(await page.locator('section.widget-status [data-level-text]').innerText(), 'Down');
  assert.equal(await page.locator('section.widget-gauge [data-value]').innerText(), '85 °C');
  assert.equal(await page.locator('section.widget-gauge .gauge-value.zone-down').count(), 1);
  assert.equal(await page.locator('[data-summary-text]').innerText(), 'Major outage');
  assert.match(await page.locator('time[data-generated-ms]').innerText(), /s ago$/);
  assert.ok(!requests.some((url) => url.includes('/api/live') || url.includes('.wasm')), requests.join('\n'));
  assert.deepEqual(errors, []);
  await context.close();
});

test('a board closed to the public is built by forms without JavaScript and opens only for its roles', async () => {
  // After the plant's page in the editor's list, which the tests below open as its first.
  const board = `vault-${process.pid}`;
  const viewerPassword = lookout.addUser('watcher', 'viewer');
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await logIn(page, lookout.url, 'chief', password);
  await page.goto(`${lookout.url}/admin/pages`);
  await page.fill('input[name="slug"]', board);
  await page.fill('input[name="title"]', 'Vault room');
  await Promise.all([page.waitForURL(/\/admin\/pages\/\d+\?done=page_added$/), page.click('text=Create draft')]);
  const editor = page.url().split('?')[0];

  // Closed first: operators and admins only, not public; then any topic is welcome.
  const settings = page.locator('form.page-settings');
  await settings.locator('input[name="public"]').uncheck();
  await settings.locator('select[name="open_to"]').selectOption('operator');
  await settings.locator('input[name="published"]').check();
  await Promise.all([page.waitForURL(/done=page_changed$/), settings.locator('button[type="submit"]').click()]);
  const form = page.locator('form#new-widget');
  await form.locator('select[name="kind"]').selectOption('value');
  await form.locator('input[name="label"]').fill('Vault');
  await form.locator('input[name="topic"]').fill(`${prefix}/private/vault`);
  await Promise.all([page.waitForURL(/done=widget_added$/), form.locator('button[type="submit"]').click()]);

  // The admin's own view: every widget, saying so.
  const own = await context.newPage();
  assert.equal((await own.goto(`${lookout.url}/status/${board}`)).status(), 200);
  assert.equal(await own.locator('section.widget-value [data-value]').innerText(), 'secret-combination-1234');
  assert.match(await own.locator('.view-note').innerText(), /as an admin/);
  // Nobody else: the same 404 as no board, for the page and its JSON.
  for (const path of [`/status/${board}`, `/status/${board}.json`]) {
    assert.equal((await fetch(`${lookout.url}${path}`)).status, 404, path);
  }
  const viewers = await browser.newContext({ javaScriptEnabled: false });
  const viewer = await viewers.newPage();
  await logIn(viewer, lookout.url, 'watcher', viewerPassword);
  assert.equal((await viewer.goto(`${lookout.url}/status/${board}`)).status(), 404);

  // Made public: visitors get the public view, without the private widget; the admin can look.
  await page.goto(editor);
  await settings.locator('input[name="public"]').check();
  await Promise.all([page.waitForURL(/done=page_changed$/), settings.locator('button[type="submit"]').click()]);
  const anonymous = await fetch(`${lookout.url}/status/${board}`);
  assert.equal(anonymous.status, 200);
  assert.ok(!(await anonymous.text()).includes('secret-combination-1234'));
  assert.equal((await viewer.goto(`${lookout.url}/status/${board}`)).status(), 200);
  assert.equal(await viewer.locator('section.widget-value').count(), 0);
  await own.goto(`${lookout.url}/status/${board}`);
  await Promise.all([own.waitForURL(/\?view=public$/), own.click('text=See the public view')]);
  assert.match(await own.locator('.view-note').innerText(), /Public view/);
  assert.equal(await own.locator('section.widget-value').count(), 0);
  await viewers.close();
  await context.close();
});

test('an uptime bar reads without JavaScript, shows 30 days on a phone, and survives the refresh', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'chief', password);
  // A device rule, its topics public, and one message: the pump is online from then on.
  await page.goto(`${lookout.url}/admin/devices`);
  const cell = (name) => page.locator(`input[form="new-device-rule"][name="${name}"]`);
  await cell('name').fill('Pumps');
  await cell('filter').fill(`${prefix}/pumps/+/#`);
  await cell('interval').fill('60');
  await Promise.all([page.waitForURL(/done=device_rule_added$/), page.locator('form#new-device-rule button[type="submit"]').click()]);
  await page.goto(`${lookout.url}/admin/rules`);
  await page.selectOption('select[name="role"][form="new-rule"]', 'public');
  await page.fill('input[name="filter"][form="new-rule"]', `${prefix}/pumps/#`);
  await Promise.all([page.waitForURL(/\?done=rule_added$/), page.click('form#new-rule button')]);
  publish(`${prefix}/pumps/p7/flow`, '3.5');

  await page.goto(`${lookout.url}/admin/pages`);
  await page.locator('a', { hasText: 'Plant 7' }).first().click();
  await page.waitForURL(/\/admin\/pages\/\d+$/);
  const form = page.locator('form#new-widget');
  for (const [kind, label] of [['uptime_bar', 'Pump 7, 90 days'], ['uptime', 'Pump 7 uptime']]) {
    await form.locator('select[name="kind"]').selectOption(kind);
    await form.locator('input[name="label"]').fill(label);
    await form.locator('input[name="topic"]').fill('');
    await form.locator('input[name="device"]').fill('p7');
    await form.locator('select[name="days"]').selectOption('90');
    await Promise.all([page.waitForURL(/done=widget_added$/), form.locator('button[type="submit"]').click()]);
  }
  assert.deepEqual(errors, []);
  await context.close();

  const noScript = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noScript.newPage();
  // Once the watcher has seen the pump (it looks every 10 s).
  let today = '';
  for (let attempt = 0; attempt < 40 && !/100 %/.test(today); attempt++) {
    await plain.goto(`${lookout.url}/status/${slug}`);
    today = (await plain.locator('section.widget-uptime_bar .uptime-days li').last().getAttribute('title')) ?? '';
    if (!/100 %/.test(today)) await plain.waitForTimeout(1000);
  }
  assert.match(today, /^\d{4}-\d{2}-\d{2}: 100 %/);
  const cells = plain.locator('section.widget-uptime_bar .uptime-days li');
  assert.equal(await cells.count(), 90);
  // Days before Lookout watched are no data, said in words for screen readers.
  assert.match(await cells.first().innerText(), /no data/);
  assert.equal(await plain.locator('section.widget-uptime dd[data-window="24h"]').innerText(), '100 %');
  assert.equal(await plain.locator('section.widget-uptime dd[data-window="90d"]').innerText(), '100 %');
  await plain.setViewportSize({ width: 375, height: 800 });
  const shown = await cells.evaluateAll((items) => items.filter((item) => getComputedStyle(item).display !== 'none').length);
  assert.equal(shown, 30);
  const width = await plain.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `the page is ${width} px wide at 375`);
  await noScript.close();

  // With JavaScript the page's refresh leaves the uptime widgets as they are.
  const scripted = await browser.newContext();
  const live = await scripted.newPage();
  const liveErrors = collectErrors(live);
  await live.goto(`${lookout.url}/status/${slug}`);
  const total = await live.locator('section.widget-uptime_bar p.value').innerText();
  await live.waitForTimeout(2500);
  assert.equal(await live.locator('section.widget-uptime_bar p.value').innerText(), total);
  assert.equal(await live.locator('section.widget-uptime_bar .uptime-days li').count(), 90);
  assert.deepEqual(liveErrors, []);
  await scripted.close();
});

test('an incident an admin opens is read on the status page without JavaScript', async () => {
  const admin = await browser.newContext({ javaScriptEnabled: false });
  const page = await admin.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'chief', password);
  await page.goto(`${lookout.url}/admin/pages`);
  const editor = await page.locator('a[href^="/admin/pages/"]').first().getAttribute('href');
  await page.goto(`${lookout.url}${editor}`);
  await page.fill('[form="new-incident"][name="title"]', 'Boiler readings delayed');
  await page.selectOption('[form="new-incident"][name="status"]', 'identified');
  await page.fill('[form="new-incident"][name="message"]', 'A gateway restarts.\nReadings catch up after it.');
  await Promise.all([page.waitForURL(/done=incident_opened$/), page.click('form#new-incident button')]);
  assert.match(await page.locator('article.incident h3').innerText(), /Boiler readings delayed/);

  const visitor = await browser.newContext({ javaScriptEnabled: false });
  const status = await visitor.newPage();
  const visitorErrors = collectErrors(status);
  await status.goto(`${lookout.url}/status/${slug}`);
  const open = status.locator('section.incidents.open article.incident');
  assert.equal(await open.count(), 1);
  assert.match(await open.locator('h3').innerText(), /Boiler readings delayed/);
  assert.match(await open.innerText(), /Identified/);
  assert.match(await open.locator('.incident-message').innerText(), /A gateway restarts\.\nReadings catch up after it\./);
  // It comes before the widgets.
  const html = await status.content();
  assert.ok(html.indexOf('class="incidents open"') < html.indexOf('class="status-widgets"'), 'incidents stand above the widgets');
  assert.deepEqual(errors, []);
  assert.deepEqual(visitorErrors, []);
  await admin.close();
  await visitor.close();
});

test('an operator tells an incident from the desk, naming what it affects; visitors read it and its month without JavaScript', async () => {
  const operatorPassword = lookout.addUser('olga', 'operator');
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'olga', operatorPassword);
  await page.goto(`${lookout.url}/incidents`);
  await Promise.all([
    page.waitForURL(/\/incidents\?page=\d+/),
    page.locator(`tr[data-page="${slug}"] a`, { hasText: 'Open an incident' }).click(),
  ]);
  await page.fill('[form="new-incident"][name="title"]', 'Boiler gauge replaced');
  await page.fill('[form="new-incident"][name="message"]', 'The gauge is swapped; readings pause.');
  const box = page.locator('label[for^="new-incident-widget-"]', { hasText: 'Boiler health' });
  await page.check(`#${await box.getAttribute('for')}`);
  await Promise.all([page.waitForURL(/done=incident_opened$/), page.click('form#new-incident button')]);
  const card = page.locator('article.incident', { hasText: 'Boiler gauge replaced' });
  assert.match(await card.innerText(), /Affects: Boiler health/);
  // Resolved from its card on the desk.
  const form = await card.locator('form[action="/incidents/update"]').getAttribute('id');
  await page.selectOption(`[form="${form}"][name="status"]`, 'resolved');
  await page.fill(`[form="${form}"][name="message"]`, 'The new gauge reads.');
  await Promise.all([page.waitForURL(/done=incident_updated$/), page.click(`form#${form} button`)]);

  const visitor = await browser.newContext({ javaScriptEnabled: false });
  const status = await visitor.newPage();
  const visitorErrors = collectErrors(status);
  await status.goto(`${lookout.url}/status/${slug}`);
  const past = status.locator('section.incidents.past article.incident', { hasText: 'Boiler gauge replaced' });
  assert.match(await past.locator('[data-affects]').innerText(), /Affects: Boiler health/);
  await Promise.all([status.waitForURL(/\/incidents$/), status.click('[data-incident-history]')]);
  assert.match(await status.locator('h1').innerText(), /^Incidents in \w+ \d{4}$/);
  const month = await status.locator('main').innerText();
  assert.match(month, /Boiler gauge replaced/);
  assert.match(month, /The new gauge reads\./);
  assert.deepEqual(errors, []);
  assert.deepEqual(visitorErrors, []);
  await context.close();
  await visitor.close();
});

test('maintenance an admin plans is announced ahead and shown while in effect, without JavaScript', async () => {
  const admin = await browser.newContext({ javaScriptEnabled: false });
  const page = await admin.newPage();
  const errors = collectErrors(page);
  await logIn(page, lookout.url, 'chief', password);
  await page.goto(`${lookout.url}/admin/pages`);
  const editor = await page.locator('a[href^="/admin/pages/"]').first().getAttribute('href');
  await page.goto(`${lookout.url}${editor}`);
  const utcInput = (ms) => new Date(ms).toISOString().slice(0, 16);
  const plan = async ({ title, startsMs, minutes, repeat, widget, outcome }) => {
    await page.fill('#new-maintenance-title', title);
    await page.fill('#new-maintenance-starts', utcInput(startsMs));
    await page.fill('#new-maintenance-minutes', String(minutes));
    await page.selectOption('#new-maintenance-repeat', repeat);
    if (widget) {
      await page.check('#new-maintenance-widgets');
      const box = page.locator('label[for^="new-maintenance-widget-"]', { hasText: widget }).first();
      await page.check(`#${await box.getAttribute('for')}`);
    }
    await Promise.all([page.waitForURL(outcome), page.click('form#new-maintenance button')]);
  };
  // A refusal marks its field and says why below it.
  await plan({ title: ' ', startsMs: Date.now(), minutes: 30, repeat: 'once', outcome: /error=bad_maintenance_title/ });
  assert.equal(await page.getAttribute('#new-maintenance-title', 'aria-invalid'), 'true');
  await plan({
    title: 'Boiler sensor swap', startsMs: Date.now() - 5 * 60_000, minutes: 60, repeat: 'once',
    widget: 'Boiler today', outcome: /done=maintenance_planned$/,
  });
  await plan({
    title: 'Weekly backup', startsMs: Date.now() + 2 * 86_400_000, minutes: 30, repeat: 'weekly',
    outcome: /done=maintenance_planned$/,
  });
  assert.equal(await page.locator('tr[data-maintenance]').count(), 2);
  assert.match(await page.locator('tr[data-maintenance]').first().innerText(), /In effect until/);

  const visitor = await browser.newContext({ javaScriptEnabled: false });
  const status = await visitor.newPage();
  const visitorErrors = collectErrors(status);
  await status.goto(`${lookout.url}/status/${slug}`);
  const now = status.locator('section.maintenance-now article.maintenance');
  assert.equal(await now.count(), 1);
  assert.match(await now.innerText(), /Boiler sensor swap/);
  assert.match(await now.innerText(), /Affects: Boiler today\./);
  const planned = status.locator('section.maintenance-planned article.maintenance');
  assert.match(await planned.innerText(), /Weekly backup/);
  assert.match(await planned.innerText(), /every week/);
  assert.match(await planned.innerText(), /The whole page\./);
  // Only the covered widget says so.
  const badges = status.locator('[data-under-maintenance]');
  assert.equal(await badges.count(), 1);
  const covered = await badges.first().locator('xpath=..').locator('h2').innerText();
  assert.equal(covered, 'Boiler today');
  assert.deepEqual(errors, []);
  assert.deepEqual(visitorErrors, []);
  await admin.close();
  await visitor.close();
});
