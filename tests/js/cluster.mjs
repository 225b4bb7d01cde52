// Helpers for the multi-node tests: a real redis-server (and Sentinel) on
// loopback ports, several crierd nodes sharing it, API calls. Every
// process is started here and stopped by its PID.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCrierd } from './crierd.mjs';

export const API_KEY = 'crier-cluster-test-api-key';
export const SECRET = 'crier-cluster-test-secret';

export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** A free loopback TCP port below 32768 (outside the ephemeral range). */
export async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const ok = await new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port');
}

async function waitPing(port, timeout = 5000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    const r = spawnSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8' });
    if (r.stdout && r.stdout.trim() === 'PONG') return;
    await sleep(50);
  }
  throw new Error(`redis on ${port} did not answer`);
}

/** redis-server on 127.0.0.1:@port (fresh when port is omitted). */
export async function startRedis({ port, extra = [] } = {}) {
  port ??= await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'crier-redis-'));
  let proc;
  const r = {
    port,
    dir,
    get pid() { return proc.pid; },
    async start() {
      proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
        '--appendonly', 'no', '--dir', dir, ...extra], { stdio: 'ignore' });
      await waitPing(port);
    },
    signal(sig) { if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, sig); },
    async stop(sig = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((resolve) => proc.once('exit', resolve));
        process.kill(proc.pid, sig);
        await gone;
      }
    },
    cli(...args) {
      return spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();
    },
    cleanup() { rmSync(dir, { recursive: true, force: true }); },
  };
  await r.start();
  return r;
}

/** A Sentinel watching master @name at 127.0.0.1:@masterPort. */
export async function startSentinel(masterPort, name = 'crier') {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'crier-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [
    `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
    `sentinel down-after-milliseconds ${name} 1000`,
    `sentinel failover-timeout ${name} 5000`,
    `sentinel parallel-syncs ${name} 1`, '',
  ].join('\n'));
  const proc = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  await waitPing(port);
  return {
    port,
    pid: proc.pid,
    cli(...args) {
      return spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((resolve) => proc.once('exit', resolve));
        process.kill(proc.pid, 'SIGKILL');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Channel settings every node shares: history for recovery, presence. */
export const NODE_SETTINGS = [
  `auth.hmac_secret=${SECRET}`,
  `auth.api_keys=${API_KEY}`,
  'channels.history_size=1000',
  'channels.history_ttl=5m',
  'channels.force_recovery=true',
  'channels.presence=true',
  'channels.allow_presence=true',
  'auth.allow_anonymous=true',
  'server.drain_timeout=1s',
];

export async function startNode(name, broker, extra = []) {
  return startCrierd([...NODE_SETTINGS, `server.node_name=${name}`, ...broker, ...extra]);
}

export async function api(node, method, params, { allowError = false } = {}) {
  const r = await fetch(node.url('http', `/api/${method}`), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': API_KEY },
    body: JSON.stringify(params),
  });
  const body = await r.json().catch(() => ({}));
  if (!allowError && (r.status !== 200 || body.error !== undefined))
    throw new Error(`${method}: HTTP ${r.status} ${JSON.stringify(body)}`);
  return { status: r.status, ...body };
}

export async function health(node, path = '/healthz') {
  try {
    const r = await fetch(node.url('http', path), { signal: AbortSignal.timeout(2000) });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 0;
  }
}

export async function waitUntil(fn, { timeout = 10000, what = 'condition', every = 25 } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

export function once(emitter, event, timeout = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), timeout);
    emitter.once(event, (ctx) => { clearTimeout(timer); resolve(ctx); });
  });
}
