// Redis failures end to end (docs/cluster.md "Failure behaviour"): while a
// publisher runs at ~50/s through /api/publish round-robin over two nodes
// and recoverable subscribers sit on both (the centrifuge SDK over
// WebSocket and over SSE), Redis is (1) killed and restarted, (2) paused
// with SIGSTOP/SIGCONT, (3) failed over by Sentinel, (4) failed over by
// Sentinel to a replica that lacks the last writes (replication held with
// CLIENT PAUSE WRITE on the replica).  Afterwards every subscriber has every
// publication the API acknowledged, in order, except those inside a window
// that ends at a not-recovered signal it received (subscribed with
// wasRecovering && !recovered) and starts at the last publication it
// received before that signal: never a silent gap.  Where data is known
// lost (1, 4) every subscriber must get the signal.  /healthz and /readyz
// go red during the outage and green after, the broker_up alert is raised
// on the admin socket and resolved after; publishes fail fast with an
// error while Redis is away.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { have, startRedis, startSentinel, startNode, api, health, waitUntil, once, adminClient, SECRET } from './cluster.mjs';
import { hs256, nowSeconds } from './jwt.mjs';

const skip = !have('redis-server') || !have('redis-cli') ? 'redis-server not installed' : false;
const { Centrifuge } = await import('centrifuge');
const { EventSource } = await import('eventsource');
const { default: WebSocket } = await import('ws');

const cleanups = [];
after(async () => {
  for (const f of cleanups.reverse()) await f().catch(() => {});
});

const FAST = ['broker.redis_connect_timeout=500ms', 'broker.redis_command_timeout=1s'];
const CH = 'chaos';

/** A recoverable subscriber through the SDK over @transport. */
function subscriber(node, user, transport = 'websocket') {
  const path = transport === 'websocket' ? '/connection/websocket' : '/connection/sse';
  const c = new Centrifuge([{ transport, endpoint: node.url(transport === 'websocket' ? 'ws' : 'http', path) }], {
    token: hs256({ sub: user, exp: nowSeconds() + 3600 }, SECRET),
    websocket: WebSocket,
    eventsource: EventSource,
    emulationEndpoint: node.url('http', '/emulation'),
    minReconnectDelay: 100,
    maxReconnectDelay: 400,
  });
  // seq orders publications and signals as the client saw them (several
  // can arrive within one millisecond).
  const s = { client: c, got: [], signals: [], seq: 0, subscribes: 0, name: `${user}/${transport}@${node.port}` };
  // Resubscribe attempts back off to 20 s by default: keep them short so
  // that the outcome is known within the test.
  const sub = c.newSubscription(CH, { minResubscribeDelay: 100, maxResubscribeDelay: 400 });
  sub.on('publication', (p) => s.got.push({ n: p.data.n, offset: p.offset, at: Date.now(), seq: ++s.seq }));
  sub.on('subscribed', (ctx) => {
    s.subscribes++;
    if (ctx.wasRecovering && !ctx.recovered) s.signals.push({ at: Date.now(), seq: ++s.seq });
  });
  s.ready = once(sub, 'subscribed');
  c.connect();
  sub.subscribe();
  return s;
}

/** Publishes {n} every 20 ms, round-robin; records what was acknowledged
 * (sentAt: when the request left, at: when it was acknowledged). */
function publisher(nodes) {
  const p = { acked: [], failed: 0, failures: [], stop: false, n: 0, slowestFailMs: 0 };
  p.done = (async () => {
    while (!p.stop) {
      const n = ++p.n;
      const node = nodes[n % nodes.length];
      const t0 = Date.now();
      const r = await api(node, 'publish', { channel: CH, data: { n } }, { allowError: true })
        .catch((e) => ({ status: 0, error: { message: String(e) } }));
      if (r.status === 200 && r.error === undefined) p.acked.push({ n, sentAt: t0, at: Date.now() });
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

/** Polls /healthz and /readyz of every node; records {path, code, at}. */
function healthWatch(nodes) {
  const h = { seen: [], stop: false };
  h.done = (async () => {
    while (!h.stop) {
      for (const n of nodes)
        for (const path of ['/healthz', '/readyz'])
          h.seen.push({ path, code: await health(n, path), at: Date.now() });
      await sleep(100);
    }
  })();
  return h;
}

/** Every acknowledged publication arrived, once, in order; a missing one
 * is excused only by a not-recovered signal received at t such that the
 * publication was sent before t and comes after the last publication the
 * subscriber received before t.  @requireSignal: data was lost, the
 * subscriber must have been told.
 *
 * Publications whose publish failed are left out of the order check: a
 * publish that timed out on a paused Redis may still be applied when it
 * resumes (after later ones, on a new connection): the API said "failed",
 * not "not published" (docs/cluster.md). */
function checkSubscriber(s, acked, { requireSignal = false } = {}) {
  const ackedSet = new Set(acked.map((a) => a.n));
  const all = s.got.map((g) => g.n);
  assert.equal(new Set(all).size, all.length, `${s.name}: a publication arrived twice`);
  const ns = all.filter((n) => ackedSet.has(n));
  for (let i = 1; i < ns.length; i++)
    assert.ok(ns[i] > ns[i - 1], `${s.name}: out of order at ${ns[i - 1]} -> ${ns[i]}`);
  const have = new Set(ns);
  const lastBefore = (sig) => {
    let last = 0;
    for (const g of s.got) if (g.seq < sig.seq && ackedSet.has(g.n)) last = g.n;
    return last;
  };
  const missed = acked.filter((a) => !have.has(a.n));
  const silent = missed.filter((a) => !s.signals.some((sig) => a.sentAt <= sig.at && a.n > lastBefore(sig)));
  assert.deepEqual(silent.map((a) => a.n), [],
    `${s.name}: silent gap (missing, not inside a window closed by a not-recovered signal; ` +
    `signals at ${s.signals.map((sig) => `${sig.at} after n=${lastBefore(sig)}`)}; received around the first: ` +
    `${JSON.stringify(s.got.filter((g) => Math.abs(g.n - (silent[0]?.n ?? 0)) <= 4))}, acked: ` +
    `${JSON.stringify(acked.filter((a) => Math.abs(a.n - (silent[0]?.n ?? 0)) <= 4))})`);
  if (requireSignal)
    assert.ok(s.signals.length > 0, `${s.name}: data was lost but no not-recovered signal came`);
  return missed.length;
}

const ready = async (nodes, path) => (await Promise.all(nodes.map((n) => health(n, path)))).every((c) => c === 200);

async function scenario(t, nodes, outage, opts = {}) {
  try {
    await scenarioRun(t, nodes, outage, opts);
  } catch (e) {
    // What the brokers said, for the failure report.
    for (const n of nodes)
      t.diagnostic(`node ${n.port}: ${n.log().split('\n').filter((l) => /redis|broker/i.test(l)).slice(-15).join(' | ')}`);
    throw e;
  }
}

async function scenarioRun(t, nodes, outage, { requireSignal = false } = {}) {
  const subs = [];
  for (const [i, node] of nodes.entries()) {
    subs.push(subscriber(node, `s1-${i}`, 'websocket'));
    subs.push(subscriber(node, `s2-${i}`, 'sse'));
  }
  await Promise.all(subs.map((s) => s.ready));
  await waitUntil(async () => await ready(nodes, '/healthz') && await ready(nodes, '/readyz'),
    { what: 'healthy and ready before the outage' });
  const admins = await Promise.all(nodes.map((n) => adminClient(n)));
  for (const a of admins) await a.request('watch_alerts');
  const brokerAlerts = (a, event) => a.events.filter((e) => e.event === event && e.alert?.metric === 'broker_up');

  const pub = publisher(nodes);
  const hw = healthWatch(nodes);
  await sleep(1500);
  const before = pub.acked.length;
  const outageAt = Date.now();
  await outage();
  // Green and ready again, then a while of normal traffic.
  await waitUntil(async () => await ready(nodes, '/healthz') && await ready(nodes, '/readyz'),
    { what: 'healthy and ready after the outage', timeout: 20000, every: 100 });
  const healedAt = Date.now();
  const ackedAtHeal = pub.acked.length;
  await sleep(2000);
  pub.stop = true;
  await pub.done;
  hw.stop = true;
  await hw.done;
  await sleep(1500);   // the last deliveries, recoveries

  assert.ok(before >= 10, `published before the outage (${before}, ${pub.failed} failed)`);
  assert.ok(pub.acked.length - ackedAtHeal > 20, 'published after the outage');
  for (const path of ['/healthz', '/readyz']) {
    const during = hw.seen.filter((h) => h.path === path && h.at >= outageAt && h.at <= healedAt);
    assert.ok(during.some((h) => h.code === 503), `${path} answered 503 during the outage ` +
      `(saw ${[...new Set(during.map((h) => h.code))]})`);
    const last = hw.seen.filter((h) => h.path === path).slice(-2 * nodes.length);
    assert.ok(last.every((h) => h.code === 200), `${path} answers 200 after the outage`);
  }
  // The critical broker_up rule: raised during the outage, resolved after
  // (it clears after 5 good samples, one a second).
  for (const [i, a] of admins.entries()) {
    const raised = brokerAlerts(a, 'alert_raised');
    assert.ok(raised.some((e) => e.at >= outageAt && e.at <= healedAt + 1500),
      `node ${i}: broker_up alert raised during the outage (${outageAt}..${healedAt}; raised at ` +
      `${raised.map((e) => e.at)})`);
    assert.equal(raised[0].alert.severity, 'critical');
    await waitUntil(() => brokerAlerts(a, 'alert_resolved').length > 0,
      { what: `node ${i}: broker_up alert resolved`, timeout: 15000, every: 100 });
    const active = (await a.request('list_alerts')).active.filter((al) => al.metric === 'broker_up');
    assert.deepEqual(active, [], `node ${i}: no broker_up alert active after the outage`);
    a.close();
  }
  let missed = 0;
  for (const s of subs) missed += checkSubscriber(s, pub.acked, { requireSignal });
  // Every subscriber got the publications made after the outage.
  for (const s of subs) {
    const tail = pub.acked.slice(-10).map((a) => a.n);
    assert.deepEqual(s.got.slice(-10).map((g) => g.n), tail, `${s.name}: live again after the outage`);
  }
  t.diagnostic(`acked ${pub.acked.length}, failed fast ${pub.failed} (slowest ${pub.slowestFailMs} ms), ` +
    `not-recovered signals ${subs.reduce((a, s) => a + s.signals.length, 0)}, missed-with-signal ${missed}, ` +
    `health seen ${[...new Set(hw.seen.map((h) => `${h.path} ${h.code}`))].sort()}`);
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
  }, { requireSignal: true });   // the restarted Redis has lost every stream
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

/** A master, its replica and a Sentinel; two nodes that find the master
 * through the Sentinel. */
async function sentinelCluster(prefix) {
  const master = await startRedis();
  cleanups.push(async () => { await master.stop(); master.cleanup(); });
  const replica = await startRedis({ extra: ['--replicaof', '127.0.0.1', String(master.port)] });
  cleanups.push(async () => { await replica.stop(); replica.cleanup(); });
  await waitUntil(() => replica.cli('INFO', 'replication').includes('master_link_status:up'),
    { what: 'replica in sync', timeout: 15000, every: 100 });
  const sentinel = await startSentinel(master.port, 'crier');
  cleanups.push(() => sentinel.stop());
  await waitUntil(() => sentinel.cli('SENTINEL', 'replicas', 'crier').includes(String(replica.port)),
    { what: 'sentinel sees the replica', timeout: 15000, every: 200 });
  const broker = ['broker.redis_master_name=crier', `broker.redis_sentinels=127.0.0.1:${sentinel.port}`, ...FAST];
  const nodes = [await startNode(`${prefix}-a`, broker), await startNode(`${prefix}-b`, broker)];
  for (const n of nodes) cleanups.push(() => n.stop('SIGKILL'));
  const failedOver = () => waitUntil(
    () => sentinel.cli('SENTINEL', 'get-master-addr-by-name', 'crier').includes(String(replica.port)),
    { what: 'failover to the replica', timeout: 20000, every: 200 });
  return { master, replica, sentinel, nodes, failedOver };
}

test('Sentinel failover to the replica', { skip, timeout: 90000 }, async (t) => {
  const { master, nodes, failedOver } = await sentinelCluster('sent');
  await scenario(t, nodes, async () => {
    await master.stop('SIGKILL');
    await failedOver();
  });
});

test('Sentinel failover to a replica that lacks the last writes', { skip, timeout: 90000 }, async (t) => {
  const { master, replica, nodes, failedOver } = await sentinelCluster('lag');
  let offsets;
  await scenario(t, nodes, async () => {
    // The replica stops applying the replication stream; the master keeps
    // accepting (and delivering) publications the replica never gets.
    replica.cli('CLIENT', 'PAUSE', '4000', 'WRITE');
    await sleep(800);
    offsets = { master: Number(master.cli('HGET', `crier.meta.${CH}`, 'o')),
      replica: Number(replica.cli('HGET', `crier.meta.${CH}`, 'o')) };
    await master.stop('SIGKILL');
    await failedOver();
  }, { requireSignal: true });
  t.diagnostic(`offsets before the failover: master ${offsets.master}, replica ${offsets.replica}`);
  assert.ok(offsets.replica < offsets.master,
    `the replica lacked the last writes (master ${offsets.master}, replica ${offsets.replica})`);
});
