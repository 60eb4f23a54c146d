// A node-local frontend on `localhost` listens on 127.0.0.1 and ::1 (clients resolve localhost to
// either: KubePrism broke when it was ::1), on one port, and a restart (SIGUSR2) hands over both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnKubeha } from '../support/processes.js';
import { taggedBackend, whoAnswersAt } from '../support/tcp.js';

test('bind localhost: 127.0.0.1 and [::1] on one port, both serve, and both are handed over on a restart', async (t) => {
  const b = await taggedBackend('a');
  t.after(() => b.close());
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-localbind-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kubeha.yaml');
  writeFileSync(file, JSON.stringify({
    global: { shutdownGrace: '1s' },
    frontends: [{ name: 'local', bind: 'localhost:0', backend: 'be' }],
    backends: [{ name: 'be', healthCheck: { type: 'tcp', interval: '1h' }, servers: [{ name: 'a', address: `127.0.0.1:${b.port}` }] }],
    admin: { bind: '127.0.0.1:0' },
  }));
  const lb = spawnKubeha(['run', '--config', file], t);
  const port = Number((await lb.waitFor((l) => l.event === 'listening', 15_000, 'kubeha to listen')).port);
  const admin = Number((await lb.waitFor((l) => l.event === 'started', 15_000, 'kubeha to start')).admin);
  const frontend = async () => ((await (await fetch(`http://127.0.0.1:${admin}/api/v1/state`)).json()) as { frontends: { addresses: string[]; accepted: number }[] }).frontends[0]!;
  assert.deepEqual((await frontend()).addresses, [`127.0.0.1:${port}`, `[::1]:${port}`]);
  assert.equal(await whoAnswersAt('127.0.0.1', port), 'a');
  assert.equal(await whoAnswersAt('::1', port), 'a');

  process.kill(lb.child.pid!, 'SIGUSR2');
  const done = await lb.waitFor((l) => l.event === 'handover-complete', 20_000, 'the handover');
  t.after(() => {
    try {
      process.kill(Number(done.pid), 'SIGKILL');
    } catch {
      // gone already
    }
  });
  await lb.waitFor((l) => l.event === 'stopped' && l.pid === lb.child.pid, 20_000, 'the old process to stop');
  assert.equal(await whoAnswersAt('127.0.0.1', port), 'a');
  assert.equal(await whoAnswersAt('::1', port), 'a');
  const after = await frontend();
  assert.deepEqual(after.addresses, [`127.0.0.1:${port}`, `[::1]:${port}`]);
  assert.equal(after.accepted, 2, 'both answered by the successor');
  assert.ok(lb.lines.some((l) => l.event === 'socket-inherited' && l.bind === 'localhost:0@::1'), 'the ::1 socket was inherited, not bound again');
});
