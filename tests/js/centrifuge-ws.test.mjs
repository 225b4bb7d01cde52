// Conformance of crierd's Centrifugo JSON client protocol v2 over WebSocket
// (docs: protocols.md Part A, checklist A16) with the real `centrifuge` SDK
// from npm (pinned in package-lock.json), plus raw `ws` clients where the
// frames themselves are the subject.
//
// Every test starts its own crierd with the settings it needs and stops it
// at the end.  Every client records the frames it sends and receives; a
// failing test prints them with the tail of the crierd log.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCrierd } from './crierd.mjs';
import { hs256, rs256, nowSeconds } from './jwt.mjs';

const { Centrifuge } = await import('centrifuge');
const { default: WebSocket } = await import('ws');

const SECRET = 'crier-centrifuge-test-secret';
const API_KEY = 'crier-centrifuge-test-api-key';
const WS_PATH = '/connection/websocket';
const BASE_SETTINGS = [
  `auth.hmac_secret=${SECRET}`,
  `auth.api_keys=${API_KEY}`,
  'server.drain_timeout=1s',
];

// One RSA key pair for the RS256 tests; the public half as a PEM file.
const keyDir = mkdtempSync(join(tmpdir(), 'crier-centrifuge-keys-'));
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = join(keyDir, 'rsa-public.pem');
writeFileSync(rsaPem, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

// Every crierd still running when the file ends (a test that timed out).
const running = new Set();
after(async () => {
  for (const srv of running) await srv.stop('SIGKILL');
  rmSync(keyDir, { recursive: true, force: true });
});

/** A connection token for user `user`, valid for an hour unless claims say otherwise. */
function token(user = '42', claims = {}) {
  return hs256({ sub: user, exp: nowSeconds() + 3600, info: { name: `user ${user}` }, ...claims }, SECRET);
}

function subToken(user, channel, claims = {}) {
  return hs256({ sub: user, channel, exp: nowSeconds() + 3600, ...claims }, SECRET);
}

// ---------------------------------------------------------------------------
// Waiting

/** Resolves with the first `event` whose argument satisfies pred; rejects after timeout. */
function waitEvent(emitter, event, { pred = () => true, timeout = 5000, what = event } = {}) {
  const p = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${timeout} ms waiting for ${what}`));
    }, timeout);
    timer.unref();
    function on(ctx) {
      if (!pred(ctx)) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(ctx);
    }
    emitter.on(event, on);
  });
  p.catch(() => {});            // awaited later; never an unhandled rejection meanwhile
  return p;
}

/** Polls fn (sync or async) until it returns a truthy value. */
async function waitUntil(fn, { timeout = 5000, interval = 20, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

// ---------------------------------------------------------------------------
// Frame recording

function parseLines(text) {
  return text.trim().split('\n').map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      return { __invalid: line };
    }
  });
}

const isEmptyObject = (m) => m && typeof m === 'object' && !Array.isArray(m) && Object.keys(m).length === 0;

class FrameLog extends EventEmitter {
  entries = [];

  add(dir, text) {
    const e = { dir, text, t: Date.now() };
    this.entries.push(e);
    this.emit('entry', e);
  }

  /** Parsed lines of the frames in direction dir ('<' received, '>' sent), in order. */
  lines(dir) {
    return this.entries.filter((e) => e.dir === dir).flatMap((e) => parseLines(e.text));
  }

  find(dir, pred) {
    return this.lines(dir).find(pred);
  }

  count(dir, pred) {
    return this.lines(dir).filter(pred).length;
  }

  opens() {
    return this.entries.filter((e) => e.dir === 'open').length;
  }

  dump(n = 40) {
    const tail = this.entries.slice(-n);
    const t0 = this.entries.length ? this.entries[0].t : 0;
    return tail.map((e) => `  +${e.t - t0}ms ${e.dir} ${e.text.replace(/\n/g, '\\n').slice(0, 500)}`).join('\n');
  }
}

/** A `ws` WebSocket class for the SDK that records every frame in log. */
function recordingWebSocket(log) {
  return class RecordingWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      log.add('open', String(url));
      this.on('message', (data) => log.add('<', data.toString()));
      this.on('close', (code, reason) => log.add('close', `${code} ${reason}`));
    }

    send(data, ...rest) {
      log.add('>', String(data));
      return super.send(data, ...rest);
    }
  };
}

// ---------------------------------------------------------------------------
// Test environment: one crierd, its clients, diagnostics and cleanup

class Env {
  clients = [];
  raws = [];

  async start(settings) {
    this.srv = await startCrierd([...BASE_SETTINGS, ...settings]);
    running.add(this.srv);
  }

  /** A Centrifuge SDK client (not connected yet). */
  client(label, opts = {}) {
    const frames = new FrameLog();
    const c = new Centrifuge(this.srv.url('ws', WS_PATH), {
      websocket: recordingWebSocket(frames),
      minReconnectDelay: 100,
      maxReconnectDelay: 500,
      ...opts,
    });
    c.label = label;
    c.frames = frames;
    c.events = [];
    c.subList = [];
    for (const ev of ['connecting', 'connected', 'disconnected', 'error'])
      c.on(ev, (ctx) => c.events.push({ ev, ctx, t: Date.now() }));
    this.clients.push(c);
    return c;
  }

  /** A subscription that records its events and publications. */
  sub(c, channel, opts = {}) {
    const s = c.newSubscription(channel, opts);
    s.events = [];
    s.pubs = [];
    for (const ev of ['subscribing', 'subscribed', 'unsubscribed', 'error', 'join', 'leave'])
      s.on(ev, (ctx) => s.events.push({ ev, ctx, t: Date.now() }));
    s.on('publication', (ctx) => s.pubs.push(ctx));
    c.subList.push(s);
    return s;
  }

  /** A raw `ws` client on the Centrifugo endpoint; replies are parsed line by line. */
  async raw(label = 'raw') {
    const frames = new FrameLog();
    const ws = new WebSocket(this.srv.url('ws', WS_PATH));
    ws.label = label;
    ws.frames = frames;
    ws.replies = [];
    this.raws.push(ws);
    ws.on('message', (data) => {
      const text = data.toString();
      frames.add('<', text);
      ws.replies.push(...parseLines(text));
    });
    ws.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
      frames.add('close', `${code} ${reason}`);
      resolve({ code, reason: reason.toString() });
    }));
    await withTimeout(new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    }), 5000, 'raw WebSocket open');
    ws.sendLines = (...cmds) => {
      const text = cmds.map((c) => (typeof c === 'string' ? c : JSON.stringify(c))).join('\n');
      frames.add('>', text);
      ws.send(text);
    };
    ws.reply = (pred, what, timeout = 5000) =>
      waitUntil(() => ws.replies.find(pred), { what: `${label}: ${what}`, timeout });
    return ws;
  }

  /** POST /api/<method> with the API key; returns `result`. */
  async api(method, body) {
    let r;
    try {
      r = await fetch(this.srv.url('http', `/api/${method}`), {
        method: 'POST',
        headers: { 'X-API-Key': API_KEY, 'Content-Type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    } catch (e) {
      throw new Error(`POST /api/${method} failed: ${e.cause ? e.cause.message : e.message}`);
    }
    const text = await r.text();
    assert.equal(r.status, 200, `POST /api/${method} ${JSON.stringify(body)} -> ${r.status} ${text}`);
    let j;
    try {
      j = JSON.parse(text);
    } catch {
      assert.fail(`POST /api/${method}: reply is not JSON: ${text}`);
    }
    assert.ok(!j.error, `POST /api/${method} ${JSON.stringify(body)} -> error ${JSON.stringify(j.error)}`);
    assert.ok(j.result && typeof j.result === 'object', `POST /api/${method}: no result object in ${text}`);
    return j.result;
  }

  diag() {
    const out = [];
    for (const c of this.clients) {
      const evs = c.events.map((e) => {
        const x = e.ctx || {};
        if (x.error) return `${e.ev}(${x.type} ${x.error.code} ${x.error.message})`;
        if (x.code !== undefined) return `${e.ev}(${x.code} ${x.reason})`;
        return e.ev;
      });
      out.push(`--- client ${c.label}: state ${c.state}; events: ${evs.join(', ')}`);
      for (const s of c.subList) {
        const sevs = s.events.map((e) => (e.ctx && e.ctx.code !== undefined ? `${e.ev}(${e.ctx.code})`
          : e.ctx && e.ctx.error ? `${e.ev}(${e.ctx.error.code})` : e.ev));
        out.push(`    sub ${s.channel}: state ${s.state}; events: ${sevs.join(', ')}; pubs: ${s.pubs.length}`);
      }
      out.push(c.frames.dump());
    }
    for (const w of this.raws) out.push(`--- raw ${w.label}`, w.frames.dump());
    if (this.srv) out.push('--- crierd log (tail)', this.srv.log().slice(-3000));
    return out.join('\n');
  }

  async close() {
    for (const c of this.clients) {
      try { c.disconnect(); } catch { /* ignore */ }
    }
    for (const w of this.raws) {
      try { w.terminate(); } catch { /* ignore */ }
    }
    if (!this.srv) return null;
    const killer = setTimeout(() => this.srv.stop('SIGKILL'), 5000);
    const r = await this.srv.stop('SIGTERM');
    clearTimeout(killer);
    running.delete(this.srv);
    return r;
  }
}

/** A test with its own crierd: fn(env) runs between start and stop. */
function ctest(name, settings, fn, timeout = 20000) {
  test(name, { timeout }, async (t) => {
    const env = new Env();
    let failure = null;
    try {
      await env.start(settings);
      await fn(env);
    } catch (e) {
      failure = e;
    }
    const diag = failure || process.env.CF_TRACE ? env.diag() : '';
    if (!failure && diag) t.diagnostic(diag);      // CF_TRACE=1: frames of passing tests too
    let exit = null;
    try {
      exit = await env.close();
    } catch (e) {
      failure ??= e;
    }
    if (failure) {
      failure.message += `\n${diag}`;
      throw failure;
    }
    if (exit && exit.code !== 0)
      throw new Error(`crierd did not exit cleanly on SIGTERM: ${JSON.stringify(exit)}\n${env.srv.log().slice(-3000)}`);
  });
}

function connect(c) {
  const p = waitEvent(c, 'connected', { what: `${c.label} connected` });
  c.connect();
  return p;
}

function subscribe(s, timeout = 5000) {
  const p = waitEvent(s, 'subscribed', { what: `subscribed to ${s.channel}`, timeout });
  s.subscribe();
  return p;
}

const offsets = (pubs) => pubs.map((p) => p.offset);

/** The connecting and disconnected events of c after it first connected. */
function drops(c) {
  const i = c.events.findIndex((e) => e.ev === 'connected');
  return c.events.slice(i + 1).filter((e) => e.ev === 'connecting' || e.ev === 'disconnected')
    .map((e) => `${e.ev} ${e.ctx.code} ${e.ctx.reason}`);
}

// ---------------------------------------------------------------------------
// 1. Connection tokens

ctest('1a connect with an HS256 token: connected event with a client id', [], async (env) => {
  const c = env.client('hs256', { token: token('42') });
  const ctx = await connect(c);
  assert.equal(typeof ctx.client, 'string');
  assert.ok(ctx.client.length > 0, 'client id is not empty');
  assert.equal(ctx.transport, 'websocket');
  const reply = c.frames.find('<', (m) => m.connect);
  assert.ok(reply, 'a connect reply');
  assert.equal(reply.id, c.frames.find('>', (m) => m.connect).id, 'the connect reply echoes the command id');
  assert.equal(reply.connect.client, ctx.client);
});

ctest('1b connect with an RS256 token: connected event with a client id', [`auth.rsa_public_key=${rsaPem}`],
  async (env) => {
    const c = env.client('rs256', { token: rs256({ sub: '42', exp: nowSeconds() + 3600 }, rsa.privateKey) });
    const ctx = await connect(c);
    assert.ok(typeof ctx.client === 'string' && ctx.client.length > 0, 'client id');
    assert.equal(ctx.transport, 'websocket');
  });

ctest('1c token signed with the wrong key: disconnected 3500, no reconnect', [`auth.rsa_public_key=${rsaPem}`],
  async (env) => {
    const bad = [
      env.client('hs256-wrong-secret', { token: hs256({ sub: '42', exp: nowSeconds() + 3600 }, 'not-the-secret') }),
      env.client('rs256-wrong-key', { token: rs256({ sub: '42', exp: nowSeconds() + 3600 }, otherRsa.privateKey) }),
    ];
    for (const c of bad) {
      const d = waitEvent(c, 'disconnected', { what: `${c.label} disconnected` });
      c.connect();
      const ctx = await d;
      assert.equal(ctx.code, 3500, `${c.label}: disconnect code`);
    }
    await sleep(1500);            // a reconnect would start within 100..500 ms
    for (const c of bad) {
      assert.equal(c.state, 'disconnected', `${c.label} stays disconnected`);
      assert.equal(c.frames.opens(), 1, `${c.label} opened no second transport`);
      assert.equal(c.events.filter((e) => e.ev === 'connected').length, 0, `${c.label} never connected`);
      assert.ok(c.frames.entries.some((e) => e.dir === 'close' && e.text.startsWith('3500')),
        `${c.label}: the WebSocket was closed with code 3500`);
    }
  });

ctest('1d expired token: error 109, getToken called, connects with the fresh token', [], async (env) => {
  let calls = 0;
  const expired = token('42', { exp: nowSeconds() - 120 });
  const fresh = token('42');
  const c = env.client('expired', {
    token: expired,
    getToken: async () => { calls++; return fresh; },
  });
  const err = waitEvent(c, 'error', { pred: (e) => e.type === 'connect', what: 'connect error' });
  const connected = connect(c);
  const e = await err;
  assert.equal(e.error.code, 109, 'connect error code');
  await connected;
  assert.equal(calls, 1, 'getToken called once');
  const sent = c.frames.lines('>').filter((m) => m.connect);
  assert.equal(sent.length, 2, 'two connect commands');
  assert.equal(sent[0].connect.token, expired);
  assert.equal(sent[1].connect.token, fresh);
  assert.equal(c.events.filter((x) => x.ev === 'disconnected').length, 0, 'never disconnected');
});

ctest('1e subs claim: server-side subscription with the claim info and data; publications arrive',
  ['channels.history_size=10', 'channels.presence=true'], async (env) => {
    const c = env.client('subs-claim', {
      token: token('42', { subs: { news: { info: { role: 'admin' }, data: { welcome: 1 } } } }),
    });
    const subscribed = waitEvent(c, 'subscribed', { pred: (x) => x.channel === 'news', what: 'server-side subscribed' });
    const pubs = [];
    c.on('publication', (ctx) => pubs.push(ctx));
    const { client } = await connect(c);
    const ctx = await subscribed;
    assert.deepEqual(ctx.data, { welcome: 1 }, 'data from the claim');
    assert.equal(ctx.recoverable, true, 'recoverable where history exists');
    assert.equal(ctx.positioned, true);
    assert.ok(ctx.streamPosition?.epoch, `stream position: ${JSON.stringify(ctx.streamPosition)}`);
    const reply = c.frames.find('<', (m) => m.connect);
    assert.deepEqual(Object.keys(reply.connect.subs ?? {}), ['news'], 'connect reply subs');

    const presence = await env.api('presence', { channel: 'news' });
    assert.deepEqual(presence.presence[client]?.chan_info, { role: 'admin' }, 'chan_info from the claim');
    assert.deepEqual(presence.presence[client]?.conn_info, { name: 'user 42' });

    const p = await env.api('publish', { channel: 'news', data: { n: 1 } });
    await waitUntil(() => pubs.length >= 1, { what: 'publication on the server-side subscription' });
    assert.equal(pubs[0].channel, 'news');
    assert.deepEqual(pubs[0].data, { n: 1 });
    assert.equal(pubs[0].offset, p.offset);
  });

// ---------------------------------------------------------------------------
// 2. Subscribe and publish

const PUBSUB_SETTINGS = [
  'channels.history_size=100',
  'channels.allow_publish=true',
  'namespace.ro.allow_publish=false',
  'namespace.private.require_sub_token=true',
  'namespace.private.history_size=10',
];

ctest('2a pipelined connect+subscribe; API and client publications arrive with offsets 1, 2, 3',
  PUBSUB_SETTINGS, async (env) => {
    const c = env.client('publisher', { token: token('42') });
    const s = env.sub(c, 'news');
    const subscribed = waitEvent(s, 'subscribed', { what: 'subscribed to news' });
    s.subscribe();                       // before connect: sent in the connect frame
    const { client } = await connect(c);
    await subscribed;

    const first = c.frames.entries.find((e) => e.dir === '>');
    const cmds = parseLines(first.text);
    assert.ok(cmds.length >= 2 && cmds[0].connect && cmds[1].subscribe,
      `connect and subscribe pipelined in the first frame: ${first.text}`);
    const got = c.frames.lines('<').filter((m) => m.id);
    assert.deepEqual(got.slice(0, 2).map((m) => m.id), [cmds[0].id, cmds[1].id], 'replies in command order');
    assert.ok(got[0].connect && got[1].subscribe, 'connect and subscribe results');

    // a second subscriber on another connection
    const c2 = env.client('reader', { token: token('7') });
    const s2 = env.sub(c2, 'news');
    await Promise.all([connect(c2), subscribe(s2)]);

    const a1 = await env.api('publish', { channel: 'news', data: { n: 1 } });
    const a2 = await env.api('publish', { channel: 'news', data: { n: 2 } });
    assert.equal(a1.offset, 1, 'API publish result offset');
    assert.equal(a2.offset, 2, 'API publish result offset');
    assert.ok(typeof a1.epoch === 'string' && a1.epoch.length > 0, 'API publish result epoch');
    assert.equal(a2.epoch, a1.epoch);
    const pr = await s.publish({ n: 3 });
    assert.ok(pr && typeof pr === 'object', 'publish result');
    const pubCmd = c.frames.find('>', (m) => m.publish);
    const pubReply = c.frames.find('<', (m) => m.id === pubCmd.id);
    assert.ok(pubReply.publish && !pubReply.error, `publish reply: ${JSON.stringify(pubReply)}`);

    for (const sub of [s, s2]) {
      await waitUntil(() => sub.pubs.length >= 3, { what: `3 publications on ${sub.channel}` });
      assert.deepEqual(sub.pubs.map((p) => p.data), [{ n: 1 }, { n: 2 }, { n: 3 }]);
      assert.deepEqual(offsets(sub.pubs), [1, 2, 3]);
      assert.equal(sub.pubs[2].info?.user, '42', 'client publication carries the publisher info');
      assert.equal(sub.pubs[2].info?.client, client);
    }
  });

ctest('2b client publish where the channel does not allow it: error 103', PUBSUB_SETTINGS, async (env) => {
  const c = env.client('ro', { token: token('42') });
  const s = env.sub(c, 'ro:feed');
  await Promise.all([connect(c), subscribe(s)]);
  await assert.rejects(s.publish({ x: 1 }), (e) => {
    assert.equal(e.code, 103, `publish error: ${JSON.stringify(e)}`);
    return true;
  });
  assert.equal(c.state, 'connected');
});

ctest('2c subscribe needing a token, without one: error 103, unsubscribed with code 103', PUBSUB_SETTINGS,
  async (env) => {
    const c = env.client('no-sub-token', { token: token('42') });
    const s = env.sub(c, 'private:room');
    const uns = waitEvent(s, 'unsubscribed', { what: 'unsubscribed from private:room' });
    await connect(c);
    s.subscribe();
    const u = await uns;
    assert.equal(u.code, 103, 'unsubscribe code');
    assert.equal(s.state, 'unsubscribed');
    const cmd = c.frames.find('>', (m) => m.subscribe);
    const reply = c.frames.find('<', (m) => m.id === cmd.id);
    assert.equal(reply.error?.code, 103, `subscribe reply: ${JSON.stringify(reply)}`);
    assert.equal(c.state, 'connected', 'the connection stays up');
  });

ctest('2d private channel with a valid subscription token', PUBSUB_SETTINGS, async (env) => {
  const c = env.client('sub-token', { token: token('42') });
  const s = env.sub(c, 'private:room', { token: subToken('42', 'private:room') });
  await Promise.all([connect(c), subscribe(s)]);
  await env.api('publish', { channel: 'private:room', data: { secret: true } });
  await waitUntil(() => s.pubs.length >= 1, { what: 'publication on private:room' });
  assert.deepEqual(s.pubs[0].data, { secret: true });
  assert.equal(s.pubs[0].offset, 1);
});

ctest('2e subscription token for another channel is rejected', PUBSUB_SETTINGS, async (env) => {
  const c = env.client('wrong-channel-token', { token: token('42') });
  const s = env.sub(c, 'private:room', { token: subToken('42', 'private:other') });
  await connect(c);
  const disconnected = waitEvent(c, 'disconnected', { what: 'disconnected' });
  s.subscribe();
  // A10.2 / A16.14: a valid token whose channel differs from the requested
  // one is an invalid token: terminal disconnect 3500 (not error 103, which
  // is for tokens that do not verify).
  const d = await disconnected;
  assert.equal(d.code, 3500, `disconnect code: ${JSON.stringify(d)}`);
  assert.ok(c.frames.entries.some((e) => e.dir === 'close' && e.text.startsWith('3500')), 'close frame 3500');
  const cmd = c.frames.find('>', (m) => m.subscribe);
  assert.equal(c.frames.find('<', (m) => m.id === cmd.id), undefined, 'no subscribe reply before the close');
  assert.ok(!s.events.some((e) => e.ev === 'subscribed'), 'never subscribed');
  await sleep(1000);              // a reconnect would start within 100..500 ms
  assert.equal(c.state, 'disconnected', 'terminal: no reconnect');
  assert.equal(c.frames.opens(), 1, 'no second transport');
});

ctest('2f subscription token expiring in 3 s is refreshed with sub_refresh; still subscribed and receiving',
  [...PUBSUB_SETTINGS, 'auth.expired_close_delay=2s'], async (env) => {
    // The grace after a sub token's exp is 2 s here (25 s by default), so a
    // missing sub_refresh would end the subscription (unsubscribe 2501)
    // within the test.
    let calls = 0;
    const exp = nowSeconds() + 3;
    const c = env.client('sub-refresh', { token: token('42') });
    const s = env.sub(c, 'private:room', {
      getToken: async (ctx) => {
        calls++;
        assert.equal(ctx.channel, 'private:room');
        return subToken('42', 'private:room', { exp: calls === 1 ? exp : nowSeconds() + 3600 });
      },
    });
    await Promise.all([connect(c), subscribe(s)]);
    const subCmd = c.frames.find('>', (m) => m.subscribe);
    const subReply = c.frames.find('<', (m) => m.id === subCmd.id);
    assert.equal(subReply.subscribe?.expires, true, `subscribe result expires: ${JSON.stringify(subReply)}`);
    assert.ok(subReply.subscribe.ttl >= 1 && subReply.subscribe.ttl <= 3, `ttl ${subReply.subscribe.ttl}`);

    const refreshed = await waitUntil(() => {
      const cmd = c.frames.find('>', (m) => m.sub_refresh);
      return cmd && c.frames.find('<', (m) => m.id === cmd.id);
    }, { what: 'sub_refresh reply', timeout: 7000 });
    assert.ok(refreshed.sub_refresh && !refreshed.error, `sub_refresh reply: ${JSON.stringify(refreshed)}`);
    assert.equal(refreshed.sub_refresh.expires, true);
    assert.ok(refreshed.sub_refresh.ttl > 60, `new ttl ${refreshed.sub_refresh.ttl}`);
    const sent = c.frames.find('>', (m) => m.sub_refresh).sub_refresh;
    assert.equal(sent.channel, 'private:room');
    assert.equal(calls, 2, 'getToken: once to subscribe, once to refresh');

    // well past the first token's expiry and the grace: still subscribed
    await sleep(Math.max(0, (exp + 3) * 1000 - Date.now()));
    assert.equal(s.state, 'subscribed');
    assert.deepEqual(s.events.map((e) => e.ev), ['subscribing', 'subscribed'], 'no unsubscribe or resubscribe');
    assert.equal(c.frames.count('<', (m) => m.push?.unsubscribe), 0, 'no unsubscribe push');
    await env.api('publish', { channel: 'private:room', data: { after: 'refresh' } });
    await waitUntil(() => s.pubs.length >= 1, { what: 'publication after the refresh' });
    assert.deepEqual(s.pubs.map((p) => p.data), [{ after: 'refresh' }]);
    assert.deepEqual(drops(c), [], 'the connection stayed up');
  });

// ---------------------------------------------------------------------------
// 3. History, presence, join/leave

const CHAT_SETTINGS = [
  'namespace.chat.history_size=10',
  'namespace.chat.history_ttl=5m',
  'namespace.chat.presence=true',
  'namespace.chat.join_leave=true',
  'namespace.chat.allow_history=true',
  'namespace.chat.allow_presence=true',
  'namespace.quiet.presence=true',
  'namespace.quiet.join_leave=false',
  'namespace.nohist.history_size=0',
];

ctest('3a history with limit, since and reverse', CHAT_SETTINGS, async (env) => {
  const c = env.client('history', { token: token('42') });
  const s = env.sub(c, 'chat:h');
  const n = env.sub(c, 'nohist:h');
  await Promise.all([connect(c), subscribe(s), subscribe(n)]);
  let epoch;
  for (let i = 1; i <= 5; i++) {
    const r = await env.api('publish', { channel: 'chat:h', data: { n: i } });
    assert.equal(r.offset, i);
    epoch = r.epoch;
  }
  await waitUntil(() => s.pubs.length >= 5, { what: '5 publications' });

  const all = await s.history({ limit: -1 });
  assert.deepEqual(offsets(all.publications), [1, 2, 3, 4, 5], 'limit -1: everything, oldest first');
  assert.deepEqual(all.publications.map((p) => p.data), [1, 2, 3, 4, 5].map((i) => ({ n: i })));
  assert.equal(all.offset, 5, 'stream top offset');
  assert.equal(all.epoch, epoch, 'epoch as returned by the API');

  const pos = await s.history({ limit: 0 });
  assert.equal(pos.publications.length, 0, 'limit 0: position only');
  assert.equal(pos.offset, 5);
  assert.equal(pos.epoch, epoch);

  assert.deepEqual(offsets((await s.history({ limit: 2 })).publications), [1, 2], 'limit 2');
  assert.deepEqual(offsets((await s.history({ limit: 2, reverse: true })).publications), [5, 4],
    'limit 2, reverse');
  assert.deepEqual(offsets((await s.history({ limit: 10, since: { offset: 2, epoch } })).publications),
    [3, 4, 5], 'since offset 2');
  assert.deepEqual(offsets((await s.history({ limit: 2, since: { offset: 1, epoch } })).publications),
    [2, 3], 'since offset 1, limit 2');

  await assert.rejects(s.history({ limit: 10, since: { offset: 2, epoch: 'not-the-epoch' } }), (e) => {
    assert.equal(e.code, 112, `foreign epoch: ${JSON.stringify(e)}`);
    return true;
  });
  // No history in the namespace: 108 "not available" (A7), or 103 when the
  // right to call history is checked first (allow_history needs history_size).
  await assert.rejects(n.history({ limit: 10 }), (e) => {
    assert.ok(e.code === 108 || e.code === 103, `history disabled: ${JSON.stringify(e)}`);
    return true;
  });
});

ctest('3b presence and presence_stats: two clients of one user count once', CHAT_SETTINGS, async (env) => {
  const a1 = env.client('alice-1', { token: token('42') });
  const a2 = env.client('alice-2', { token: token('42') });
  const b = env.client('bob', { token: token('7') });
  const subs = [a1, a2, b].map((c) => env.sub(c, 'chat:p'));
  const ids = await Promise.all([a1, a2, b].map(async (c, i) => {
    const [ctx] = await Promise.all([connect(c), subscribe(subs[i])]);
    return ctx.client;
  }));

  const p = await subs[0].presence();
  assert.deepEqual(Object.keys(p.clients).sort(), [...ids].sort(), 'presence is keyed by client id');
  for (const [i, id] of ids.entries()) {
    const info = p.clients[id];
    assert.equal(info.client, id);
    assert.equal(info.user, i < 2 ? '42' : '7');
    assert.deepEqual(info.connInfo, { name: `user ${info.user}` }, 'conn_info from the token info claim');
  }
  assert.deepEqual(await subs[0].presenceStats(), { numClients: 3, numUsers: 2 });

  // bob leaves: the stats follow
  subs[2].unsubscribe();
  await waitUntil(async () => {
    const st = await subs[1].presenceStats();
    return st.numClients === 2 && st.numUsers === 1;
  }, { what: 'presence_stats {2 clients, 1 user} after bob unsubscribed', interval: 50 });
  const p2 = await subs[1].presence();
  assert.deepEqual(Object.keys(p2.clients).sort(), ids.slice(0, 2).sort());
});

ctest('3c join and leave pushes when asked for and enabled, none otherwise', CHAT_SETTINGS, async (env) => {
  const a = env.client('watcher', { token: token('42') });
  const q = env.client('not-asking', { token: token('43') });
  const b = env.client('bob', { token: token('7') });
  const aSub = env.sub(a, 'chat:jl', { joinLeave: true });
  const aQuiet = env.sub(a, 'quiet:jl', { joinLeave: true });
  const qSub = env.sub(q, 'chat:jl');
  await Promise.all([connect(a), subscribe(aSub), subscribe(aQuiet), connect(q), subscribe(qSub)]);

  const bJoins = (s) => s.events.filter((e) => (e.ev === 'join' || e.ev === 'leave') && e.ctx.info.user === '7');
  const join = waitEvent(aSub, 'join', { pred: (j) => j.info.user === '7', what: "bob's join" });
  const bSub = env.sub(b, 'chat:jl', { joinLeave: true });
  const bQuiet = env.sub(b, 'quiet:jl', { joinLeave: true });
  const [{ client: bId }] = await Promise.all([connect(b), subscribe(bSub), subscribe(bQuiet)]);
  const j = await join;
  assert.equal(j.channel, 'chat:jl');
  assert.equal(j.info.client, bId);
  assert.deepEqual(j.info.connInfo, { name: 'user 7' });

  const leave = waitEvent(aSub, 'leave', { pred: (l) => l.info.user === '7', what: "bob's leave" });
  bSub.unsubscribe();
  const l = await leave;
  assert.equal(l.info.client, bId);

  // Sentinels: a publication after bob's join/leave reaches the clients that
  // must not see them; a join/leave push would have been queued before it.
  await env.api('publish', { channel: 'chat:jl', data: 'sentinel' });
  await env.api('publish', { channel: 'quiet:jl', data: 'sentinel' });
  await waitUntil(() => qSub.pubs.length >= 1 && aQuiet.pubs.length >= 1, { what: 'sentinel publications' });
  assert.deepEqual(bJoins(qSub), [], 'no join/leave for a subscriber that did not ask (joinLeave false)');
  assert.deepEqual(bJoins(aQuiet), [], 'no join/leave in a namespace without join_leave');
  assert.deepEqual(bJoins(aSub).map((e) => e.ev), ['join', 'leave'], 'exactly one join and one leave');
});

// ---------------------------------------------------------------------------
// 4, 5. Recovery

ctest('4 reconnect after a server disconnect 3001 recovers the 3 missed publications',
  ['channels.history_size=100', 'channels.history_ttl=5m', 'channels.force_recovery=true'], async (env) => {
    // reconnect delay 1.5..2 s: the API publications below happen while offline
    const c = env.client('recovering', { token: token('42'), minReconnectDelay: 1500, maxReconnectDelay: 2000 });
    const s = env.sub(c, 'rec');
    const [, first] = await Promise.all([connect(c), subscribe(s)]);
    assert.equal(first.recoverable, true, 'recoverable (force_recovery)');
    assert.equal(first.wasRecovering, false);
    let epoch;
    for (let i = 1; i <= 2; i++) epoch = (await env.api('publish', { channel: 'rec', data: { n: i } })).epoch;
    await waitUntil(() => s.pubs.length >= 2, { what: '2 live publications' });

    const connecting = waitEvent(c, 'connecting', { what: 'connecting after the server disconnect' });
    const resubscribed = waitEvent(s, 'subscribed', { what: 'resubscribed', timeout: 8000 });
    await env.api('disconnect', { user: '42', disconnect: { code: 3001, reason: 'shutdown' } });
    const cc = await connecting;
    assert.equal(cc.code, 3001, 'connecting code');
    for (let i = 3; i <= 5; i++) {
      const r = await env.api('publish', { channel: 'rec', data: { n: i } });
      assert.equal(r.offset, i);
    }
    assert.equal(c.state, 'connecting', 'publications 3..5 were made while the client was offline');

    const r = await resubscribed;
    assert.equal(r.wasRecovering, true, 'wasRecovering');
    assert.equal(r.recovered, true, 'recovered');
    await waitUntil(() => s.pubs.length >= 5, { what: '5 publications' });

    // the subscribe reply itself (A11: offset is the client's own position)
    const subCmds = c.frames.lines('>').filter((m) => m.subscribe);
    assert.equal(subCmds.length, 2);
    assert.equal(subCmds[1].subscribe.recover, true, 'resubscribe asks to recover');
    assert.equal(subCmds[1].subscribe.offset, 2);
    const reply = c.frames.find('<', (m) => m.id === subCmds[1].id);
    assert.equal(reply.subscribe?.was_recovering, true);
    assert.equal(reply.subscribe?.recovered, true);
    assert.equal(reply.subscribe?.offset, 2, 'recovered reply carries the client offset');
    assert.equal(reply.subscribe?.epoch, epoch, 'same epoch');
    assert.deepEqual(offsets(reply.subscribe?.publications ?? []), [3, 4, 5]);

    // nothing duplicated: a live publication after the recovery comes next
    await env.api('publish', { channel: 'rec', data: { n: 6 } });
    await waitUntil(() => s.pubs.length >= 6, { what: '6 publications' });
    await sleep(100);
    assert.deepEqual(offsets(s.pubs), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(s.pubs.map((p) => p.data.n), [1, 2, 3, 4, 5, 6]);
  });

ctest('4b subscribe result of a recoverable channel carries an epoch before the first publication',
  ['channels.history_size=100', 'channels.history_ttl=5m', 'channels.force_recovery=true'], async (env) => {
    // A11 step 2 / A4: a positioned subscription is told its position (epoch,
    // offset).  Without an epoch the SDK later recovers with an empty one,
    // which the server cannot tell from a stream of an earlier incarnation.
    const c = env.client('early', { token: token('42') });
    const s = env.sub(c, 'fresh');
    const [, ctx] = await Promise.all([connect(c), subscribe(s)]);
    assert.equal(ctx.recoverable, true);
    assert.equal(ctx.positioned, true);
    const p = await env.api('publish', { channel: 'fresh', data: { n: 1 } });
    assert.ok(ctx.streamPosition?.epoch, `epoch in the subscribe result: ${JSON.stringify(ctx.streamPosition)}`);
    assert.equal(ctx.streamPosition.offset, 0);
    assert.equal(ctx.streamPosition.epoch, p.epoch, 'the epoch stays when the first publication comes');
  });

ctest('5 recovery fails when the missed history expired: wasRecovering true, recovered false',
  ['channels.history_size=100', 'channels.history_ttl=1s', 'channels.force_recovery=true'], async (env) => {
    // reconnect exactly 3.5 s after the disconnect: the publication made
    // meanwhile has expired from history by then (ttl 1 s)
    const c = env.client('late', { token: token('42'), minReconnectDelay: 3500, maxReconnectDelay: 3500 });
    const s = env.sub(c, 'rec');
    const [, first] = await Promise.all([connect(c), subscribe(s)]);
    assert.equal(first.recoverable, true);
    const p1 = await env.api('publish', { channel: 'rec', data: { n: 1 } });
    await waitUntil(() => s.pubs.length >= 1, { what: 'first publication' });

    const connecting = waitEvent(c, 'connecting', { what: 'connecting after the server disconnect' });
    const resubscribed = waitEvent(s, 'subscribed', { what: 'resubscribed', timeout: 10000 });
    await env.api('disconnect', { user: '42', disconnect: { code: 3001, reason: 'shutdown' } });
    await connecting;
    const p2 = await env.api('publish', { channel: 'rec', data: { n: 2 } });
    assert.equal(p2.offset, 2);
    assert.equal(c.state, 'connecting', 'publication 2 was made while the client was offline');

    const r = await resubscribed;
    assert.equal(r.wasRecovering, true, 'wasRecovering');
    assert.equal(r.recovered, false, 'recovered');
    const subCmds = c.frames.lines('>').filter((m) => m.subscribe);
    const reply = c.frames.find('<', (m) => m.id === subCmds[1].id);
    assert.deepEqual(reply.subscribe?.publications ?? [], [], 'no publications in a failed recovery');
    if (reply.subscribe?.epoch === p1.epoch)
      assert.equal(reply.subscribe?.offset, 2, 'failed recovery reports the current top offset');

    // live publications continue
    const p3 = await env.api('publish', { channel: 'rec', data: { n: 3 } });
    await waitUntil(() => s.pubs.length >= 2, { what: 'publication after the failed recovery' });
    assert.deepEqual(s.pubs.map((p) => p.data.n), [1, 3]);
    assert.equal(s.pubs[1].offset, p3.offset);
  });

ctest('5b raw: recovery from a foreign epoch fails; with flag bit 2 it is error 112',
  ['channels.history_size=100', 'channels.history_ttl=5m', 'channels.force_recovery=true'], async (env) => {
    let top;
    for (let i = 1; i <= 2; i++) top = await env.api('publish', { channel: 'a', data: { n: i } });
    await env.api('publish', { channel: 'b', data: { n: 1 } });
    const ws = await env.raw();
    ws.sendLines({ id: 1, connect: { token: token('42') } },
      { id: 2, subscribe: { channel: 'a', recover: true, offset: 1, epoch: 'foreign' } },
      { id: 3, subscribe: { channel: 'b', recover: true, offset: 1, epoch: 'foreign', flag: 2 } });
    const r2 = (await ws.reply((m) => m.id === 2, 'subscribe a')).subscribe;
    assert.ok(r2, 'subscribe result for a');
    assert.equal(r2.was_recovering, true, 'was_recovering');
    assert.ok(!r2.recovered, 'not recovered');
    assert.deepEqual(r2.publications ?? [], [], 'no publications');
    assert.equal(r2.epoch, top.epoch, 'current epoch');
    assert.equal(r2.offset, top.offset, 'current top offset');
    const r3 = await ws.reply((m) => m.id === 3, 'subscribe b');
    assert.equal(r3.error?.code, 112, `flag bit 2: ${JSON.stringify(r3)}`);
  });

// ---------------------------------------------------------------------------
// 6, 7. Connection expiry and terminal disconnect

ctest('6 token expiring in 3 s is refreshed through getToken; the connection stays up', [], async (env) => {
  let calls = 0;
  const exp = nowSeconds() + 3;
  const initial = token('42', { exp });
  const c = env.client('refreshing', {
    token: initial,
    getToken: async () => { calls++; return token('42'); },
  });
  const { client } = await connect(c);
  const reply = c.frames.find('<', (m) => m.connect);
  assert.equal(reply.connect.expires, true, 'connect result expires');
  assert.ok(reply.connect.ttl >= 1 && reply.connect.ttl <= 3, `connect result ttl ${reply.connect.ttl}`);

  const refreshed = await waitUntil(() => c.frames.find('<', (m) => m.id && m.id ===
    c.frames.find('>', (x) => x.refresh)?.id), { what: 'refresh reply', timeout: 7000 });
  assert.ok(refreshed.refresh && !refreshed.error, `refresh reply: ${JSON.stringify(refreshed)}`);
  assert.ok(calls >= 1, 'getToken called');
  assert.notEqual(c.frames.find('>', (m) => m.refresh).refresh.token, initial, 'refresh carries the new token');
  if (refreshed.refresh.expires) assert.ok(refreshed.refresh.ttl > 60, 'new ttl from the fresh token');

  // stay connected well past the first token's expiry
  await sleep(Math.max(0, (exp + 2) * 1000 - Date.now()));
  assert.equal(c.state, 'connected');
  assert.deepEqual(drops(c), [], 'no disconnect');
  assert.equal(c.frames.opens(), 1, 'one transport');
  const connects = c.events.filter((e) => e.ev === 'connected');
  assert.deepEqual(connects.map((e) => e.ctx.client), [client], 'one connection, same client id');
});

ctest('7 server disconnect 3503 is terminal: disconnected, no reconnect', [], async (env) => {
  const c = env.client('terminated', { token: token('42') });
  const other = env.client('other-user', { token: token('7') });
  await Promise.all([connect(c), connect(other)]);
  const d = waitEvent(c, 'disconnected', { what: 'disconnected' });
  await env.api('disconnect', { user: '42', disconnect: { code: 3503, reason: 'force disconnect' } });
  const ctx = await d;
  assert.equal(ctx.code, 3503);
  assert.equal(ctx.reason, 'force disconnect');
  assert.ok(c.frames.entries.some((e) => e.dir === 'close' && e.text.startsWith('3503')), 'close frame 3503');
  await sleep(1500);              // a reconnect would start within 100..500 ms
  assert.equal(c.state, 'disconnected');
  assert.equal(c.frames.opens(), 1, 'no second transport');
  assert.deepEqual(drops(c), ['disconnected 3503 force disconnect'], 'never reconnecting');
  assert.equal(other.state, 'connected', "another user's connection is untouched");
  assert.deepEqual(drops(other), []);
});

// ---------------------------------------------------------------------------
// 8. Pings and framing

const PING_SETTINGS = ['websocket.pong_timeout=1s', 'websocket.ping_interval=2s'];

ctest('8a server pings every 2 s; the SDK answers with pongs and stays connected for 5 s', PING_SETTINGS,
  async (env) => {
    const c = env.client('pinged', { token: token('42') });
    const t0 = Date.now();
    await connect(c);
    const reply = c.frames.find('<', (m) => m.connect);
    assert.equal(reply.connect.ping, 2, 'connect result ping interval (s)');
    assert.equal(reply.connect.pong, true, 'connect result pong');
    await waitUntil(() => c.frames.count('<', isEmptyObject) >= 2, { what: '2 server pings', timeout: 6000 });
    await sleep(Math.max(0, t0 + 5000 - Date.now()));
    assert.ok(c.frames.count('>', isEmptyObject) >= 2, 'the SDK sent pongs');
    assert.equal(c.state, 'connected');
    assert.deepEqual(drops(c), [], 'no disconnect');
    assert.equal(c.frames.opens(), 1);
  });

ctest('8b raw: commands in one frame answered in order, compact replies for pretty-printed payloads',
  ['channels.history_size=10', 'channels.allow_history=true'], async (env) => {
    const ws = await env.raw();
    ws.sendLines({ id: 1, connect: { token: token('42') } }, { id: 2, subscribe: { channel: 'news' } });
    await ws.reply((m) => m.id === 2, 'subscribe reply');
    assert.deepEqual(ws.replies.filter((m) => m.id).map((m) => m.id), [1, 2], 'replies in order');
    assert.ok(ws.replies[0].connect?.client, 'connect result with client');
    assert.ok(ws.replies[1].subscribe && !ws.replies[1].error, 'subscribe result');

    const data = { text: 'line one\nline two', nested: { list: [1, 2, 3], empty: {}, flag: true }, u: 'héllo ✓' };
    await env.api('publish', JSON.stringify({ channel: 'news', data }, null, 2));
    const push = await ws.reply((m) => m.push?.pub, 'publication push');
    assert.equal(push.push.channel, 'news');
    assert.deepEqual(push.push.pub.data, data);

    ws.sendLines({ id: 3, subscribe: { channel: 'news' } }, { id: 4, history: { channel: 'news', limit: -1 } });
    await ws.reply((m) => m.id === 4, 'history reply');
    assert.deepEqual(ws.replies.filter((m) => m.id).map((m) => m.id), [1, 2, 3, 4], 'replies in order');
    const r3 = ws.replies.find((m) => m.id === 3);
    assert.equal(r3.error?.code, 105, `second subscribe: ${JSON.stringify(r3)}`);
    const r4 = ws.replies.find((m) => m.id === 4);
    assert.deepEqual(r4.history?.publications?.map((p) => p.data), [data], 'history with the payload');

    assert.deepEqual(ws.replies.filter((m) => m.__invalid), [], 'every line is standalone JSON');
    for (const e of ws.frames.entries.filter((x) => x.dir === '<'))
      for (const line of e.text.trim().split('\n'))
        assert.ok(line.length > 0 && !line.includes('\r'), `compact line: ${JSON.stringify(line)}`);
  });

ctest('8c raw: a client that never answers pings is closed with 3012', PING_SETTINGS, async (env) => {
  const ws = await env.raw();
  ws.sendLines({ id: 1, connect: { token: token('42') } });
  const r = await ws.reply((m) => m.id === 1, 'connect reply');
  assert.equal(r.connect?.pong, true, 'connect result asks for pongs');
  const { code } = await withTimeout(ws.closed, 8000, 'close for missing pongs');
  assert.equal(code, 3012);
  assert.ok(ws.replies.some(isEmptyObject), 'a ping was sent before the close');
});

// ---------------------------------------------------------------------------
// 9. Unidirectional WebSocket

ctest('9 uni_websocket: the first message is the ConnectRequest; bare pushes follow',
  ['channels.history_size=10'], async (env) => {
    const frames = new FrameLog();
    const ws = new WebSocket(env.srv.url('ws', '/connection/uni_websocket'));
    env.raws.push(Object.assign(ws, { label: 'uni', frames }));
    const pushes = [];
    ws.on('message', (data) => {
      frames.add('<', data.toString());
      pushes.push(...parseLines(data.toString()));
    });
    await withTimeout(new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    }), 5000, 'uni WebSocket open');
    // No cf_connect in the URL: a bare ConnectRequest, not a command.
    const req = JSON.stringify({ token: token('42', { channels: ['news'] }), name: 'raw' });
    frames.add('>', req);
    ws.send(req);
    const connect = (await waitUntil(() => pushes.find((m) => m.connect), { what: 'connect push' })).connect;
    assert.ok(typeof connect.client === 'string' && connect.client.length > 0, 'client id');
    assert.ok(connect.subs?.news, `server-side subscription in the connect push: ${JSON.stringify(connect)}`);
    assert.ok(!pushes.some((m) => m.id !== undefined), 'no reply ids on a unidirectional stream');

    // Anything after connect is ignored, not a second connect or an error.
    ws.send(JSON.stringify({ token: 'garbage' }));
    const p = await env.api('publish', { channel: 'news', data: { n: 1 } });
    const pub = await waitUntil(() => pushes.find((m) => m.pub), { what: 'publication push' });
    assert.deepEqual(pub, { channel: 'news', pub: { data: { n: 1 }, offset: p.offset } }, 'a bare push');
    assert.equal(ws.readyState, WebSocket.OPEN, 'still open');
    assert.equal(pushes.filter((m) => m.connect).length, 1, 'one connect push');
  });
