// The look of every page, in a real Chromium, as a phone, a tablet and a desktop show it: no
// page is wider than the screen at 320, 375, 768 and 1280 px, every control is big enough for a
// finger, axe-core finds no accessibility violation in the light theme nor the dark one, and the
// theme buttons work without JavaScript and are remembered. A screenshot of each page in each
// theme, at phone and desktop width, goes to end2end/test-results/look/ for people to review.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startLookout, launchChromium, collectErrors, uniqueName, logIn, publish, root } from './support.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const shots = path.join(root, 'end2end', 'test-results', 'look');
const prefix = uniqueName('look');
const slug = `look-${process.pid}`;
const WIDTHS = [320, 375, 768, 1280];
const THEMES = ['light', 'dark'];
let lookout;
let browser;
let password;
let editorPath;

before(async () => {
  mkdirSync(shots, { recursive: true });
  lookout = await startLookout({ prefix });
  password = lookout.addUser('chief', 'admin');
  browser = await launchChromium();
  // Long names and payloads are what push a page wider than a phone.
  publish(`${prefix}/plant/boiler`, JSON.stringify({ temp: 71.5, pressure: 1.2 }));
  publish(`${prefix}/plant/a-rather-long-topic-name-that-no-phone-can-show-on-one-line/reading`, '12.5');
  publish(`${prefix}/plant/log`, 'x'.repeat(400));
  for (const value of [20, 21.5, 22, 21]) publish(`${prefix}/plant/temperature`, String(value));

  // A published status page with one widget of each kind, built through the editor's forms.
  const context = await browser.newContext();
  const page = await context.newPage();
  await logIn(page, lookout.url, 'chief', password);
  await page.goto(`${lookout.url}/admin/rules`);
  await page.selectOption('select[name="role"][form="new-rule"]', 'public');
  await page.fill('input[name="filter"][form="new-rule"]', `${prefix}/plant/#`);
  await Promise.all([page.waitForURL(/\?done=rule_added$/), page.click('form#new-rule button')]);
  // A device rule, so the page can show the boiler's uptime.
  await page.goto(`${lookout.url}/admin/devices`);
  const cell = (name) => page.locator(`input[form="new-device-rule"][name="${name}"]`);
  await cell('name').fill('Plant');
  await cell('filter').fill(`${prefix}/plant/+`);
  await cell('interval').fill('60');
  await Promise.all([page.waitForURL(/done=device_rule_added$/), page.locator('form#new-device-rule button[type="submit"]').click()]);
  // A channel and a rule, so the alerts page shows one of each.
  await page.goto(`${lookout.url}/admin/alerts`);
  await page.click('summary:has-text("Add a channel")');
  await page.fill('[form="new-channel"][name="name"]', 'Operations chat');
  await page.fill('[form="new-channel"][name="url"]', 'https://hooks.example.com/services/a-rather-long-token-of-the-chat-service');
  await Promise.all([page.waitForURL(/done=channel_added$/), page.click('form#new-channel button')]);
  await page.click('summary:has-text("Add a rule")');
  await page.fill('[form="new-alert-rule"][name="name"]', 'Boiler too hot');
  await page.fill('[form="new-alert-rule"][name="topics"]', `${prefix}/plant/boiler`);
  await page.fill('[form="new-alert-rule"][name="pointer"]', '/temp');
  await page.fill('[form="new-alert-rule"][name="trigger"]', '90');
  await page.check('[form="new-alert-rule"][name="channel"]');
  await Promise.all([page.waitForURL(/done=alert_rule_added$/), page.click('form#new-alert-rule button')]);
  await page.goto(`${lookout.url}/admin/pages`);
  await page.fill('input[name="slug"]', slug);
  await page.fill('input[name="title"]', 'Plant look');
  await Promise.all([page.waitForURL(/\/admin\/pages\/\d+\?done=page_added$/), page.click('text=Create draft')]);
  editorPath = new URL(page.url()).pathname;
  const widgets = [
    { kind: 'value', label: 'Boiler', topic: `${prefix}/plant/boiler`, pointer: '/temp', unit: '°C' },
    { kind: 'status', label: 'Boiler health', topic: `${prefix}/plant/boiler`, pointer: '/temp', degraded_at: '60', down_at: '80' },
    { kind: 'sparkline', label: 'Temperature', topic: `${prefix}/plant/temperature`, unit: '°C' },
    { kind: 'history', label: 'Temperature history', topic: `${prefix}/plant/temperature`, unit: '°C' },
    { kind: 'last_seen', label: 'Log', topic: `${prefix}/plant/log` },
    { kind: 'table', label: 'Everything', topic: `${prefix}/plant/#` },
    { kind: 'uptime_bar', label: 'Boiler, 90 days', device: 'boiler' },
    { kind: 'uptime', label: 'Boiler uptime', device: 'boiler' },
  ];
  for (const fields of widgets) {
    const form = page.locator('form#new-widget');
    await form.locator('select[name="kind"]').selectOption(fields.kind);
    for (const name of ['label', 'topic', 'pointer', 'unit', 'degraded_at', 'down_at', 'device']) {
      await form.locator(`input[name="${name}"]`).fill(fields[name] ?? '');
    }
    await Promise.all([page.waitForURL(/done=widget_added$/), form.locator('button[type="submit"]').click()]);
  }
  await page.check('input[name="published"]');
  await Promise.all([page.waitForURL(/done=page_changed$/), page.click('text=Save page')]);
  // An open incident, so the page shows one on top (and the editor its update form).
  await page.fill('[form="new-incident"][name="title"]', 'Readings from the boiler room are delayed');
  await page.fill('[form="new-incident"][name="message"]', 'We are looking into it.\nNext update within the hour.');
  await Promise.all([page.waitForURL(/done=incident_opened$/), page.click('form#new-incident button')]);
  // Maintenance in effect over one widget and one planned, so both sections and the widget's
  // badge are looked at too (and the editor lists them).
  for (const [title, startsMs, widget] of [
    ['Boiler sensor swap', Date.now() - 60_000, 'Boiler health'],
    ['Weekly backup', Date.now() + 86_400_000, null],
  ]) {
    await page.fill('#new-maintenance-title', title);
    await page.fill('#new-maintenance-starts', new Date(startsMs).toISOString().slice(0, 16));
    if (widget) {
      await page.check('#new-maintenance-widgets');
      const box = page.locator('label[for^="new-maintenance-widget-"]', { hasText: widget }).first();
      await page.check(`#${await box.getAttribute('for')}`);
    }
    await Promise.all([page.waitForURL(/done=maintenance_planned$/), page.click('form#new-maintenance button')]);
  }
  await context.close();
});

after(async () => {
  await browser?.close();
  await lookout?.stop();
});

/** Every page, and whether it is seen signed in (as the admin, who may see them all). */
function pages() {
  return [
    { name: 'overview', path: '/', signedIn: true },
    { name: 'explorer', path: '/topics', signedIn: true },
    { name: 'devices', path: '/devices', signedIn: true },
    { name: 'topic', path: `/topic/${prefix}/plant/temperature`, signedIn: true },
    { name: 'publish', path: '/publish', signedIn: true },
    { name: 'users', path: '/admin/users', signedIn: true },
    { name: 'rules', path: '/admin/rules', signedIn: true },
    { name: 'device-rules', path: '/admin/devices', signedIn: true },
    { name: 'series', path: '/admin/series', signedIn: true },
    { name: 'status-pages', path: '/admin/pages', signedIn: true },
    { name: 'alerts', path: '/admin/alerts', signedIn: true },
    { name: 'incident-desk', path: '/incidents', signedIn: true },
    { name: 'status-editor', path: editorPath, signedIn: true },
    { name: 'not-found', path: '/no/such/page', signedIn: true },
    { name: 'login', path: '/login', signedIn: false },
    { name: 'login-failed', path: '/login?failed=1', signedIn: false },
    { name: 'status-page', path: `/status/${slug}`, signedIn: false },
    { name: 'incident-history', path: `/status/${slug}/incidents`, signedIn: false },
  ];
}

/** A browser context per theme and audience; the signed-in ones log in once. */
async function contextFor(theme, signedIn) {
  // The page's CSP allows only its own scripts; axe-core is injected by the test.
  const context = await browser.newContext({ colorScheme: theme, bypassCSP: true });
  if (signedIn) {
    const page = await context.newPage();
    await logIn(page, lookout.url, 'chief', password);
    await page.close();
  }
  return context;
}

async function open(page, path) {
  const response = await page.goto(`${lookout.url}${path}`, { waitUntil: 'load' });
  // Hydration and the first live update settle the layout.
  await page.waitForTimeout(400);
  return response;
}

/** What sticks out past the right edge of the viewport, for the failure message. */
async function overflow(page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll('body *')]
      .filter((element) => element.getBoundingClientRect().right > width + 0.5)
      .filter((element) => !element.closest('.topic-table, .admin-table, .device-table, .message-log, .status-table, .main-links, .admin-links, .explorer-rows'))
      .slice(0, 5)
      .map((element) => `${element.tagName.toLowerCase()}.${element.className} (${Math.round(element.getBoundingClientRect().right)} px)`);
    return { scrollWidth: document.documentElement.scrollWidth, width, wide };
  });
}

/** Controls smaller than a fingertip (44 × 44 CSS px): buttons, fields and navigation links. */
async function smallTargets(page) {
  return page.evaluate(() => {
    const controls = document.querySelectorAll(
      'button, select, input:not([type="hidden"]):not([type="checkbox"]):not([type="radio"]), textarea, ' +
        'nav a, .pager a, .ranges a, a.brand, a.account',
    );
    return [...controls]
      .filter((element) => {
        const box = element.getBoundingClientRect();
        return box.width > 0 && box.height > 0 && (box.height < 43.5 || box.width < 43.5);
      })
      .slice(0, 8)
      .map((element) => {
        const box = element.getBoundingClientRect();
        return `${element.tagName.toLowerCase()} "${(element.textContent || element.name || '').trim().slice(0, 30)}" ${Math.round(box.width)}×${Math.round(box.height)}`;
      });
  });
}

async function axeViolations(page) {
  await page.addScriptTag({ content: axeSource });
  return page.evaluate(async () => {
    const results = await window.axe.run(document, { resultTypes: ['violations'] });
    return results.violations.map(
      (violation) => `${violation.id}: ${violation.help} — ${violation.nodes.slice(0, 3).map((node) => node.target.join(' ')).join(', ')}`,
    );
  });
}

for (const theme of THEMES) {
  test(`every page fits phones to desktops and passes axe-core in the ${theme} theme`, async () => {
    const contexts = { true: await contextFor(theme, true), false: await contextFor(theme, false) };
    const problems = [];
    for (const { name, path: pagePath, signedIn } of pages()) {
      const page = await contexts[signedIn].newPage();
      const errors = collectErrors(page);
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: 800 });
        const response = await open(page, pagePath);
        const expected = name === 'not-found' ? 404 : 200;
        assert.equal(response.status(), expected, `${name}: ${response.status()}`);
        const { scrollWidth, width: shown, wide } = await overflow(page);
        if (scrollWidth > shown) problems.push(`${name} at ${width} px is ${scrollWidth} px wide: ${wide.join(', ')}`);
        if (width === 375) {
          const small = await smallTargets(page);
          if (small.length) problems.push(`${name} at 375 px has small targets: ${small.join('; ')}`);
        }
        if (width === 375 || width === 1280) {
          await page.screenshot({ path: path.join(shots, `${name}-${theme}-${width}.png`), fullPage: true });
        }
      }
      const violations = await axeViolations(page);
      if (violations.length) problems.push(`${name} (${theme}): ${violations.join('\n  ')}`);
      // The 404 page's own status is the one error it is meant to have.
      const unexpected = errors.filter((error) => name !== 'not-found' || !error.includes('status of 404'));
      if (unexpected.length) problems.push(`${name}: browser errors ${unexpected.join('; ')}`);
      await page.close();
    }
    await contexts.true.close();
    await contexts.false.close();
    assert.deepEqual(problems, [], problems.join('\n'));
  });
}

test('the theme buttons work without JavaScript, are remembered, and Auto follows the system', async () => {
  const context = await browser.newContext({ colorScheme: 'light', javaScriptEnabled: false });
  const page = await context.newPage();
  const scheme = () => page.evaluate(() => getComputedStyle(document.documentElement).colorScheme);
  const background = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  // A form posted back to the same address: waiting for the URL ends at once, so wait for what
  // the answer changes (reading it may meet the old page going away).
  const schemeBecomes = async (wanted) => {
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        if ((await scheme()) === wanted) return wanted;
      } catch {
        // the page is being replaced
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return scheme();
  };
  await page.goto(`${lookout.url}/status/${slug}`);
  const light = await background();
  assert.equal(await scheme(), 'light dark');

  await page.click('.status-footer button[value="dark"]');
  assert.equal(await schemeBecomes('dark'), 'dark');
  assert.notEqual(await background(), light, 'the dark theme has another background');
  // Remembered for this browser on every page, the dashboard's too.
  await page.goto(`${lookout.url}/login`);
  assert.equal(await scheme(), 'dark');

  await page.click('header button[value="system"]');
  assert.equal(await schemeBecomes('light dark'), 'light dark');
  assert.equal(await background(), light);
  await context.close();
});

test('the keyboard reaches every control in order and always shows where it is', async () => {
  const context = await browser.newContext({ colorScheme: 'dark' });
  const page = await context.newPage();
  await logIn(page, lookout.url, 'chief', password);
  for (const pagePath of ['/', `/status/${slug}`, '/admin/rules']) {
    await open(page, pagePath);
    const controls = await page.evaluate(
      () =>
        [...document.querySelectorAll('a[href], button, input:not([type="hidden"]), select, textarea')].filter(
          (element) => !element.disabled && element.getClientRects().length > 0 && element.tabIndex >= 0,
        ).length,
    );
    const seen = new Set();
    const unmarked = [];
    for (let step = 0; step < controls; step++) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => {
        const element = document.activeElement;
        if (!element || element === document.body) return null;
        const style = getComputedStyle(element);
        const marked = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
        const path = [];
        for (let node = element; node && node !== document.body; node = node.parentElement) {
          path.unshift(`${node.tagName}:${[...node.parentElement.children].indexOf(node)}`);
        }
        return { key: path.join('/'), marked, what: `${element.tagName.toLowerCase()} "${element.textContent.trim().slice(0, 30)}"` };
      });
      if (!focused) break;
      seen.add(focused.key);
      if (!focused.marked) unmarked.push(focused.what);
    }
    assert.deepEqual(unmarked, [], `${pagePath}: focus not shown on ${unmarked.join(', ')}`);
    assert.equal(seen.size, controls, `${pagePath}: Tab reached ${seen.size} of ${controls} controls`);
  }
  await context.close();
});
