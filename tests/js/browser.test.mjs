// Real-browser tests (Debian's chromium through playwright-core): pages are
// served by crierd itself (/debug/page/NAME from [server] debug_pages_dir),
// so origins, CORS and cookies are what a deployment sees.
//
//  - a bare EventSource on /sub/CH receives publications and, after the
//    server drops it, resumes with Last-Event-ID without loss;
//  - /crier.js uses WebSocket, falls back to SSE when WebSocket is refused
//    and to long polling when both are, every message in order each time,
//    across a server-side kick;
//  - the centrifuge SDK in the page works over WebSocket and over SSE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCrierd } from './crierd.mjs';
import { hs256, nowSeconds } from './jwt.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SECRET = 'crier-browser-test-secret';
const API_KEY = 'crier-browser-test-api-key';

const skip = !existsSync(CHROMIUM) ? `${CHROMIUM} missing (apt-get install -y chromium)` : false;
const { chromium } = await import('playwright-core');

const pages = mkdtempSync(join(tmpdir(), 'crier-pages-'));
const here = new URL('.', import.meta.url).pathname;
let browser;
const running = new Set();

const token = (user, claims = {}) => hs256({ sub: user, exp: nowSeconds() + 3600, ...claims }, SECRET);

writeFileSync(join(pages, 'eventsource.html'), `<!doctype html>
<meta charset="utf-8"><title>bare EventSource</title>
<script>
  window.got = []; window.opens = 0; window.resets = [];
  const q = new URLSearchParams(location.search);
  const es = new EventSource('/sub/' + q.get('channels') + '?token=' + q.get('token'));
  es.onopen = () => { window.opens++; };
  es.onmessage = (ev) => { window.got.push({ data: JSON.parse(ev.data), id: ev.lastEventId }); };
  es.addEventListener('reset', (ev) => { window.resets.push(JSON.parse(ev.data)); });
</script>`);

writeFileSync(join(pages, 'crier.html'), `<!doctype html>
<meta charset="utf-8"><title>crier.js</title>
<script src="/crier.js"></script>
<script>
  window.got = []; window.transports = []; window.resets = []; window.disconnects = [];
  const q = new URLSearchParams(location.search);
  const crier = new Crier(location.origin, {
    channels: q.get('channels').split(','),
    token: q.get('token'),
    minReconnectDelay: 200,
    maxReconnectDelay: 400,
  });
  crier.on('message', (data, meta) => window.got.push({ channel: meta.channel, n: data.n, offset: meta.offset }));
  crier.on('transport', (name) => window.transports.push(name));
  crier.on('reset', (r) => window.resets.push(r));
  crier.on('disconnected', (d) => window.disconnects.push(d));
  window.crier = crier;
</script>`);

writeFileSync(join(pages, 'centrifuge.html'), `<!doctype html>
<meta charset="utf-8"><title>centrifuge SDK</title>
<script src="/debug/page/centrifuge.js"></script>
<script>
  window.got = []; window.state = 'new';
  const q = new URLSearchParams(location.search);
  const transport = q.get('transport');
  const endpoints = {
    websocket: 'ws://' + location.host + '/connection/websocket',
    sse: location.origin + '/connection/sse',
    http_stream: location.origin + '/connection/http_stream',
  };
  // The default emulation endpoint (/emulation, relative) is right in a page.
  const c = new Centrifuge([{ transport, endpoint: endpoints[transport] }], { token: q.get('token') });
  c.on('connected', (ctx) => { window.state = 'connected'; window.transport = ctx.transport; });
  const sub = c.newSubscription('page');
  sub.on('subscribed', () => { window.subscribed = true; });
  sub.on('publication', (ctx) => window.got.push(ctx.data.n));
  sub.subscribe();
  c.connect();
</script>`);
copyFileSync(join(here, 'node_modules/centrifuge/dist/centrifuge.js'), join(pages, 'centrifuge.js'));

before(async () => {
  if (skip) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  for (const srv of running) await srv.stop('SIGKILL');
  rmSync(pages, { recursive: true, force: true });
});

async function start(extra = []) {
  const srv = await startCrierd([
    'server.debug_endpoints=true',
    `server.debug_pages_dir=${pages}`,
    `auth.hmac_secret=${SECRET}`,
    `auth.api_keys=${API_KEY}`,
    'channels.history_size=1000',
    'channels.history_ttl=5m',
    'channels.force_recovery=true',
    'server.drain_timeout=1s',
    ...extra,
  ]);
  running.add(srv);
  return srv;
}

async function stop(srv) {
  running.delete(srv);
  await srv.stop();
}

async function api(srv, method, params) {
  const r = await fetch(srv.url('http', `/api/${method}`), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': API_KEY },
    body: JSON.stringify(params),
  });
  assert.equal(r.status, 200, `${method}: HTTP ${r.status}`);
  return r.json();
}

async function openPage(srv, name, params) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(srv.url('http', `/debug/page/${name}?${new URLSearchParams(params)}`));
  page.errors = errors;
  return page;
}

async function waitFor(page, expr, what, timeout = 15000) {
  try {
    await page.waitForFunction(expr, null, { timeout, polling: 50 });
  } catch (e) {
    const state = await page.evaluate(() => JSON.stringify({
      got: window.got, transports: window.transports, resets: window.resets,
      disconnects: window.disconnects, opens: window.opens, state: window.state,
    }));
    throw new Error(`${what}: ${e.message}\npage: ${state}\nerrors: ${page.errors.join('\n')}`);
  }
}

test('bare EventSource: publications, then resume after the server drops it, no loss', { skip }, async () => {
  const srv = await start();
  try {
    const page = await openPage(srv, 'eventsource.html', { channels: 'news', token: token('es') });
    await waitFor(page, () => window.opens === 1, 'EventSource open');
    for (let n = 1; n <= 3; n++) await api(srv, 'publish', { channel: 'news', data: { n } });
    await waitFor(page, () => window.got.length === 3, '3 live publications');

    // Dropped by the server (reconnectable), then 3 publications while away.
    await api(srv, 'disconnect', { user: 'es', disconnect: { code: 3001, reason: 'shutdown' } });
    for (let n = 4; n <= 6; n++) await api(srv, 'publish', { channel: 'news', data: { n } });
    await waitFor(page, () => window.opens === 2, 'EventSource reconnect', 20000);
    await api(srv, 'publish', { channel: 'news', data: { n: 7 } });
    await waitFor(page, () => window.got.length >= 7, '7 publications');
    await sleep(200);

    const got = await page.evaluate(() => window.got);
    assert.deepEqual(got.map((g) => g.data.n), [1, 2, 3, 4, 5, 6, 7], 'every message once, in order');
    const epoch = got[0].id.split(':')[0];
    assert.deepEqual(got.map((g) => g.id), [1, 2, 3, 4, 5, 6, 7].map((o) => `${epoch}:${o}`));
    assert.deepEqual(await page.evaluate(() => window.resets), []);
    await page.close();
  } finally {
    await stop(srv);
  }
});

const FALLBACKS = [
  { expect: 'websocket', disable: '' },
  { expect: 'sse', disable: 'websocket' },
  { expect: 'longpoll', disable: 'websocket,sse' },
];

for (const { expect, disable } of FALLBACKS) {
  test(`/crier.js uses ${expect}${disable ? ` when ${disable} is refused` : ''}, every message in order`, { skip }, async () => {
    const srv = await start(disable ? [`server.debug_disable_transports=${disable}`] : []);
    try {
      const page = await openPage(srv, 'crier.html', { channels: 'a,b', token: token('js') });
      await waitFor(page, () => window.crier && window.crier.state === 'connected', 'connected');
      assert.equal(await page.evaluate(() => window.crier.transport), expect);
      // Subscribed once the positions are known (the cursor names both).
      if (expect !== 'longpoll') await waitFor(page, () => window.crier.cursor.split(',').length === 2, 'positions');

      const publish = async (from, to) => {
        for (let n = from; n <= to; n++) await api(srv, 'publish', { channel: n % 2 ? 'a' : 'b', data: { n } });
      };
      await publish(1, 20);
      await waitFor(page, () => window.got.length === 20, '20 messages');

      // A server-side kick: crier.js reconnects on the same transport and
      // resumes from its compound cursor; the messages sent meanwhile come.
      await api(srv, 'disconnect', { user: 'js', disconnect: { code: 3001, reason: 'shutdown' } });
      await publish(21, 30);
      await waitFor(page, () => window.got.length >= 30, '30 messages');
      await publish(31, 40);
      await waitFor(page, () => window.got.length >= 40, '40 messages');
      await sleep(300);

      // Each channel is its own ordered stream: after a resume the missed
      // messages come channel by channel, each channel in order.
      const got = await page.evaluate(() => window.got);
      const ns = got.map((g) => g.n);
      assert.deepEqual(ns.slice(0, 20), [...Array(20).keys()].map((i) => i + 1), 'live: in order');
      assert.deepEqual([...ns].sort((x, y) => x - y), [...Array(40).keys()].map((i) => i + 1), 'all, once');
      for (const ch of ['a', 'b']) {
        const offsets = got.filter((g) => g.channel === ch).map((g) => g.offset);
        assert.deepEqual(offsets, [...Array(20).keys()].map((i) => i + 1), `offsets of ${ch}`);
      }
      assert.deepEqual(await page.evaluate(() => window.transports), [expect], 'one transport');
      assert.deepEqual(await page.evaluate(() => window.resets), []);
      assert.deepEqual(page.errors.filter((e) => !/Failed to load resource|WebSocket connection|EventSource/.test(e)), []);
      await page.close();
    } finally {
      await stop(srv);
    }
  });
}

for (const transport of ['websocket', 'sse']) {
  test(`the centrifuge SDK in a page over ${transport}`, { skip }, async () => {
    const srv = await start();
    try {
      const page = await openPage(srv, 'centrifuge.html', { transport, token: token('sdk') });
      await waitFor(page, () => window.state === 'connected' && window.subscribed, 'connected and subscribed');
      assert.equal(await page.evaluate(() => window.transport), transport);
      for (let n = 1; n <= 10; n++) await api(srv, 'publish', { channel: 'page', data: { n } });
      await waitFor(page, () => window.got.length === 10, '10 publications');
      assert.deepEqual(await page.evaluate(() => window.got), [...Array(10).keys()].map((i) => i + 1));
      await page.close();
    } finally {
      await stop(srv);
    }
  });
}
