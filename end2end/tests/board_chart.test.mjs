// A board's chart of several series (issue 21). An admin adds one with the editor's forms and
// JavaScript off: two rooms' temperatures, on topics made public on the rules page. A visitor
// without JavaScript sees both series on one drawing and switches its range with the radio
// buttons (CSS alone shows the drawing of the range checked); with JavaScript the visitor zooms
// into a stretch of time by dragging across the drawing or with the buttons, and resets it,
// without a request to the server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLookout, launchChromium, collectErrors, uniqueName, logIn, publish } from './support.mjs';

const prefix = uniqueName('chart');
const slug = `rooms-${process.pid}`;
let lookout;
let browser;
let adminPassword;

before(async () => {
  lookout = await startLookout({ prefix });
  adminPassword = lookout.addUser('chief', 'admin');
  browser = await launchChromium();
  publish(`${prefix}/kitchen`, JSON.stringify({ temperature: 21.5 }));
  publish(`${prefix}/hall`, JSON.stringify({ temperature: 18.25 }));
});

after(async () => {
  await browser?.close();
  await lookout?.stop();
});

test('an admin adds a chart of two series by forms without JavaScript', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await logIn(page, lookout.url, 'chief', adminPassword);
  await page.goto(`${lookout.url}/admin/rules`);
  await page.selectOption('select[name="role"][form="new-rule"]', 'public');
  await page.fill('input[name="filter"][form="new-rule"]', `${prefix}/#`);
  await Promise.all([page.waitForURL(/\?done=rule_added$/), page.click('form#new-rule button')]);
  await page.goto(`${lookout.url}/admin/pages`);
  await page.fill('input[name="slug"]', slug);
  await page.fill('input[name="title"]', 'Rooms');
  await Promise.all([page.waitForURL(/\/admin\/pages\/\d+\?done=page_added$/), page.click('text=Create draft')]);
  const form = page.locator('form#new-widget');
  await form.locator('select[name="kind"]').selectOption('chart');
  await form.locator('input[name="label"]').fill('Temperatures');
  await form.locator('input[name="unit"]').fill('°C');
  await form.locator('select[name="range"]').selectOption('1h');
  // A wildcard is refused, with the reason next to the rows.
  await form.locator('input[name="series_label_1"]').fill('Kitchen');
  await form.locator('input[name="series_topic_1"]').fill(`${prefix}/+`);
  await Promise.all([page.waitForURL(/error=bad_chart_series_topic/), form.locator('button[type="submit"]').click()]);
  assert.match(await page.locator('form#new-widget .chart-series').innerText(), /no \+ or #/);
  const again = page.locator('form#new-widget');
  await again.locator('select[name="kind"]').selectOption('chart');
  await again.locator('input[name="label"]').fill('Temperatures');
  await again.locator('input[name="unit"]').fill('°C');
  await again.locator('select[name="range"]').selectOption('1h');
  const rows = [['Kitchen', 'kitchen'], ['Hall', 'hall']];
  for (const [index, [label, room]] of rows.entries()) {
    await again.locator(`input[name="series_label_${index + 1}"]`).fill(label);
    await again.locator(`input[name="series_topic_${index + 1}"]`).fill(`${prefix}/${room}`);
    await again.locator(`input[name="series_pointer_${index + 1}"]`).fill('/temperature');
  }
  await Promise.all([page.waitForURL(/done=widget_added$/), again.locator('button[type="submit"]').click()]);
  const settings = page.locator('form.page-settings');
  await settings.locator('input[name="published"]').check();
  await Promise.all([page.waitForURL(/done=page_changed$/), settings.locator('button[type="submit"]').click()]);
  await context.close();
});

test('without JavaScript the chart shows both series and its range picker switches ranges', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${lookout.url}/status/${slug}`);
  const chart = page.locator('section.widget-chart');
  const hour = chart.locator('.chart-view[data-range="1h"]');
  const week = chart.locator('.chart-view[data-range="7d"]');
  assert.ok(await hour.isVisible(), 'the range the admin chose shows first');
  assert.ok(!(await week.isVisible()), 'the other ranges wait their turn');
  assert.equal(await hour.locator('svg.time-chart').count(), 1);
  assert.equal(await hour.locator('.point.series-0, .line.series-0').count() > 0, true);
  assert.equal(await hour.locator('.point.series-1, .line.series-1').count() > 0, true);
  const legend = await chart.locator('.chart-legend').innerText();
  assert.match(legend, /Kitchen: 21\.5 °C/);
  assert.match(legend, /Hall: 18\.25 °C/);
  await chart.locator('label', { hasText: '7 d' }).click();
  assert.ok(await week.isVisible(), 'choosing 7 d shows its drawing');
  assert.ok(!(await hour.isVisible()));
  assert.match(await week.locator('figcaption').innerText(), /Last 7 d/);
  await context.close();
});

test('with JavaScript a drag or the buttons zoom into the chart, and reset restores it', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = collectErrors(page);
  const requests = [];
  await page.goto(`${lookout.url}/status/${slug}`);
  const view = page.locator('section.widget-chart .chart-view[data-range="1h"]');
  const area = view.locator('svg.plot-area');
  const labels = () => view.locator('g.time-ticks text').allInnerTexts();
  assert.equal(await area.getAttribute('viewBox'), '0 0 100 100');
  const before = await labels();
  page.on('request', (request) => requests.push(request.url()));

  await view.locator('button', { hasText: 'Zoom in' }).click();
  const zoomed = await area.getAttribute('viewBox');
  const [, , width] = zoomed.split(' ').map(Number);
  assert.ok(width > 40 && width < 60, `half the range: ${zoomed}`);
  assert.match(await view.locator('.chart-zoom output').innerText(), /^Showing \d\d:\d\d to \d\d:\d\d UTC\.$/);
  assert.notDeepEqual(await labels(), before, 'the time labels follow the window');

  await view.locator('button', { hasText: 'Reset zoom' }).click();
  assert.equal(await area.getAttribute('viewBox'), '0 0 100 100');
  assert.deepEqual(await labels(), before);

  // A drag across the middle fifth of the drawing shows about that fifth.
  const box = await view.locator('[data-chart-plot]').boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.4, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, y, { steps: 4 });
  await page.mouse.move(box.x + box.width * 0.6, y, { steps: 4 });
  await page.mouse.up();
  const dragged = (await area.getAttribute('viewBox')).split(' ').map(Number);
  assert.ok(dragged[2] > 15 && dragged[2] < 25, `a fifth: ${dragged}`);
  assert.ok(dragged[0] > 35 && dragged[0] < 45, `from the middle: ${dragged}`);
  await view.locator('button', { hasText: 'Zoom out' }).click();
  const out = (await area.getAttribute('viewBox')).split(' ').map(Number);
  assert.ok(out[2] > dragged[2] * 1.5, `zoomed out: ${out}`);

  assert.deepEqual(requests.filter((url) => !url.endsWith('.json')), [], 'zoom asks the server nothing');
  assert.deepEqual(errors, []);
  await context.close();
});
