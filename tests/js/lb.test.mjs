// Two crierd nodes sharing Redis behind a real load balancer, configured
// from the shipped examples data/nginx-crier.conf and data/haproxy-crier.cfg
// (ports substituted): WebSocket, SSE (the SDK, whose /emulation POSTs
// land on either node) and long-poll clients through the proxy all get a
// publication made through the proxy, the long polls exactly once and in
// order.  No sticky sessions: each node's /api/info shows sessions on both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { have, freePort, startRedis, startNode, api, waitUntil, once, SECRET } from './cluster.mjs';
import { hs256, nowSeconds } from './jwt.mjs';

const { Centrifuge } = await import('centrifuge');
const { EventSource } = await import('eventsource');
const { default: WebSocket } = await import('ws');

const dataDir = new URL('../../data/', import.meta.url).pathname;
const noRedis = !have('redis-server') || !have('redis-cli');
let redis;
const nodes = [];

before(async () => {
  if (noRedis) return;
  redis = await startRedis();
  const broker = [`broker.redis=127.0.0.1:${redis.port}`];
  for (const name of ['lb-1', 'lb-2']) nodes.push(await startNode(name, broker));
  await sleep(2500);   // both registered (emulation forwarding knows the other node)
});

after(async () => {
  for (const n of nodes) await n.stop('SIGKILL');
  if (redis) { await redis.stop(); redis.cleanup(); }
});

/** Starts @cmd on a config made from @template; stopped by PID. */
async function startProxy(kind) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `crier-${kind}-`));
  const template = readFileSync(join(dataDir, kind === 'nginx' ? 'nginx-crier.conf' : 'haproxy-crier.cfg'), 'utf8');
  const conf = template
    .replaceAll('@LISTEN@', `127.0.0.1:${port}`)
    .replaceAll('@NODE1@', `127.0.0.1:${nodes[0].port}`)
    .replaceAll('@NODE2@', `127.0.0.1:${nodes[1].port}`)
    .replaceAll('@PREFIX@', dir);
  const file = join(dir, kind === 'nginx' ? 'nginx.conf' : 'haproxy.cfg');
  writeFileSync(file, conf);
  const args = kind === 'nginx' ? ['nginx', ['-p', dir, '-c', file]] : ['haproxy', ['-db', '-f', file]];
  if (kind === 'nginx') mkdirSync(join(dir, 'logs'), { recursive: true });
  const proc = spawn(args[0], args[1], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const url = (scheme, path) => `${scheme}://127.0.0.1:${port}${path}`;
  await waitUntil(async () => {
    const r = await fetch(url('http', '/healthz')).catch(() => null);
    if (r) await r.arrayBuffer();
    return r?.status === 200;
  }, { what: `${kind} up: ${log}`, timeout: 8000, every: 100 });
  return {
    url,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((resolve) => proc.once('exit', resolve));
        process.kill(proc.pid, 'SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function sdk(proxy, transport, user) {
  const path = { websocket: '/connection/websocket', sse: '/connection/sse', http_stream: '/connection/http_stream' }[transport];
  return new Centrifuge([{ transport, endpoint: proxy.url(transport === 'websocket' ? 'ws' : 'http', path) }], {
    token: hs256({ sub: user, exp: nowSeconds() + 3600 }, SECRET),
    websocket: WebSocket,
    eventsource: EventSource,
    emulationEndpoint: proxy.url('http', '/emulation'),
  });
}

for (const kind of ['nginx', 'haproxy']) {
  const skip = noRedis ? 'redis-server not installed' : !have(kind) ? `${kind} not installed` : false;
  test(`${kind}: WebSocket, SSE, HTTP streaming and long-poll clients through two nodes`, { skip, timeout: 60000 }, async () => {
    const proxy = await startProxy(kind);
    const ch = `lb-${kind}`;
    const clients = [];
    const gots = [];
    try {
      for (const [i, transport] of ['websocket', 'websocket', 'sse', 'sse', 'http_stream', 'http_stream'].entries()) {
        const c = sdk(proxy, transport, `u${i}`);
        const sub = c.newSubscription(ch);
        const got = [];
        sub.on('publication', (p) => got.push(p.data.n));
        const ok = once(sub, 'subscribed');
        c.connect();
        sub.subscribe();
        await ok;
        clients.push(c);
        gots.push([transport, got]);
      }
      // Round robin, no stickiness: the SDK sessions are spread over both
      // nodes (each node's own /api/info counts its sessions).
      const perNode = [];
      for (const n of nodes) perNode.push((await api(n, 'info', {})).result.nodes[0].num_clients);
      assert.ok(perNode.every((c) => c > 0), `sessions on both nodes (${perNode})`);
      // Long polls through the proxy (cursor in ETag / If-None-Match),
      // each request to whichever node the proxy picks.
      const polled = [];
      let polls = 0;
      let stop = false;
      const poller = (async () => {
        let etag = null;
        while (!stop) {
          const r = await fetch(proxy.url('http', `/sub/${ch}`), { headers: etag ? { 'If-None-Match': etag } : {} })
            .catch(() => null);
          if (r === null) break;
          polls++;
          etag = r.headers.get('etag') ?? etag;
          if (r.status === 200) for (const m of await r.json()) polled.push(m.data?.n ?? m.n);
          else await r.arrayBuffer();
        }
      })();
      await sleep(300);
      for (let n = 1; n <= 10; n++) {
        const r = await fetch(proxy.url('http', '/api/publish'), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-API-Key': 'crier-cluster-test-api-key' },
          body: JSON.stringify({ channel: ch, data: { n } }),
        });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      }
      const want = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
      for (const [transport, got] of gots) {
        await waitUntil(() => got.length === 10, { what: `10 on ${transport}` });
        assert.deepEqual(got, want, transport);
      }
      await waitUntil(() => polled.length >= 10, { what: '10 long-polled' });
      // Exactly once, in order, whichever node answered each poll.
      assert.deepEqual(polled.filter((n) => n <= 10), want);
      stop = true;
      await api(nodes[0], 'publish', { channel: ch, data: { n: 11 } });
      await poller;
      assert.ok(polls >= 2, `several long polls (${polls})`);
    } finally {
      for (const c of clients) c.disconnect();
      await proxy.stop();
    }
  });
}
