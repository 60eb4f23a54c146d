import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { freePort } from '../support/etcd.js';
import { config, greet, lbConfig, markDown, memoryLogger, startDaemon, taggedBackend, until, whoAnswers } from '../support/tcp.js';
import { pino } from 'pino';
import { Daemon } from '../../src/daemon.js';
import { FakeClock } from '../../src/clock.js';

/**
 * A port that refuses connections: free, and outside the ephemeral range (support/etcd.ts), so no
 * listen(0) of a test file running alongside can start answering on it (a port just closed by
 * listen(0) and close() could be handed out again).
 */
const refusedPort = () => freePort();

test('roundrobin spreads sessions by weight across servers', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((n) => taggedBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const { port } = await startDaemon(lbConfig(backends.map((b, i) => ({ name: b.name, port: b.port, weight: [2, 1, 1][i] }))), t);
  const seen: string[] = [];
  for (let i = 0; i < 8; i++) seen.push(await whoAnswers(port));
  assert.deepEqual(seen.reduce((m, n) => ({ ...m, [n]: (m[n] ?? 0) + 1 }), {} as Record<string, number>), { a: 4, b: 2, c: 2 });
});

test('source balance keeps a client on one server', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((n) => taggedBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const { port } = await startDaemon(lbConfig(backends, { balance: 'source' }), t);
  const first = await whoAnswers(port);
  for (let i = 0; i < 5; i++) assert.equal(await whoAnswers(port), first);
});

test('a refused connect is retried on another server: no failed session, and passive detection marks it down', async (t) => {
  const good = await taggedBackend('good');
  t.after(() => good.close());
  const dead = await refusedPort();
  // Active checks go to a live port, so only passive detection can mark `dead` down here.
  const checks = { type: 'tcp', interval: '1h', port: good.port };
  const { daemon, port } = await startDaemon(lbConfig([{ name: 'dead', port: dead }, { name: 'good', port: good.port }], { passiveFailures: 2, healthCheck: checks }), t);
  for (let i = 0; i < 6; i++) assert.equal(await whoAnswers(port), 'good');
  const s = daemon.pool('be')!.servers.find((x) => x.id === 'dead')!;
  assert.equal(s.health.up, false, 'two failed connects mark it down without a check');
  assert.equal(s.health.cause, 'passive');
  assert.equal(s.connectErrors, 2);
  assert.equal(s.retries, 2);
});

test('connect failures on every server end the session after `retries`, counted', async (t) => {
  const ports = await Promise.all([refusedPort(), refusedPort()]);
  // Active checks go to a live port, so no check marks x or y down while the retries run.
  const live = await taggedBackend('live');
  t.after(() => live.close());
  const checks = { type: 'tcp', interval: '1h', port: live.port };
  const { daemon, port } = await startDaemon(lbConfig([{ name: 'x', port: ports[0]! }, { name: 'y', port: ports[1]! }], { retries: 2, passiveFailures: 0, healthCheck: checks }), t);
  const socket = connect(port, '127.0.0.1');
  const error = new Promise<string | undefined>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code));
    socket.on('close', () => resolve(undefined));
  });
  assert.equal(await error, 'ECONNRESET', 'the client is reset: it sees a failed connection, not an empty answer');
  const pool = daemon.pool('be')!;
  assert.equal(pool.servers.reduce((n, s) => n + s.connectErrors, 0), 3, 'first try + 2 retries');
});

test('maxConnPerServer queues, a full queue refuses cleanly and is counted, the queue drains in order', async (t) => {
  const b = await taggedBackend('only');
  t.after(() => b.close());
  const { daemon, port } = await startDaemon(lbConfig([{ name: 'only', port: b.port }], { maxConnPerServer: 1, maxQueue: 1, queueTimeout: '10s' }), t);
  const first = await greet(port);
  const queued = greet(port);
  await until(() => daemon.pool('be')!.queue.length === 1, 5000, 'one session queued');
  const refused = connect(port, '127.0.0.1');
  const refusedData: Buffer[] = [];
  refused.on('data', (d) => refusedData.push(d));
  refused.on('error', () => {});
  await once(refused, 'close');
  assert.equal(Buffer.concat(refusedData).length, 0, 'a refused client gets no data, only a close');
  assert.equal(daemon.listener('fe')!.rejected['queue-full'], 1);
  first.socket.destroy();
  const second = await queued;
  assert.equal(second.name, 'only', 'the queued session gets the freed slot');
  second.socket.destroy();
});

test('queueTimeout ends a waiting session and counts it', async (t) => {
  const b = await taggedBackend('only');
  t.after(() => b.close());
  const { daemon, port } = await startDaemon(lbConfig([{ name: 'only', port: b.port }], { maxConnPerServer: 1, queueTimeout: '200ms' }), t);
  const first = await greet(port);
  t.after(() => first.socket.destroy());
  const waiting = connect(port, '127.0.0.1');
  waiting.on('error', () => {});
  await once(waiting, 'close');
  assert.equal(daemon.listener('fe')!.rejected['queue-timeout'], 1);
});

test('half-close: the client FIN is passed on and the answer still arrives', async (t) => {
  // The backend answers only after the client has finished sending (like `nc -q`).
  const b = await taggedBackend('hc', (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => s.end(`got ${Buffer.concat(chunks).length} bytes`));
  });
  t.after(() => b.close());
  const { port } = await startDaemon(lbConfig([{ name: 'hc', port: b.port }]), t);
  const socket = connect(port, '127.0.0.1');
  socket.end(randomBytes(100_000));
  const answer: Buffer[] = [];
  socket.on('data', (d) => answer.push(d));
  await once(socket, 'end');
  assert.equal(Buffer.concat(answer).toString(), 'got 100000 bytes');
});

test('bytes pass both ways intact (20 MiB each way)', async (t) => {
  const b = await taggedBackend('echo', (s) => s.pipe(s));
  t.after(() => b.close());
  const { daemon, port } = await startDaemon(lbConfig([{ name: 'echo', port: b.port }]), t);
  const payload = randomBytes(20 * 1024 * 1024);
  const socket = connect(port, '127.0.0.1');
  const hash = createHash('sha256');
  let received = 0;
  socket.on('data', (d: Buffer) => {
    hash.update(d);
    received += d.length;
    if (received === payload.length) socket.end();
  });
  socket.write(payload);
  await once(socket, 'close');
  assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
  const s = daemon.pool('be')!.servers[0]!;
  assert.equal(s.bytesIn, payload.length);
  assert.equal(s.bytesOut, payload.length);
});

test('many sessions reading small chunks at once (the shared read buffer), then bulk, then small again: every byte lands in its own session', async (t) => {
  // Each connection gets its own bytes: 200 small writes (interleaved across sessions by the event
  // loop: their reads share one buffer), then 2 MiB at once (its reads turn bulk: a buffer of its
  // own), then small ones again (back to the shared buffer).
  const { createServer } = await import('node:net');
  const expected = new Map<number, string>();
  let next = 0;
  const server = createServer((s) => {
    s.on('error', () => {}); // the health check's connection leaves at once
    const id = next++;
    const parts: Buffer[] = [];
    for (let i = 0; i < 200; i++) parts.push(randomBytes(1 + (i % 300)));
    const bulk = randomBytes(2 * 1024 * 1024);
    const tail = Array.from({ length: 50 }, () => randomBytes(100));
    expected.set(id, createHash('sha256').update(Buffer.concat([...parts, bulk, ...tail])).digest('hex'));
    let i = 0;
    const small = (list: Buffer[], then: () => void) => {
      if (i >= list.length) return then();
      s.write(list[i++]!);
      setImmediate(() => small(list, then));
    };
    small(parts, () => {
      s.write(bulk);
      i = 0;
      small(tail, () => s.end());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const { port } = await startDaemon(lbConfig([{ name: 'mixed', port: (server.address() as { port: number }).port }]), t);
  const sessions = 30;
  const got = await Promise.all(Array.from({ length: sessions }, () => new Promise<string>((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => resolve(createHash('sha256').update(Buffer.concat(chunks)).digest('hex')));
    c.on('error', reject);
  })));
  const sent = new Set(expected.values());
  assert.equal(new Set(got).size, sessions, 'no two sessions got the same bytes');
  assert.deepEqual(got.filter((h) => !sent.has(h)), [], 'each session got exactly the bytes of one server connection');
});

test('backpressure: a client that stops reading stops the server, nothing piles up in kubeha', async (t) => {
  let written = 0;
  const chunk = Buffer.alloc(64 * 1024, 7);
  let serverSocket: Socket | undefined;
  const b = await taggedBackend('firehose', (s) => {
    serverSocket = s;
    const pump = () => {
      while (written < 512 * 1024 * 1024) {
        written += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
    };
    pump();
  });
  t.after(() => b.close());
  const { port } = await startDaemon(lbConfig([{ name: 'firehose', port: b.port }]), t);
  const socket = connect(port, '127.0.0.1');
  socket.pause();
  await until(() => serverSocket !== undefined, 5000, 'server connection');
  let last = -1;
  // Wait until the server is blocked: its write count stops growing.
  await until(() => {
    const stalled = written === last;
    last = written;
    return stalled && written > 0;
  }, 10_000, 'the server to be blocked by backpressure');
  assert.ok(written < 64 * 1024 * 1024, `server got only ${written} bytes out before blocking`);
  socket.destroy();
});

test('a frontend maxConn refuses the connection over the limit', async (t) => {
  const b = await taggedBackend('a');
  t.after(() => b.close());
  const cfg = lbConfig([{ name: 'a', port: b.port }]);
  cfg.frontends[0]!.maxConn = 1;
  const { daemon, port } = await startDaemon(cfg, t);
  const first = await greet(port);
  t.after(() => first.socket.destroy());
  const over = connect(port, '127.0.0.1');
  over.on('error', () => {});
  await once(over, 'close');
  assert.equal(daemon.listener('fe')!.rejected.maxconn, 1);
});

test('idleTimeout closes a silent session', async (t) => {
  const b = await taggedBackend('a');
  t.after(() => b.close());
  const { port } = await startDaemon(lbConfig([{ name: 'a', port: b.port }], { idleTimeout: '1s' }), t);
  const { socket } = await greet(port);
  const started = Date.now();
  await once(socket, 'close');
  const waited = Date.now() - started;
  assert.ok(waited >= 900 && waited < 5000, `closed after ${waited}ms`);
});

test('onMarkedDown shutdown closes the sessions of a server that goes down', async (t) => {
  const b = await taggedBackend('a');
  t.after(() => b.close());
  const { daemon, port } = await startDaemon(lbConfig([{ name: 'a', port: b.port }], { onMarkedDown: 'shutdown', shutdownJitter: '50ms' }), t);
  const { socket } = await greet(port);
  const pool = daemon.pool('be')!;
  markDown(pool, pool.servers[0]!, daemon.clock.now());
  await once(socket, 'close');
});

test('binding an address that is not on the host retries with a clear log line', async (t) => {
  const { log, lines } = memoryLogger();
  const b = await taggedBackend('a');
  t.after(() => b.close());
  const daemon = new Daemon({ log });
  // 192.0.2.0/24 is TEST-NET-1: never on this host. bind() sends nothing.
  const cfg = config({
    frontends: [{ name: 'vip', bind: '192.0.2.10:16443', backend: 'be', bindRetryInterval: '50ms' }],
    backends: [{ name: 'be', servers: [{ name: 'a', address: `127.0.0.1:${b.port}` }], healthCheck: { interval: '1h' } }],
  });
  await daemon.start(cfg);
  t.after(() => daemon.shutdown(0));
  await until(() => lines().filter((l) => l.event === 'bind-failed').length >= 2, 5000, 'two bind attempts');
  const line = lines().find((l) => l.event === 'bind-failed')!;
  assert.equal(line.code, 'EADDRNOTAVAIL');
  assert.match(String(line.msg), /ip_nonlocal_bind/);
  assert.equal(daemon.listener('vip')!.listening, false);
});

/** One backend behind a daemon on a fake clock, with `backendOptions`, and one session open through it. */
async function oneSession(t: TestContext, backendOptions: Record<string, string>) {
  const b = await taggedBackend('a');
  t.after(() => b.close());
  const clock = new FakeClock();
  const daemon = new Daemon({ log: pino({ level: 'silent' }), clock });
  await daemon.start(lbConfig([{ name: 'a', port: b.port }], backendOptions));
  t.after(() => daemon.shutdown(0));
  const listener = daemon.listener('fe')!;
  const { socket } = await greet(listener.boundPort!);
  t.after(() => socket.destroy());
  const [session] = [...listener.openSessions];
  return { clock, socket, session };
}

test('tcpUserTimeout: TCP_USER_TIMEOUT and keepalive are set on both sockets from the first byte', async (t) => {
  const { session } = await oneSession(t, { tcpUserTimeout: '4s' });
  assert.equal(session?.keepAlive, true, 'set at connect (setsockopt through libc succeeded on both descriptors), no sweep needed');
});

test('the session sweep (fake clock): keepalive from 5s of life, idle close after idleTimeout', async (t) => {
  const { clock, socket, session } = await oneSession(t, { idleTimeout: '10s' });
  assert.ok(session);
  clock.advance(4000);
  assert.equal(session.keepAlive, false, 'not yet at 4s');
  clock.advance(1000);
  assert.equal(session.keepAlive, true, 'keepalive on at 5s');
  // Traffic at 5s resets idleness; idle from then, the session ends at the first sweep >= 10s later.
  socket.write('x');
  await once(socket, 'data');
  clock.advance(9000);
  assert.equal(socket.destroyed, false);
  const closed = once(socket, 'close');
  clock.advance(2000);
  await closed;
});

test('retries do not skew roundrobin: a refusing server in rotation leaves the others an even share', async (t) => {
  const a = await taggedBackend('a');
  const b = await taggedBackend('b');
  const live = await taggedBackend('live');
  t.after(() => Promise.all([a, b, live].map((x) => x.close())));
  const dead = await refusedPort();
  // Passive detection off and checks on a live port: `dead` stays in rotation, so every third
  // session fails over. Deciding where to retry once counted a pick, and a got 10 of 30, b 20.
  const checks = { type: 'tcp', interval: '1h', port: live.port };
  const { port } = await startDaemon(lbConfig([{ name: 'dead', port: dead }, { name: 'a', port: a.port }, { name: 'b', port: b.port }], { passiveFailures: 0, retries: 3, healthCheck: checks }), t);
  const counts = { a: 0, b: 0 } as Record<string, number>;
  for (let i = 0; i < 30; i++) counts[await whoAnswers(port)]!++;
  assert.ok(Math.abs(counts.a! - counts.b!) <= 2, `a ${counts.a}, b ${counts.b}`);
});
