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

/** Waits until the server on @port answers and is the process @proc (not
 * another test's server that took the port first). */
async function waitPing(port, proc, timeout = 8000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`redis-server on ${port} exited (port taken?)`);
    const r = spawnSync('redis-cli', ['-p', String(port), 'INFO', 'server'], { encoding: 'utf8', timeout: 2000 });
    const pid = /process_id:(\d+)/.exec(r.stdout ?? '')?.[1];
    if (pid !== undefined) {
      if (Number(pid) === proc.pid) return;
      throw new Error(`port ${port} is used by another redis-server (pid ${pid})`);
    }
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
      await waitPing(port, proc);
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
      return (spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 3000 }).stdout ?? '').trim();
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
  await waitPing(port, proc);
  return {
    port,
    pid: proc.pid,
    cli(...args) {
      return (spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 3000 }).stdout ?? '').trim();
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

/** A client of @node's admin socket (docs/admin-protocol.md): request()
 * answers a request; events collects pushed events with their arrival time. */
export async function adminClient(node) {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(`ws+unix://${node.adminSocket}:/admin`);
  await once(ws, 'open');
  const replies = new Map();
  const events = [];
  let id = 0;
  ws.on('message', (m) => {
    const v = JSON.parse(m);
    if (v.id !== undefined) replies.set(v.id, v);
    else if (v.event !== undefined) events.push({ ...v, at: Date.now() });
  });
  const request = async (type, params) => {
    const n = ++id;
    ws.send(JSON.stringify(params === undefined ? { id: n, type } : { id: n, type, params }));
    await waitUntil(() => replies.has(n), { what: `${type} reply` });
    const r = replies.get(n);
    replies.delete(n);
    if (r.error !== undefined) throw new Error(`${type}: ${JSON.stringify(r.error)}`);
    return r.result;
  };
  await request('hello', { protocol: 1 });
  return { request, events, close: () => ws.close() };
}
