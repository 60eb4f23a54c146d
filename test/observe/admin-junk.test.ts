// The admin API under junk: random bytes, slow clients (slowloris), oversized headers and bodies.
// The daemon keeps serving the proxy and the admin API, memory stays bounded, and each kind of junk
// gets the answer a careful HTTP server gives (400, 408, 413, 431) or is cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { Daemon } from '../../src/daemon.js';
import { ADMIN_LIMITS, MAX_BODY_BYTES } from '../../src/observe/admin-server.js';
import { lbConfig, taggedBackend, whoAnswers } from '../support/tcp.js';

async function daemonWithAdmin(t: { after(fn: () => unknown): void }) {
  const backends = await Promise.all(['a', 'b'].map((n) => taggedBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const cfg = lbConfig(backends);
  cfg.admin = { bind: '127.0.0.1:0' };
  const daemon = new Daemon({ log: pino({ level: 'silent' }) });
  await daemon.start(cfg);
  t.after(() => daemon.shutdown(0));
  return { daemon, adminPort: daemon.adminPort!, proxyPort: daemon.listener('fe')!.boundPort! };
}

/** A raw connection to the admin port: what it sent back, and a promise of its close. */
function rawClient(port: number): Promise<{ socket: Socket; reply: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.setEncoding('latin1').on('data', (d: string) => (reply += d));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => {}); // a reset is one of the expected ends
    socket.once('connect', () => resolve({ socket, reply: () => reply, closed }));
    socket.once('error', reject);
  });
}

/** Sends `bytes` on a fresh connection and resolves with the server's whole reply once it closed the connection. */
async function sendRaw(port: number, bytes: Buffer | string): Promise<string> {
  const c = await rawClient(port);
  c.socket.write(bytes);
  await c.closed;
  return c.reply();
}

/** The daemon still does its job: the proxy forwards, the admin API answers. */
async function stillServing(proxyPort: number, adminPort: number): Promise<void> {
  assert.match(await whoAnswers(proxyPort), /^[ab]$/);
  const r = await fetch(`http://127.0.0.1:${adminPort}/api/v1/state`);
  assert.equal(r.status, 200);
  assert.ok(Array.isArray(((await r.json()) as { frontends: unknown[] }).frontends));
}

test('admin API: random bytes get a 400 and the connection closed; the daemon keeps serving', async (t) => {
  const { adminPort, proxyPort } = await daemonWithAdmin(t);
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => sendRaw(adminPort, Buffer.concat([randomBytes(200 + i * 10), Buffer.from('\r\n\r\n')]))));
  for (const r of replies) assert.match(r, /^(HTTP\/1\.1 400 |)/, 'a 400, or closed without a word');
  assert.ok(replies.some((r) => r.startsWith('HTTP/1.1 400 ')));
  await stillServing(proxyPort, adminPort);
});

test('admin API: headers over 16 KiB get a 431; a body over the limit gets a 413 (declared or chunked) and is not buffered', async (t) => {
  const { adminPort, proxyPort } = await daemonWithAdmin(t);
  const big = 'x'.repeat(ADMIN_LIMITS.maxHeaderBytes + 1024);
  assert.match(await sendRaw(adminPort, `GET /api/v1/state HTTP/1.1\r\nHost: a\r\nX-Junk: ${big}\r\n\r\n`), /^HTTP\/1\.1 431 /);

  const route = `http://127.0.0.1:${adminPort}/api/v1/backends/be/servers/a`;
  const declared = await fetch(route, { method: 'POST', body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20), headers: { 'content-type': 'application/json' } });
  assert.equal(declared.status, 413);
  assert.match(((await declared.json()) as { error: string }).error, /over 65536 bytes/);

  // Chunked, no length announced: cut at the limit, answered 413, the connection closed.
  const c = await rawClient(adminPort);
  c.socket.write(`POST /api/v1/backends/be/servers/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const chunk = Buffer.alloc(16 * 1024, 0x20);
  for (let i = 0; i < 8; i++) c.socket.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]));
  await c.closed;
  assert.match(c.reply(), /^HTTP\/1\.1 413 /);
  assert.match(c.reply(), /connection: close/i);

  // A body within the limit still works, and nothing was changed by the refused ones.
  const ok = await fetch(route, { method: 'POST', body: JSON.stringify({ weight: 50 }), headers: { 'content-type': 'application/json' } });
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { weight: number }).weight, 50);
  await stillServing(proxyPort, adminPort);
});

test('admin API: slow clients (slowloris) are cut at the headers timeout, the connection cap holds, memory stays bounded, and the daemon keeps serving', async (t) => {
  const { adminPort, proxyPort } = await daemonWithAdmin(t);
  const rssBefore = process.memoryUsage().rss;
  // Below the cap: 200 clients that never finish their headers.
  const slow = await Promise.all(Array.from({ length: 200 }, () => rawClient(adminPort)));
  for (const c of slow) c.socket.write('GET /api/v1/state HTTP/1.1\r\nHost: a\r\nX-Slow: ');
  await stillServing(proxyPort, adminPort);
  // Up to the cap and 50 beyond it: those beyond are closed at accept, without an answer.
  const over = await Promise.all(Array.from({ length: ADMIN_LIMITS.maxConnections - slow.length + 50 }, () => rawClient(adminPort)));
  for (const c of over) c.socket.write('GET /api/v1/state HTTP/1.1\r\nHost: a\r\nX-Slow: ');
  // Every slow client is cut by the server (headersTimeout) rather than kept forever.
  const started = Date.now();
  await Promise.all([...slow, ...over].map((c) => c.closed));
  const took = Date.now() - started;
  t.diagnostic(`${slow.length + over.length} slow clients cut within ${took} ms (headersTimeout ${ADMIN_LIMITS.headersTimeoutMs} ms)`);
  const timedOut = [...slow, ...over].filter((c) => /^HTTP\/1\.1 408 /.test(c.reply())).length;
  const refused = [...slow, ...over].filter((c) => c.reply() === '').length;
  t.diagnostic(`${timedOut} answered 408 at the headers timeout, ${refused} closed at accept (over the cap)`);
  assert.equal(timedOut + refused, slow.length + over.length);
  assert.ok(refused >= 50, 'connections over the cap are not accepted');
  assert.ok(timedOut <= ADMIN_LIMITS.maxConnections, 'never more than the cap held');
  const grewMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  t.diagnostic(`rss grew ${grewMiB.toFixed(1)} MiB with ${slow.length + over.length} slow clients`);
  assert.ok(grewMiB < 64, `memory bounded (${grewMiB.toFixed(1)} MiB)`);
  await stillServing(proxyPort, adminPort);
});

test('admin API: a body that trickles in is cut at the request timeout with a 408', async (t) => {
  const { adminPort, proxyPort } = await daemonWithAdmin(t);
  const c = await rawClient(adminPort);
  c.socket.write('POST /api/v1/backends/be/servers/a HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{');
  await c.closed;
  assert.match(c.reply(), /^HTTP\/1\.1 408 /);
  await stillServing(proxyPort, adminPort);
});
