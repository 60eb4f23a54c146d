// The conntrackd supervisor against a stand-in conntrackd (a shell script that keeps its "daemon"
// as a file): started with -d, adopted when one answers with the same config, started again when
// it stops answering, ended with -k. The real conntrackd runs in test/kube-e2e/kernel-failover.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { FakeClock } from '../../src/clock.js';
import { until } from '../support/tcp.js';
import { conntrackdPaths } from '../../src/kernel/conntrack-sync.js';
import { CONNTRACKD_CHECK_MS, ConntrackdSupervisor } from '../../src/kernel/conntrackd.js';

// -d -C F: "runs" (F.running holds F's text at the start); -C F -s: answers while running; -C F -k: ends it.
const FAKE = `#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
case "$1" in
  -d) [ -e "$3.lock-held" ] && { echo "lockfile exists" >&2; exit 1; }; cp "$3" "$3.running"; exit 0 ;;
  -C) [ -e "$2.running" ] || { echo "cannot connect" >&2; exit 1; }
      [ "$3" = -k ] && rm -f "$2.running"; exit 0 ;;
esac
exit 2
`;

async function bed(t: { after(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-conntrackd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const binary = join(dir, 'conntrackd');
  await writeFile(binary, FAKE);
  await chmod(binary, 0o755);
  const settings = { peer: '10.0.0.2', localAddress: '10.0.0.1', interface: 'eth0', port: 3780, conntrackd: binary, runDir: join(dir, 'run') };
  const calls = async () => (await readFile(join(dir, 'calls'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).map((l) => l.split(' ').filter((w) => w.startsWith('-')).join(' '));
  return { dir, settings, calls, running: () => existsSync(`${conntrackdPaths(settings.runDir).config}.running`) };
}

/** Runs the supervisor's next liveness check (its timer) and waits until the check is over. */
async function nextCheck(clock: FakeClock, sup: ConntrackdSupervisor) {
  const checked = sup.checks;
  clock.advance(CONNTRACKD_CHECK_MS);
  await until(() => sup.checks > checked, 5000, 'the liveness check');
}

test('conntrackd supervisor: starts it with its config, watches it, starts it again when it stops answering, ends it on kill', async (t) => {
  const b = await bed(t);
  const clock = new FakeClock();
  const sup = new ConntrackdSupervisor(b.settings, pino({ level: 'silent' }), clock);
  assert.equal(await sup.start(), undefined);
  assert.ok(b.running());
  assert.match(await readFile(conntrackdPaths(b.settings.runDir).config, 'utf8'), /IPv4_Destination_Address 10\.0\.0\.2/);
  assert.deepEqual(await b.calls(), ['-C -s', '-d -C']);
  assert.deepEqual({ ...sup.stats }, { peer: '10.0.0.2', running: true, adopted: false, starts: 1, lastError: null });

  await nextCheck(clock, sup);
  assert.deepEqual((await b.calls()).slice(2), ['-C -s'], 'alive: asked, nothing else');
  // it dies (killed, crashed): the next check starts it again
  await rm(`${conntrackdPaths(b.settings.runDir).config}.running`);
  await nextCheck(clock, sup);
  assert.equal(sup.stats.starts, 2);
  assert.deepEqual((await b.calls()).slice(3), ['-C -s', '-d -C'], 'not answering: started again');
  assert.ok(b.running());

  await sup.kill();
  assert.equal(b.running(), false);
  assert.equal(sup.stats.running, false);
});

test('conntrackd supervisor: a successor adopts the running one with the same config; another config restarts it; a failed start is reported', async (t) => {
  const b = await bed(t);
  const log = pino({ level: 'silent' });
  const first = new ConntrackdSupervisor(b.settings, log, new FakeClock());
  await first.start();
  await first.stop(); // the process goes (a restart): conntrackd stays
  assert.ok(b.running());

  const successor = new ConntrackdSupervisor(b.settings, log, new FakeClock());
  assert.equal(await successor.start(), undefined);
  assert.deepEqual({ adopted: successor.stats.adopted, starts: successor.stats.starts }, { adopted: true, starts: 0 });
  await successor.stop();

  const moved = new ConntrackdSupervisor({ ...b.settings, peer: '10.0.0.3' }, log, new FakeClock());
  assert.equal(await moved.start(), undefined);
  assert.deepEqual({ adopted: moved.stats.adopted, starts: moved.stats.starts }, { adopted: false, starts: 1 });
  assert.deepEqual((await b.calls()).slice(-3), ['-C -s', '-C -k', '-d -C'], 'asked, ended, started with the new config');
  await moved.kill();

  // a conntrackd that refuses to start: the problem names it and its log
  await writeFile(`${conntrackdPaths(b.settings.runDir).config}.lock-held`, '');
  const refused = new ConntrackdSupervisor({ ...b.settings, peer: '10.0.0.4' }, log, new FakeClock());
  assert.match(String(await refused.start()), /^conntrackd did not start: lockfile exists \(its log: .*conntrackd\.log\) \[KUBEHA_ERR_KERNEL\]$/);
  assert.equal(refused.stats.running, false);
  await refused.stop();
});
