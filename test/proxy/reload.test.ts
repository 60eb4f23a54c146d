import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { Daemon } from '../../src/daemon.js';
import { loadConfigFile } from '../../src/config/load.js';
import { greet, markDown, taggedBackend, whoAnswers, type TaggedBackend } from '../support/tcp.js';

interface Setup {
  daemon: Daemon;
  port: number;
  backends: TaggedBackend[];
  write(servers: string[], extra?: Record<string, unknown>): Promise<void>;
  file: string;
}

/** A daemon started from a real file, with tagged backends a, b, c. */
async function setup(t: { after(fn: () => unknown): void }, initial: string[]): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-reload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const backends = await Promise.all(['a', 'b', 'c'].map((n) => taggedBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const file = join(dir, 'kubeha.yaml');
  let frontendPort = 0;
  const write = (servers: string[], extra: Record<string, unknown> = {}) =>
    writeFile(file, stringify({
      global: { logLevel: 'silent', shutdownGrace: '1s' },
      frontends: [{ name: 'fe', bind: `127.0.0.1:${frontendPort}`, backend: 'be' }],
      backends: [{
        name: 'be', healthCheck: { type: 'tcp', interval: '1h' },
        servers: servers.map((n) => ({ name: n, address: `127.0.0.1:${backends.find((b) => b.name === n)!.port}` })),
        ...extra,
      }],
    }));
  await write(initial);
  const loaded = await loadConfigFile(file);
  assert.ok(loaded.ok);
  const daemon = new Daemon({ log: pino({ level: 'silent' }), configPath: file });
  await daemon.start(loaded.config);
  t.after(() => daemon.shutdown(0));
  frontendPort = daemon.listener('fe')!.boundPort!;
  // Pin the chosen port into the file so reloads see an unchanged frontend.
  await write(initial);
  assert.deepEqual(await daemon.reload(), { ok: true });
  return { daemon, port: frontendPort, backends, write, file };
}

test('reload keeps the listening socket, the health and the sessions of unchanged servers', async (t) => {
  const s = await setup(t, ['a', 'b']);
  const pool = s.daemon.pool('be')!;
  const b = pool.servers.find((x) => x.id === 'b')!;
  markDown(pool, b, s.daemon.clock.now());
  assert.equal(b.health.up, false);
  const session = await greet(s.port);
  await s.write(['a', 'b', 'c'], { balance: 'leastconn' });
  assert.deepEqual(await s.daemon.reload(), { ok: true });
  const after = s.daemon.pool('be')!;
  assert.equal(after, pool, 'the same pool object, reconciled');
  assert.equal(after.servers.find((x) => x.id === 'b'), b, 'the same server object');
  assert.equal(b.health.up, false, 'health state kept');
  assert.equal(after.settings.balance, 'leastconn');
  session.socket.write('still here\n');
  const [echo] = await once(session.socket, 'data');
  assert.equal(String(echo), 'still here\n', 'the open session goes on');
  session.socket.destroy();
  const names = new Set<string>();
  for (let i = 0; i < 6; i++) names.add(await whoAnswers(s.port));
  assert.deepEqual([...names].sort(), ['a', 'c'], 'b stays down, c is new');
});

test('a removed server drains: its sessions go on, it gets no new ones, then it is gone', async (t) => {
  const s = await setup(t, ['a', 'b']);
  let onB = await greet(s.port);
  if (onB.name !== 'b') {
    const other = onB;
    onB = await greet(s.port);
    other.socket.destroy();
  }
  assert.equal(onB.name, 'b');
  await s.write(['a']);
  assert.deepEqual(await s.daemon.reload(), { ok: true });
  const pool = s.daemon.pool('be')!;
  assert.equal(pool.retired.size, 1, 'b is retired while its session lasts');
  for (let i = 0; i < 4; i++) assert.equal(await whoAnswers(s.port), 'a');
  onB.socket.write('ping\n');
  const [echo] = await once(onB.socket, 'data');
  assert.equal(String(echo), 'ping\n');
  onB.socket.destroy();
  const deadline = Date.now() + 5000;
  while (pool.retired.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(pool.retired.size, 0, 'b leaves once its last session ends');
});

test('an invalid config is refused with file:line errors and the old one keeps running', async (t) => {
  const s = await setup(t, ['a']);
  await writeFile(s.file, 'frontends:\n  - name: fe\n    bind: 127.0.0.1:notaport\n    backend: be\n');
  const r = await s.daemon.reload();
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.ok(r.errors.some((e) => e.startsWith(`${s.file}:3:11:`) && e.includes('KUBEHA_ERR_CONFIG_ADDRESS')), r.errors.join('\n'));
  assert.equal(await whoAnswers(s.port), 'a', 'traffic still flows on the old config');
  const state = s.daemon.state() as { reloads: { failure: number } };
  assert.equal(state.reloads.failure, 1);
});

test('a frontend whose bind changes moves to the new address; the old one stops accepting', async (t) => {
  const s = await setup(t, ['a']);
  const spare = await taggedBackend('spare');
  const newPort = spare.port;
  await spare.close();
  await writeFile(s.file, (await readFile(s.file, 'utf8')).replace(`127.0.0.1:${s.port}`, `127.0.0.1:${newPort}`));
  assert.deepEqual(await s.daemon.reload(), { ok: true });
  assert.equal(await whoAnswers(newPort), 'a');
  const old = connect(s.port, '127.0.0.1');
  const [err] = await once(old, 'error');
  assert.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
});
