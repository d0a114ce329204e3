// What the browser benchmarks (bench/explorer, bench/boards) share: a publisher of exactly timed
// markers, the load generator for a step, CPU shares from /proc, and a wait for a quiet machine.

import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** A minimal MQTT 3.1.1 client that only publishes at QoS 0: markers with an exact send time. */
export async function mqttPublisher(port, name) {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.setNoDelay(true);
  const u16 = (n) => Buffer.from([n >> 8, n & 255]);
  const str = (text) => Buffer.concat([u16(Buffer.byteLength(text)), Buffer.from(text)]);
  const length = (n) => {
    const bytes = [];
    do {
      let byte = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) byte |= 128;
      bytes.push(byte);
    } while (n > 0);
    return Buffer.from(bytes);
  };
  const packet = (type, body) => Buffer.concat([Buffer.from([type]), length(body.length), body]);
  // Protocol level 4, clean session, no keep-alive (it only ever writes).
  const connect = Buffer.concat([str('MQTT'), Buffer.from([4, 2, 0, 0]), str(`${name}-${process.pid}`)]);
  socket.write(packet(0x10, connect));
  const [connack] = await once(socket, 'data');
  if (connack[0] !== 0x20 || connack[3] !== 0) throw new Error(`the broker refused: ${connack.toString('hex')}`);
  return {
    publish: (topic, payload) => socket.write(packet(0x30, Buffer.concat([str(topic), Buffer.from(payload)]))),
    close: () => socket.end(),
  };
}

/** CPU ticks (user + system) of processes from /proc, and of the whole machine. */
export function cpuTicks(namedPids) {
  const procs = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      procs.set(Number(entry), { ppid: Number(fields[1]), comm, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // gone meanwhile
    }
  }
  const under = (root, skip = () => false) => {
    let ticks = 0;
    for (const [pid, proc] of procs) {
      if (skip(proc)) continue;
      for (let p = pid; p > 1 && procs.has(p); p = procs.get(p).ppid) {
        if (p === root) {
          ticks += proc.ticks;
          break;
        }
      }
    }
    return ticks;
  };
  const result = {};
  for (const [name, pid] of Object.entries(namedPids)) result[name] = under(pid);
  // Chromium is what this process started, less the load generator and this process itself.
  result.chromium = under(process.pid, (proc) => proc.comm === 'ingest-bench') - procs.get(process.pid).ticks;
  result.driver = procs.get(process.pid).ticks;
  result.publisher = [...procs.values()].filter((p) => p.comm === 'ingest-bench').reduce((a, p) => a + p.ticks, 0);
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + cpu[4];
  result.machine_busy = cpu.reduce((a, b) => a + b, 0) - idle;
  return result;
}

export function cpuShares(before, after, seconds, publisherTicks) {
  const hz = 100; // USER_HZ, as /proc reports ticks
  const shares = {};
  for (const name of Object.keys(after)) {
    if (name === 'machine_busy') continue;
    shares[name] = (after[name] - before[name]) / hz / seconds;
  }
  // The publisher exits before the step ends, and its ticks with it: it reports them itself.
  if (publisherTicks !== undefined) shares.publisher = publisherTicks / hz / seconds;
  shares.machine = (after.machine_busy - before.machine_busy) / hz / seconds;
  return shares;
}

/** Runs the load generator (bench/ingest's `publish`) for one step; resolves with its report and
 * the CPU ticks it used. */
export function publishLoad({ publisher, mqttPort, rate, count, topics, groups, seqBase }) {
  const child = spawn(publisher, [
    'publish', '--mqtt-port', String(mqttPort), '--rate', String(rate), '--count', String(count),
    '--topics', String(topics), '--groups', String(groups), '--seq-base', String(seqBase),
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  const before = { ticks: 0 };
  const pid = child.pid;
  // Its CPU, read just before it exits (its ticks leave /proc with it).
  const timer = setInterval(() => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      before.ticks = Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }, 200);
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`the publisher exited with ${code}`));
      else resolve({ ...JSON.parse(output), ticks: before.ticks });
    });
  });
}

/** Cores the machine is busy over `ms`, from /proc/stat. */
async function machineBusy(ms) {
  const busy = () => {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return cpu.reduce((a, b) => a + b, 0) - cpu[3] - cpu[4];
  };
  const before = busy();
  await sleep(ms);
  return (busy() - before) / 100 / (ms / 1000);
}

/** Waits (up to BENCH_QUIET_WAIT_S) for a moment when the machine's other work leaves it nearly
 * idle, since the cores are shared; returns how long it waited and how busy it was then. */
export async function waitForQuiet() {
  const patience = Number(process.env.BENCH_QUIET_WAIT_S ?? 300) * 1000;
  const started = Date.now();
  let busy;
  do {
    busy = await machineBusy(3000);
  } while (busy > 0.25 && Date.now() - started < patience);
  const waited = (Date.now() - started) / 1000;
  console.error(`bench: machine ${busy.toFixed(2)} cores busy after waiting ${waited.toFixed(0)} s for quiet`);
  return { waitedS: waited, busyCores: busy };
}
