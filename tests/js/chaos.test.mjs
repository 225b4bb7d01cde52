// Redis failures end to end (docs/cluster.md "Failure behaviour"): while a
// publisher runs at ~50/s through /api/publish round-robin over two nodes
// and recoverable subscribers (the centrifuge SDK over WebSocket) sit on
// both, Redis is (1) killed and restarted, (2) paused with SIGSTOP/SIGCONT,
// (3) failed over by Sentinel.  Afterwards every subscriber has every
// publication the API acknowledged, in order, or an explicit not-recovered
// signal (subscribed with wasRecovering && !recovered) after it: never a
// silent gap.  /healthz goes red during the outage and green after;
// publishes fail fast with an error while Redis is away.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { have, startRedis, startSentinel, startNode, api, health, waitUntil, once, SECRET } from './cluster.mjs';
import { hs256, nowSeconds } from './jwt.mjs';

const skip = !have('redis-server') || !have('redis-cli') ? 'redis-server not installed' : false;
const { Centrifuge } = await import('centrifuge');
const { default: WebSocket } = await import('ws');

const cleanups = [];
after(async () => {
  for (const f of cleanups.reverse()) await f().catch(() => {});
});

const FAST = ['broker.redis_connect_timeout=500ms', 'broker.redis_command_timeout=1s'];
const CH = 'chaos';

function subscriber(node, user) {
  const c = new Centrifuge(node.url('ws', '/connection/websocket'), {
    token: hs256({ sub: user, exp: nowSeconds() + 3600 }, SECRET),
    websocket: WebSocket,
    minReconnectDelay: 100,
    maxReconnectDelay: 400,
  });
  const s = { client: c, got: [], signals: [], subscribes: 0, name: `${user}@${node.port}` };
  const sub = c.newSubscription(CH);
  sub.on('publication', (p) => s.got.push({ n: p.data.n, offset: p.offset, at: Date.now() }));
  sub.on('subscribed', (ctx) => {
    s.subscribes++;
    if (ctx.wasRecovering && !ctx.recovered) s.signals.push(Date.now());
  });
  s.ready = once(sub, 'subscribed');
  c.connect();
  sub.subscribe();
  return s;
}

/** Publishes {n} every 20 ms, round-robin; records what was acknowledged. */
function publisher(nodes) {
  const p = { acked: [], failed: 0, failures: [], stop: false, n: 0, slowestFailMs: 0 };
  p.done = (async () => {
    while (!p.stop) {
      const n = ++p.n;
      const node = nodes[n % nodes.length];
      const t0 = Date.now();
      const r = await api(node, 'publish', { channel: CH, data: { n } }, { allowError: true })
        .catch((e) => ({ status: 0, error: { message: String(e) } }));
      if (r.status === 200 && r.error === undefined) p.acked.push({ n, at: Date.now() });
      else {
        p.failed++;
        p.failures.push(r.error ?? { status: r.status });
        p.slowestFailMs = Math.max(p.slowestFailMs, Date.now() - t0);
      }
      await sleep(20);
    }
  })();
  return p;
}

function healthWatch(nodes) {
  const h = { seen: new Set(), stop: false };
  h.done = (async () => {
    while (!h.stop) {
      for (const n of nodes) h.seen.add(await health(n));
      await sleep(100);
    }
  })();
  return h;
}

/** Every acknowledged publication arrived in order, or a not-recovered
 * signal came after it. */
function checkSubscriber(s, acked) {
  const ns = s.got.map((g) => g.n);
  for (let i = 1; i < ns.length; i++)
    assert.ok(ns[i] > ns[i - 1], `${s.name}: out of order or duplicate at ${ns[i - 1]} -> ${ns[i]}`);
  const have = new Set(ns);
  const silent = acked.filter((a) => !have.has(a.n) && !s.signals.some((t) => t >= a.at - 2000));
  assert.deepEqual(silent.map((a) => a.n), [], `${s.name}: silent gap (missing, no not-recovered signal after)`);
  return acked.length - acked.filter((a) => have.has(a.n)).length;
}

async function scenario(t, nodes, outage) {
  const subs = [];
  for (const [i, node] of nodes.entries())
    for (const u of ['s1', 's2']) subs.push(subscriber(node, `${u}-${i}`));
  await Promise.all(subs.map((s) => s.ready));
  await waitUntil(async () => (await Promise.all(nodes.map((n) => health(n)))).every((c) => c === 200),
    { what: 'healthy before the outage' });

  const pub = publisher(nodes);
  const hw = healthWatch(nodes);
  await sleep(1500);
  const before = pub.acked.length;
  await outage();
  // Green again, then a while of normal traffic.
  await waitUntil(async () => (await Promise.all(nodes.map((n) => health(n)))).every((c) => c === 200),
    { what: 'healthy after the outage', timeout: 20000, every: 100 });
  const healedAt = pub.acked.length;
  await sleep(2000);
  pub.stop = true;
  await pub.done;
  hw.stop = true;
  await hw.done;
  await sleep(1500);   // the last deliveries, recoveries

  assert.ok(before >= 10, `published before the outage (${before}, ${pub.failed} failed)`);
  assert.ok(pub.acked.length - healedAt > 20, 'published after the outage');
  assert.ok(hw.seen.has(503) || hw.seen.has(0), `health went red (saw ${[...hw.seen]})`);
  let missed = 0;
  for (const s of subs) missed += checkSubscriber(s, pub.acked);
  // Every subscriber got the publications made after the outage.
  for (const s of subs) {
    const tail = pub.acked.slice(-10).map((a) => a.n);
    assert.deepEqual(s.got.slice(-10).map((g) => g.n), tail, `${s.name}: live again after the outage`);
  }
  t.diagnostic(`acked ${pub.acked.length}, failed fast ${pub.failed} (slowest ${pub.slowestFailMs} ms), ` +
    `not-recovered signals ${subs.reduce((a, s) => a + s.signals.length, 0)}, missed-with-signal ${missed}, ` +
    `health seen ${[...hw.seen].sort()}`);
  if (pub.failed > 0) {
    const e = pub.failures.find((f) => f.code !== undefined);
    if (e) assert.equal(e.code, 100, 'the API answers error 100 (temporary) during the outage');
  }
  for (const s of subs) s.client.disconnect();
}

test('Redis killed and restarted', { skip, timeout: 90000 }, async (t) => {
  const redis = await startRedis();
  cleanups.push(async () => { await redis.stop(); redis.cleanup(); });
  const broker = [`broker.redis=127.0.0.1:${redis.port}`, ...FAST];
  const nodes = [await startNode('chaos-a', broker), await startNode('chaos-b', broker)];
  for (const n of nodes) cleanups.push(() => n.stop('SIGKILL'));
  await scenario(t, nodes, async () => {
    await redis.stop('SIGKILL');
    await waitUntil(async () => (await health(nodes[0])) === 503, { what: 'red health', timeout: 5000 });
    // Fail fast: a publish during the outage is refused at once.
    const t0 = Date.now();
    const r = await fetch(nodes[1].url('http', `/pub/${CH}`), {
      method: 'POST', headers: { 'X-API-Key': 'crier-cluster-test-api-key' }, body: '{"n":0}',
    });
    await r.arrayBuffer();
    assert.equal(r.status, 503, '/pub answers 503 while Redis is down');
    assert.ok(Date.now() - t0 < 500, 'and fast');
    await sleep(1500);
    await redis.start();
  });
});

test('Redis paused (SIGSTOP) and resumed (SIGCONT)', { skip, timeout: 90000 }, async (t) => {
  const redis = await startRedis();
  cleanups.push(async () => { redis.signal('SIGCONT'); await redis.stop(); redis.cleanup(); });
  const broker = [`broker.redis=127.0.0.1:${redis.port}`, ...FAST];
  const nodes = [await startNode('pause-a', broker), await startNode('pause-b', broker)];
  for (const n of nodes) cleanups.push(() => n.stop('SIGKILL'));
  await scenario(t, nodes, async () => {
    redis.signal('SIGSTOP');
    await waitUntil(async () => (await health(nodes[0])) === 503, { what: 'red health', timeout: 8000 });
    await sleep(1500);
    redis.signal('SIGCONT');
  });
});

test('Sentinel failover to the replica', { skip, timeout: 90000 }, async (t) => {
  const master = await startRedis();
  cleanups.push(async () => { await master.stop(); master.cleanup(); });
  const replica = await startRedis({ extra: ['--replicaof', '127.0.0.1', String(master.port)] });
  cleanups.push(async () => { await replica.stop(); replica.cleanup(); });
  await waitUntil(() => replica.cli('INFO', 'replication').includes('master_link_status:up'),
    { what: 'replica in sync' });
  const sentinel = await startSentinel(master.port, 'crier');
  cleanups.push(() => sentinel.stop());
  await waitUntil(() => sentinel.cli('SENTINEL', 'replicas', 'crier').includes(String(replica.port)),
    { what: 'sentinel sees the replica', timeout: 15000, every: 200 });
  const broker = ['broker.redis_master_name=crier', `broker.redis_sentinels=127.0.0.1:${sentinel.port}`, ...FAST];
  const nodes = [await startNode('sent-a', broker), await startNode('sent-b', broker)];
  for (const n of nodes) cleanups.push(() => n.stop('SIGKILL'));
  await scenario(t, nodes, async () => {
    await master.stop('SIGKILL');
    await waitUntil(() => sentinel.cli('SENTINEL', 'get-master-addr-by-name', 'crier').includes(String(replica.port)),
      { what: 'failover to the replica', timeout: 20000, every: 200 });
  });
});
