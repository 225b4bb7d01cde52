// The real `centrifuge` SDK over crierd's HTTP streaming and SSE transports
// (protocols.md A9.2-A9.4, A14.3): connect, subscribe and publications
// through /emulation, server pings answered over /emulation, recovery after
// a reconnectable server disconnect with publications made while away, a
// terminal disconnect, the SDK's own fallback down its transport list
// (websocket, http_stream, sse) when crierd refuses the first ones, and the
// unidirectional uni_sse / uni_http_stream with plain clients.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCrierd } from './crierd.mjs';
import { hs256, nowSeconds } from './jwt.mjs';

const { Centrifuge } = await import('centrifuge');
const { EventSource } = await import('eventsource');
const { default: WebSocket } = await import('ws');

const SECRET = 'crier-stream-test-secret';
const API_KEY = 'crier-stream-test-api-key';
const SETTINGS = [
  `auth.hmac_secret=${SECRET}`,
  `auth.api_keys=${API_KEY}`,
  'channels.history_size=100',
  'channels.history_ttl=5m',
  'channels.force_recovery=true',
  'server.drain_timeout=1s',
];

const running = new Set();
after(async () => {
  for (const srv of running) await srv.stop('SIGKILL');
});

async function start(extra = []) {
  const srv = await startCrierd([...SETTINGS, ...extra]);
  running.add(srv);
  return srv;
}

async function stop(srv) {
  running.delete(srv);
  await srv.stop();
}

function token(user, claims = {}) {
  return hs256({ sub: user, exp: nowSeconds() + 3600, ...claims }, SECRET);
}

async function api(srv, method, params) {
  const r = await fetch(srv.url('http', `/api/${method}`), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': API_KEY },
    body: JSON.stringify(params),
  });
  assert.equal(r.status, 200, `${method}: HTTP ${r.status}`);
  const body = await r.json();
  assert.equal(body.error, undefined, `${method}: ${JSON.stringify(body.error)}`);
  return body.result ?? body;
}

async function waitUntil(fn, { timeout = 8000, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function once(emitter, event, timeout = 8000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), timeout);
    emitter.once(event, (ctx) => { clearTimeout(timer); resolve(ctx); });
  });
}

/** A Centrifuge client on one HTTP transport, with absolute endpoints. */
function client(srv, transport, user, opts = {}) {
  const path = transport === 'sse' ? '/connection/sse' : '/connection/http_stream';
  return new Centrifuge([{ transport, endpoint: srv.url('http', path) }], {
    token: token(user),
    emulationEndpoint: srv.url('http', '/emulation'),
    eventsource: EventSource,
    minReconnectDelay: 300,
    maxReconnectDelay: 600,
    ...opts,
  });
}

for (const transport of ['http_stream', 'sse']) {
  test(`${transport}: connect, subscribe through /emulation, publications in order`, async () => {
    const srv = await start();
    try {
      const c = client(srv, transport, '7');
      const connected = once(c, 'connected');
      c.connect();
      const ctx = await connected;
      assert.equal(ctx.transport, transport);
      assert.match(ctx.client, /^[0-9a-f]{32}$/);

      const sub = c.newSubscription('news');
      const got = [];
      sub.on('publication', (p) => got.push(p));
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      const s = await subscribed;
      assert.equal(s.recoverable, true);

      for (let i = 1; i <= 20; i++) await api(srv, 'publish', { channel: 'news', data: { n: i, text: 'héllo ✓' } });
      await waitUntil(() => got.length === 20, { what: '20 publications' });
      assert.deepEqual(got.map((p) => p.data.n), [...Array(20).keys()].map((i) => i + 1));
      assert.deepEqual(got.map((p) => p.offset), [...Array(20).keys()].map((i) => i + 1));
      assert.equal(got[0].data.text, 'héllo ✓');

      // A publish from the client goes through /emulation as well (the
      // namespace does not allow it: error 103 comes back down the stream).
      await assert.rejects(sub.publish({ x: 1 }), (e) => e.code === 103);
      c.disconnect();
    } finally {
      await stop(srv);
    }
  });

  test(`${transport}: server pings are answered over /emulation`, async () => {
    const srv = await start(['websocket.pong_timeout=700ms', 'websocket.ping_interval=1s']);
    let c = null;
    try {
      c = client(srv, transport, '8');
      let disconnects = 0;
      c.on('connecting', () => { disconnects++; });
      const connected = once(c, 'connected');
      c.connect();
      await connected;
      disconnects = 0;
      await sleep(3500);   // three pings, each answered in time
      assert.equal(disconnects, 0, 'no reconnect for a missing pong');
      assert.equal(c.state, 'connected');
    } finally {
      // Also when an assertion failed: a client left reconnecting would
      // keep Node (and the suite) running until meson's timeout.
      c?.disconnect();
      await stop(srv);
    }
  });

  test(`${transport}: recovery after a reconnectable server disconnect`, async () => {
    const srv = await start();
    try {
      const c = client(srv, transport, '42', { minReconnectDelay: 1200, maxReconnectDelay: 1500 });
      const sub = c.newSubscription('rec');
      const got = [];
      sub.on('publication', (p) => got.push(p));
      const first = once(sub, 'subscribed');
      c.connect();
      sub.subscribe();
      await first;
      for (let i = 1; i <= 2; i++) await api(srv, 'publish', { channel: 'rec', data: { n: i } });
      await waitUntil(() => got.length === 2, { what: '2 live publications' });

      const connecting = once(c, 'connecting');
      const resubscribed = once(sub, 'subscribed', 10000);
      await api(srv, 'disconnect', { user: '42', disconnect: { code: 3001, reason: 'shutdown' } });
      const cc = await connecting;
      assert.equal(cc.code, 3001, 'the disconnect push carried the code');
      for (let i = 3; i <= 5; i++) await api(srv, 'publish', { channel: 'rec', data: { n: i } });
      assert.equal(c.state, 'connecting', 'published while the client was away');

      const r = await resubscribed;
      assert.equal(r.wasRecovering, true);
      assert.equal(r.recovered, true);
      await waitUntil(() => got.length === 5, { what: '5 publications' });
      await api(srv, 'publish', { channel: 'rec', data: { n: 6 } });
      await waitUntil(() => got.length === 6, { what: '6 publications' });
      await sleep(100);
      assert.deepEqual(got.map((p) => p.data.n), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(got.map((p) => p.offset), [1, 2, 3, 4, 5, 6]);
      c.disconnect();
    } finally {
      await stop(srv);
    }
  });

  test(`${transport}: a terminal disconnect (3503) is final`, async () => {
    const srv = await start();
    try {
      const c = client(srv, transport, '9');
      const connected = once(c, 'connected');
      c.connect();
      await connected;
      const disconnected = once(c, 'disconnected');
      await api(srv, 'disconnect', { user: '9', disconnect: { code: 3503, reason: 'force disconnect' } });
      const d = await disconnected;
      assert.equal(d.code, 3503);
      await sleep(800);
      assert.equal(c.state, 'disconnected', 'no reconnect');
    } finally {
      await stop(srv);
    }
  });
}

// The transport list of docs/transports.md ("Fallback with the centrifuge
// SDK"): crierd refuses the disabled transports with 503
// ([server] debug_disable_transports, a test-only switch), and the SDK must
// end up on the first one that works, then receive publications over it.
const FALLBACKS = [
  { disable: 'websocket', expect: 'http_stream' },
  { disable: 'websocket,http_stream', expect: 'sse' },
];

/** The HTTP status a WebSocket upgrade gets (101 when it opens). */
function upgradeStatus(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('unexpected-response', (req, res) => { req.destroy(); resolve(res.statusCode); });
    ws.on('error', (e) => { if (e.message !== 'socket hang up') reject(e); });
  });
}

for (const { disable, expect } of FALLBACKS) {
  test(`fallback list: ${disable} refused -> ${expect}, publications in order`, async () => {
    const srv = await start(['server.debug_endpoints=true', `server.debug_disable_transports=${disable}`]);
    let c = null;
    try {
      // Every refused transport really is refused.
      for (const t of disable.split(',')) {
        const status = t === 'websocket'
          ? await upgradeStatus(srv.url('ws', '/connection/websocket'))
          : (await fetch(srv.url('http', `/connection/${t}`), { method: 'POST', body: '{}' })).status;
        assert.equal(status, 503, `${t} is disabled`);
      }
      const tried = [];
      c = new Centrifuge([
        { transport: 'websocket', endpoint: srv.url('ws', '/connection/websocket') },
        { transport: 'http_stream', endpoint: srv.url('http', '/connection/http_stream') },
        { transport: 'sse', endpoint: srv.url('http', '/connection/sse') },
      ], {
        token: token('fb'),
        websocket: WebSocket,
        eventsource: EventSource,
        emulationEndpoint: srv.url('http', '/emulation'),
        minReconnectDelay: 100,
        maxReconnectDelay: 300,
        // A loaded CI machine: a slow connect reply must not make the SDK
        // give up on a transport that works (its default is 5 s).
        timeout: 15000,
      });
      // Everything the SDK reports, for the assertion messages.
      c.on('error', (ctx) => tried.push(`${ctx.transport ?? '-'}: ${ctx.type} ${ctx.error?.code} ${ctx.error?.message}`));
      c.on('connecting', (ctx) => tried.push(`connecting ${ctx.code} ${ctx.reason}`));
      c.on('disconnected', (ctx) => tried.push(`disconnected ${ctx.code} ${ctx.reason}`));
      const connected = once(c, 'connected', 30000);
      c.connect();
      const ctx = await connected;
      assert.equal(ctx.transport, expect, `connected over ${expect} (SDK events: ${tried.join('; ') || 'none'})`);

      const sub = c.newSubscription('fallback');
      const got = [];
      sub.on('publication', (p) => got.push(p.data.n));
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      await subscribed;
      for (let n = 1; n <= 10; n++) await api(srv, 'publish', { channel: 'fallback', data: { n } });
      await waitUntil(() => got.length >= 10, { what: '10 publications' }).catch((e) => {
        throw new Error(`${e.message}: got [${got}] (SDK events: ${tried.join('; ')})`);
      });
      assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.equal(c.state, 'connected', `still connected (SDK events: ${tried.join('; ')})`);
    } finally {
      c?.disconnect();
      await stop(srv);
    }
  });
}

test('emulation: unknown session 404, bad JSON 400, too large 413, preflight 204', async () => {
  const srv = await start(['limits.max_request_body=1KiB']);
  try {
    const url = srv.url('http', '/emulation');
    const post = (body) => fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
    assert.equal((await post(JSON.stringify({ session: 'nope', node: 'x', data: '{}' }))).status, 404);
    assert.equal((await post('{"session":')).status, 400);
    assert.equal((await post(JSON.stringify({ session: 'a', data: 'x'.repeat(4096) }))).status, 413);
    const pre = await fetch(url, {
      method: 'OPTIONS',
      headers: { Origin: 'http://page.example', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://page.example');
    assert.equal(pre.headers.get('access-control-max-age'), '300');
  } finally {
    await stop(srv);
  }
});

test('uni_sse and uni_http_stream: connect push, server-side subscription, bare pushes', async () => {
  const srv = await start();
  try {
    const connect = JSON.stringify({ token: token('5', { channels: ['uni'] }) });

    // uni_sse with a plain EventSource.
    const es = new EventSource(srv.url('http', `/connection/uni_sse?cf_connect=${encodeURIComponent(connect)}`));
    const sseMsgs = [];
    es.onmessage = (ev) => sseMsgs.push(JSON.parse(ev.data));
    await waitUntil(() => sseMsgs.length >= 1, { what: 'uni_sse connect push' });
    assert.ok(sseMsgs[0].connect, 'first push is connect');
    assert.ok(sseMsgs[0].connect.subs.uni, 'server-side subscription from the token');

    // uni_http_stream with fetch: newline-delimited bare pushes.
    const ctrl = new AbortController();
    const res = await fetch(srv.url('http', '/connection/uni_http_stream'), {
      method: 'POST', body: connect, signal: ctrl.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/json/);
    const lines = [];
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ done: true }));
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
      }
    })();
    await waitUntil(() => lines.length >= 1, { what: 'uni_http_stream connect push' });
    assert.ok(lines[0].connect);

    await api(srv, 'publish', { channel: 'uni', data: { hello: 1 } });
    await waitUntil(() => sseMsgs.length >= 2 && lines.length >= 2, { what: 'publication on both' });
    assert.deepEqual(sseMsgs[1], { channel: 'uni', pub: { data: { hello: 1 }, offset: 1 } });
    assert.deepEqual(lines[1], { channel: 'uni', pub: { data: { hello: 1 }, offset: 1 } });

    // The goodbye: a bare disconnect push, then the end of the response.
    await api(srv, 'disconnect', { user: '5', disconnect: { code: 3503, reason: 'bye' } });
    await waitUntil(() => lines.some((l) => l.disconnect), { what: 'disconnect push' });
    assert.deepEqual(lines.at(-1), { disconnect: { code: 3503, reason: 'bye' } });
    await pump;
    es.close();
    ctrl.abort();
  } finally {
    await stop(srv);
  }
});
