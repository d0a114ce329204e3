// Starts the real lookout binary against a fresh database and the real broker, publishes with
// mosquitto_pub (a device of its own), and launches Debian's Chromium.

import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const root = path.resolve(import.meta.dirname, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
const binary = process.env.LOOKOUT_BIN ?? path.join(targetDir, 'debug', 'lookout');
const adminUrl = process.env.LOOKOUT_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const broker = new URL(process.env.LOOKOUT_MQTT_URL ?? 'mqtt://127.0.0.1:1883');

export function uniqueName(kind) {
  return `${kind}_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
}

export function freshDatabase() {
  const name = uniqueName('lookout_test');
  execFileSync('psql', [adminUrl, '-qc', `create database ${name}`]);
  return adminUrl.replace(/\/[^/]*$/, `/${name}`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts `lookout serve` and resolves once it answers HTTP; `env` adds settings. By default the
 * debug binary runs in the checkout and serves the site cargo-leptos built under target/site;
 * `binary`, `cwd` and `siteRoot: null` run another binary elsewhere with no site on disk;
 * `databaseUrl` starts another instance on an existing database.
 */
export async function startLookout({
  prefix,
  databaseUrl = freshDatabase(),
  env = {},
  binary: program = binary,
  cwd = root,
  siteRoot = path.join(root, 'target', 'site'),
}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let logs = '';
  const settings = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    LOOKOUT_LISTEN: `127.0.0.1:${port}`,
    LOOKOUT_MQTT_URL: broker.href,
    LOOKOUT_MQTT_CLIENT_ID: uniqueName('lookout'),
    LOOKOUT_MQTT_SUBSCRIPTIONS: `${prefix}/#`,
    RUST_LOG: 'warn',
    ...env,
  };
  if (siteRoot === null) delete settings.LEPTOS_SITE_ROOT;
  else settings.LEPTOS_SITE_ROOT = siteRoot;
  const child = spawn(program, ['serve'], { cwd, env: settings, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk) => (logs += chunk));
  child.stderr.on('data', (chunk) => (logs += chunk));
  let exited = null;
  child.on('exit', (code) => (exited = code));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`lookout exited with ${exited}:\n${logs}`);
    try {
      if ((await fetch(url)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`lookout did not answer on ${url}:\n${logs}`);
    await sleep(100);
  }
  return {
    url,
    logs: () => logs,
    /** Adds a user with `lookout user add`, the password given on stdin; returns the password. */
    addUser: (name, role) => {
      const password = `${name}-${uniqueName('pw')}`;
      execFileSync(program, ['user', 'add', name, '--role', role], {
        env: { ...process.env, DATABASE_URL: databaseUrl, RUST_LOG: 'error' },
        input: `${password}\n`,
      });
      return password;
    },
    stop: async () => {
      if (exited !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

export function publish(topic, payload, { qos = 1, retain = false } = {}) {
  const args = ['-h', broker.hostname, '-p', broker.port || '1883', '-t', topic, '-m', payload, '-q', String(qos)];
  if (retain) args.push('-r');
  execFileSync('mosquitto_pub', args);
}

/**
 * A device of its own, as a switch has: waits for one command on `command` and reports it back
 * as its state on `state`. `listening` resolves once the broker confirmed its subscription,
 * `answered` with the command once it was reported.
 */
export function deviceAnswering(command, state) {
  const args = ['-h', broker.hostname, '-p', broker.port || '1883', '-t', command, '-C', '1', '-q', '1', '-d'];
  // Line-buffered: piped, its log would otherwise wait in a buffer until it exits.
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let heard;
  const listening = new Promise((resolve) => (heard = resolve));
  child.stdout.on('data', (chunk) => {
    output += chunk;
    if (output.includes('SUBACK')) heard();
  });
  const answered = new Promise((resolve) => {
    child.on('exit', () => {
      // With -d the payload is the first line after the log of the PUBLISH that is not a log line.
      const lines = output.split('\n');
      const after = lines.slice(lines.findIndex((line) => line.includes('received PUBLISH')) + 1);
      const payload = after.find((line) => !line.startsWith('Client '));
      publish(state, payload);
      resolve(payload);
    });
  });
  return { listening, answered, stop: () => child.kill() };
}

export async function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Records console errors and uncaught exceptions of a page. */
export function collectErrors(page) {
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  // Every page carries a policy of its own (the one for everything else allows no script): name
  // the document that did not, since the console only says what its policy blocked.
  page.on('response', (response) => {
    if (response.request().resourceType() !== 'document') return;
    const headers = response.headers();
    if (!(headers['content-type'] ?? '').startsWith('text/html')) return;
    const policy = headers['content-security-policy'] ?? '';
    if (!policy.includes('script-src')) {
      errors.push(`${response.status()} ${response.url()} came with the policy "${policy}"`);
    }
  });
  return errors;
}

/** Logs in through the login form, as a person would. */
export async function logIn(page, baseUrl, name, password) {
  await page.goto(`${baseUrl}/login`);
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith('/login')), page.click('form.login-form button[type="submit"]')]);
}
