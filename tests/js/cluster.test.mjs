// Three crierd nodes sharing one real redis-server (docs/cluster.md): a
// publication made on node A reaches subscribers on B and C over every
// transport (SDK WebSocket, SSE, HTTP streaming; plain SSE, WebSocket and
// long poll; uni_websocket); long polls that alternate between A and B
// with the cursor get every publication once, in order (no stickiness);
// a client that moves from A to B recovers what it missed;
// presence is cluster-wide and a SIGKILLed node's presence expires; kick
// (API disconnect) reaches every node; /emulation is forwarded to the node
// that owns the session; the admin protocol lists the nodes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { have, startRedis, startNode, api, waitUntil, once, SECRET } from './cluster.mjs';
import { hs256, nowSeconds } from './jwt.mjs';

const skip = !have('redis-server') || !have('redis-cli') ? 'redis-server not installed' : false;
const { Centrifuge } = await import('centrifuge');
const { EventSource } = await import('eventsource');
const { default: WebSocket } = await import('ws');

let redis;
let nodes = {};
const clients = [];

before(async () => {
  if (skip) return;
  redis = await startRedis();
  const broker = [`broker.redis=127.0.0.1:${redis.port}`, 'broker.redis_presence_ttl=3s',
    'auth.allow_anonymous=true'];
  for (const name of ['A', 'B', 'C']) nodes[name] = await startNode(`node-${name}`, broker);
  // Every node registered and saw the others (heartbeat every 2 s).
  await waitUntil(async () => (await listNodes(nodes.A)).nodes.length === 3,
    { what: 'three nodes in the registry', timeout: 8000, every: 200 });
});

after(async () => {
  for (const c of clients) c.disconnect();
  for (const n of Object.values(nodes)) await n.stop('SIGKILL');
  if (redis) { await redis.stop(); redis.cleanup(); }
});

function token(user) {
  return hs256({ sub: user, exp: nowSeconds() + 3600 }, SECRET);
}

function sdk(node, transport, user, opts = {}) {
  const paths = { websocket: '/connection/websocket', sse: '/connection/sse', http_stream: '/connection/http_stream' };
  const scheme = transport === 'websocket' ? 'ws' : 'http';
  const c = new Centrifuge([{ transport, endpoint: node.url(scheme, paths[transport]) }], {
    token: token(user),
    websocket: WebSocket,
    eventsource: EventSource,
    emulationEndpoint: (opts.emulationNode ?? node).url('http', '/emulation'),
    minReconnectDelay: 200,
    maxReconnectDelay: 500,
    ...opts.options,
  });
  clients.push(c);
  return c;
}

async function subscribed(client, channel, opts = {}) {
  const sub = client.newSubscription(channel, opts);
  const got = [];
  sub.on('publication', (p) => got.push(p));
  const ok = once(sub, 'subscribed');
  client.connect();
  sub.subscribe();
  const ctx = await ok;
  return { sub, got, ctx };
}

/** Plain SSE on GET /sub/CH. */
function plainSse(node, channel) {
  const got = [];
  const es = new EventSource(node.url('http', `/sub/${channel}`));
  es.onmessage = (e) => got.push(JSON.parse(e.data));
  const open = new Promise((resolve, reject) => { es.onopen = resolve; es.onerror = reject; });
  return { es, got, open };
}

/** Plain WebSocket on GET /sub/CH (Upgrade): one text frame per payload. */
function plainWs(node, channel) {
  const got = [];
  const ws = new WebSocket(node.url('ws', `/sub/${channel}`));
  ws.on('message', (m) => got.push(JSON.parse(m)));
  return { ws, got, open: once(ws, 'open') };
}

/** uni_websocket: a bare ConnectRequest in cf_connect, server-side
 * subscriptions from the token's channels claim, bare pushes back. */
function uniWs(node, channel, user) {
  const token = hs256({ sub: user, exp: nowSeconds() + 3600, channels: [channel] }, SECRET);
  const cf = encodeURIComponent(JSON.stringify({ token }));
  const state = { got: [], connect: null };
  state.ws = new WebSocket(node.url('ws', `/connection/uni_websocket?cf_connect=${cf}`));
  state.ws.on('message', (m) => {
    const v = JSON.parse(m);
    if (v.connect) state.connect = v.connect;
    else if (v.channel === channel && v.pub) state.got.push(v.pub);
  });
  return state;
}

/** Plain long polling on GET /sub/CH, cursor in ETag / If-None-Match;
 * @nodes: one node, or several asked in turn (no stickiness). */
function longPoll(nodes, channel) {
  const list = Array.isArray(nodes) ? nodes : [nodes];
  const state = { got: [], stop: false, polls: 0, byNode: new Map() };
  state.done = (async () => {
    let etag = null;
    while (!state.stop) {
      const node = list[state.polls % list.length];
      const headers = etag ? { 'If-None-Match': etag } : {};
      const r = await fetch(node.url('http', `/sub/${channel}`), { headers }).catch(() => null);
      if (r === null) break;
      state.polls++;
      etag = r.headers.get('etag') ?? etag;
      if (r.status === 200) {
        const body = await r.json();
        const msgs = Array.isArray(body) ? body : body.messages ?? [];
        for (const m of msgs) state.got.push(m.data ?? m);
        state.byNode.set(node.port, (state.byNode.get(node.port) ?? 0) + msgs.length);
      } else await r.arrayBuffer();
    }
  })();
  return state;
}

async function listNodes(node) {
  const ws = new WebSocket(`ws+unix://${node.adminSocket}:/admin`);
  await once(ws, 'open');
  const replies = new Map();
  ws.on('message', (m) => { const v = JSON.parse(m); if (v.id !== undefined) replies.set(v.id, v); });
  ws.send(JSON.stringify({ id: 1, type: 'hello', params: { protocol: 1 } }));
  ws.send(JSON.stringify({ id: 2, type: 'list_nodes' }));
  await waitUntil(() => replies.has(2), { what: 'list_nodes reply' });
  ws.close();
  const r = replies.get(2);
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  return r.result;
}

test('the admin protocol lists every node with its stats and totals', { skip }, async () => {
  // A node enters the registry with its first heartbeat: on a loaded
  // machine the last node started may not be there yet.
  let r;
  await waitUntil(async () => { r = await listNodes(nodes.B); return r.nodes.length === 3; },
    { timeout: 3 * 2000 + 2000, every: 250, what: 'three nodes in the registry' });
  assert.equal(r.shared, true);
  assert.deepEqual(r.nodes.map((n) => n.name).sort(), ['node-A', 'node-B', 'node-C']);
  assert.equal(r.nodes[0].self, true);
  assert.equal(r.nodes[0].name, 'node-B');
  for (const n of r.nodes) {
    assert.match(n.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(typeof n.connections, 'number');
    assert.equal(typeof n.publications_per_s, 'number');
  }
  assert.equal(r.totals.nodes, 3);
});

test('a publication on A reaches B and C over every transport', { skip }, async () => {
  const ch = 'fan';
  const wsB = await subscribed(sdk(nodes.B, 'websocket', 'u1'), ch);
  const sseC = await subscribed(sdk(nodes.C, 'sse', 'u2'), ch);
  const streamB = await subscribed(sdk(nodes.B, 'http_stream', 'u3'), ch);
  const plainC = plainSse(nodes.C, ch);
  await plainC.open;
  const pollB = longPoll(nodes.B, ch);
  const wsPlainC = plainWs(nodes.C, ch);
  await wsPlainC.open;
  const uniB = uniWs(nodes.B, ch, 'u4');
  await waitUntil(() => uniB.connect !== null, { what: 'uni_websocket connected on B' });
  assert.ok(uniB.connect.subs?.[ch], 'uni_websocket subscribed from the token');
  await sleep(300);   // the long poll is parked and the plain SSE subscribed

  for (let i = 1; i <= 10; i++) await api(nodes.A, 'publish', { channel: ch, data: { n: i } });
  const want = [...Array(10).keys()].map((i) => i + 1);
  for (const [name, got] of [['ws B', wsB.got], ['sse C', sseC.got], ['http_stream B', streamB.got]]) {
    await waitUntil(() => got.length === 10, { what: `10 publications on ${name}` });
    assert.deepEqual(got.map((p) => p.data.n), want, name);
    assert.deepEqual(got.map((p) => p.offset), want, `${name} offsets`);
  }
  await waitUntil(() => plainC.got.length === 10, { what: '10 on plain SSE C' });
  assert.deepEqual(plainC.got.map((d) => d.n), want);
  await waitUntil(() => pollB.got.length >= 10, { what: '10 on long-poll B' });
  assert.deepEqual(pollB.got.map((d) => d.n), want);
  await waitUntil(() => wsPlainC.got.length === 10, { what: '10 on plain WebSocket C' });
  assert.deepEqual(wsPlainC.got.map((d) => d.n), want, 'plain WebSocket C');
  await waitUntil(() => uniB.got.length === 10, { what: '10 on uni_websocket B' });
  assert.deepEqual(uniB.got.map((p) => p.data.n), want, 'uni_websocket B');
  assert.deepEqual(uniB.got.map((p) => p.offset), want, 'uni_websocket B offsets');
  wsPlainC.ws.close();
  uniB.ws.close();

  pollB.stop = true;
  plainC.es.close();
  for (const c of [wsB, sseC, streamB]) c.sub.unsubscribe();
  await api(nodes.A, 'publish', { channel: ch, data: { n: 11 } });   // ends the parked poll
  await pollB.done;
});

test('long polls alternating between A and B get every publication once, in order', { skip }, async () => {
  const ch = 'hop';
  const poll = longPoll([nodes.A, nodes.B], ch);
  await waitUntil(() => poll.polls >= 1, { what: 'first poll answered' });
  // Published on C while the polls hop: some land while a poll is parked,
  // some between two polls (caught up from the cursor on the other node).
  for (let i = 1; i <= 20; i++) {
    await api(nodes.C, 'publish', { channel: ch, data: { n: i } });
    await sleep(i % 3 === 0 ? 60 : 5);
  }
  await waitUntil(() => poll.got.length >= 20, { what: '20 long-polled' });
  poll.stop = true;
  await api(nodes.C, 'publish', { channel: ch, data: { n: 21 } });   // ends the parked poll
  await poll.done;
  assert.deepEqual(poll.got.map((d) => d.n).filter((n) => n <= 20), [...Array(20).keys()].map((i) => i + 1));
  assert.ok(poll.polls >= 4, `several polls (${poll.polls})`);
  const served = [...poll.byNode.entries()].filter(([, n]) => n > 0).map(([port]) => port);
  assert.deepEqual(served.sort(), [nodes.A.port, nodes.B.port].sort(), 'both nodes answered with publications');
});

test('a client that moves from A to B recovers what it missed', { skip }, async () => {
  const ch = 'move';
  const a = sdk(nodes.A, 'websocket', 'mover');
  const onA = await subscribed(a, ch);
  for (let i = 1; i <= 3; i++) await api(nodes.C, 'publish', { channel: ch, data: { n: i } });
  await waitUntil(() => onA.got.length === 3, { what: '3 publications on A' });
  const last = onA.got[2];

  const gone = once(a, 'disconnected');
  await api(nodes.A, 'disconnect', { user: 'mover', disconnect: { code: 3503, reason: 'moving' } });
  await gone;
  for (let i = 4; i <= 6; i++) await api(nodes.C, 'publish', { channel: ch, data: { n: i } });

  const b = sdk(nodes.B, 'websocket', 'mover');
  const onB = await subscribed(b, ch, { since: { offset: last.offset, epoch: onA.ctx.streamPosition.epoch } });
  assert.equal(onB.ctx.wasRecovering, true);
  assert.equal(onB.ctx.recovered, true);
  await waitUntil(() => onB.got.length === 3, { what: '3 recovered publications on B' });
  assert.deepEqual(onB.got.map((p) => p.data.n), [4, 5, 6]);
  await api(nodes.A, 'publish', { channel: ch, data: { n: 7 } });
  await waitUntil(() => onB.got.length === 4, { what: 'the next live publication on B' });
  b.disconnect();
});

test('kick (API disconnect of a user) reaches every node', { skip }, async () => {
  const onB = sdk(nodes.B, 'websocket', 'kicked');
  const onC = sdk(nodes.C, 'sse', 'kicked');
  const bystander = sdk(nodes.C, 'websocket', 'stays');
  for (const c of [onB, onC, bystander]) {
    const ok = once(c, 'connected');
    c.connect();
    await ok;
  }
  const dB = once(onB, 'disconnected');
  const dC = once(onC, 'disconnected');
  await api(nodes.A, 'disconnect', { user: 'kicked', disconnect: { code: 3503, reason: 'kicked' } });
  assert.equal((await dB).code, 3503);
  assert.equal((await dC).code, 3503);
  await sleep(200);
  assert.equal(bystander.state, 'connected');
  bystander.disconnect();
});

test('emulation: commands posted to B reach the session that lives on A', { skip }, async () => {
  const c = sdk(nodes.A, 'http_stream', 'emu', { emulationNode: nodes.B });
  const s = await subscribed(c, 'emu');   // the subscribe command went through B
  for (let i = 1; i <= 5; i++) await api(nodes.C, 'publish', { channel: 'emu', data: { n: i } });
  await waitUntil(() => s.got.length === 5, { what: '5 publications' });
  assert.deepEqual(s.got.map((p) => p.data.n), [1, 2, 3, 4, 5]);
  c.disconnect();

  // A node nobody knows: 404; a known node: 204 even for an unknown session.
  const post = (body) => fetch(nodes.B.url('http', '/emulation'), { method: 'POST', body: JSON.stringify(body) });
  let r = await post({ session: 'nope', node: 'node-Z', data: '{}' });
  assert.equal(r.status, 404);
  await r.arrayBuffer();
  r = await post({ session: 'nope', node: 'node-A', data: '{}' });
  assert.equal(r.status, 204);
  await r.arrayBuffer();
});

test('presence is cluster-wide; a SIGKILLed node\'s presence expires', { skip }, async () => {
  const ch = 'room';
  const onA = await subscribed(sdk(nodes.A, 'websocket', 'pa'), ch);
  const onB = await subscribed(sdk(nodes.B, 'websocket', 'pb'), ch);
  const users = async (node) => Object.values((await api(node, 'presence', { channel: ch })).result.presence)
    .map((e) => e.user).sort();
  await waitUntil(async () => (await users(nodes.C)).length === 2, { what: 'two in presence' });
  assert.deepEqual(await users(nodes.C), ['pa', 'pb']);
  const stats = (await api(nodes.A, 'presence_stats', { channel: ch })).result;
  assert.equal(stats.num_clients, 2);
  assert.equal(stats.num_users, 2);

  await nodes.B.stop('SIGKILL');
  delete nodes.B;
  // presence TTL 3 s: B's entry is gone within a few seconds.
  await waitUntil(async () => (await users(nodes.C)).length === 1,
    { what: 'the killed node\'s presence to expire', timeout: 8000, every: 250 });
  assert.deepEqual(await users(nodes.A), ['pa']);
  onA.sub.unsubscribe();
  void onB;
});
