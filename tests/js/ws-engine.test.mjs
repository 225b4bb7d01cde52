// The connection engine and our RFC 6455 codec against a real client
// library: the `ws` package from npm (pinned in package-lock.json).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startCrierd } from './crierd.mjs';

const { default: WebSocket } = await import('ws');

let crierd;
before(async () => {
  crierd = await startCrierd(['server.debug_endpoints=true', 'websocket.max_frame_size=64KiB',
    'websocket.max_message_size=256KiB']);
});
after(async () => { if (crierd) await crierd.stop('SIGKILL'); });

function open(path = '/debug/ws') {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(crierd.url('ws', path), { perMessageDeflate: true });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function collect(ws, n) {
  return new Promise((resolve) => {
    const got = [];
    ws.on('message', (data, isBinary) => {
      got.push(isBinary ? data : data.toString());
      if (got.length === n) resolve(got);
    });
  });
}

async function publish(body) {
  let r;
  try {
    r = await fetch(crierd.url('http', '/debug/publish'), { method: 'POST', body });
  } catch (e) {
    throw new Error(`publish failed: ${e.cause ? e.cause.message : e.message}\n${crierd.log()}`);
  }
  assert.equal(r.status, 200);
  return r.json();
}

test('50 ws clients receive every broadcast in order, no deflate negotiated', async () => {
  const clients = await Promise.all(Array.from({ length: 50 }, () => open()));
  for (const ws of clients) assert.equal(ws.extensions, '', 'permessage-deflate must stay off');
  const waits = clients.map((ws) => collect(ws, 200));
  for (let i = 0; i < 200; i++) {
    const r = await publish(JSON.stringify({ seq: i, text: 'héllo ✓' }));
    assert.equal(r.reached, 50);
  }
  for (const got of await Promise.all(waits)) {
    assert.deepEqual(got.map((m) => JSON.parse(m).seq), [...Array(200).keys()]);
    assert.equal(JSON.parse(got[0]).text, 'héllo ✓');
  }
  await Promise.all(clients.map((ws) => new Promise((r) => { ws.once('close', r); ws.close(1000); })));
});

test('fragmented and binary messages are reassembled (echo)', async () => {
  const ws = await open();
  const got = collect(ws, 2);
  const big = 'x'.repeat(150 * 1024);            // several 64 KiB-bounded fragments
  ws.send(big.slice(0, 60000), { fin: false });
  ws.ping('are you there');
  ws.send(big.slice(60000, 120000), { fin: false });
  ws.send(big.slice(120000), { fin: true });
  ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
  const [text, bin] = await got;
  assert.equal(text.length, big.length);
  assert.deepEqual([...bin], [0, 1, 2, 255]);
  ws.close();
});

test('oversized message is refused with close code 1009', async () => {
  const ws = await open();
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  ws.send('y'.repeat(300 * 1024));
  assert.equal(await closed, 1009);
});

test('SIGTERM drains: clients get close 1001 and crierd exits 0', async () => {
  const clients = await Promise.all(Array.from({ length: 10 }, () => open()));
  const codes = clients.map((ws) => new Promise((resolve) => ws.once('close', (code) => resolve(code))));
  const { code } = await crierd.stop('SIGTERM');
  crierd = null;
  assert.deepEqual(await Promise.all(codes), Array(10).fill(1001));
  assert.equal(code, 0);
});
