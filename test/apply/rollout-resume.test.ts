// An apply cut off mid-run completes on the next run, from the host's journal: `kubeha apply` (the
// real CLI, a child process) is SIGKILLed — its SSH connections cut — after it moved a worker's
// kubeconfigs and restarted its kubelet, while it waits for the worker's Lease. The files already
// match, so only the journal tells the next run that the restart and the gate are still owed; the
// dead run's lock is broken (its process is gone), and the next run finishes the worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseJournal } from '../../src/apply/journal.js';
import { applyCommand, type ApplyOptions } from '../../src/cli/apply.js';
import { runWithStreams } from '../support/cli-streams.js';
import { bootKubeHosts } from '../support/kube-hosts.js';
import type { Host } from '../support/hosts.js';

const KUBEHA = fileURLToPath(new URL('../../../bin/kubeha.js', import.meta.url));

test('apply killed while it waits for a worker\'s gate: the lock is left, the next run breaks it, restarts the kubelet and passes the gate', async (t) => {
  const k = await bootKubeHosts(t, { masters: 1, workers: 1, virtualRouterId: 62 });
  const [m] = k.masters as [Host];
  const [w] = k.workers as [Host];
  const journal = async (h: Host) => parseJournal((await h.exec('cat /var/lib/kubeha/apply.log 2>/dev/null')).stdout) as Record<string, string | undefined>[];
  // The stand-in kubelet stops renewing: the worker's gate cannot pass while apply runs.
  await k.sh(w, 'touch /run/kubelet-standin-paused');

  const child = spawn(process.execPath, [KUBEHA, 'apply', '--inventory', k.inventory, '--gate-timeout', '300s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  // Wait for the journal line written after the kubelet restart, before the gate: the run is in its gate now.
  const deadline = Date.now() + 240_000;
  while (!(await journal(w)).some((e) => e.step === 'unit' && e.unit === 'kubelet,kube-proxy')) {
    assert.ok(Date.now() < deadline, `apply never restarted the worker's kubelet:\n${log}`);
    assert.equal(child.exitCode, null, `apply exited early:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGKILL');
  await exited;
  t.diagnostic(log);
  const cut = await journal(w);
  const runId = cut.find((e) => e.step === 'file')!.run!;
  assert.ok(!cut.some((e) => e.step === 'done'), 'the worker never passed its gate');
  assert.equal((await w.exec('test -d /var/lib/kubeha/apply.lock')).code, 0, 'the dead run\'s lock is left on the worker');
  assert.match(await k.sh(w, 'cat /etc/kubernetes/kubelet.conf'), new RegExp(`server: https://${k.vip}:16443`), 'the kubeconfig was moved');

  const apply = (o: Partial<ApplyOptions> = {}) => runWithStreams((out, err) => applyCommand({ inventory: k.inventory, gateTimeout: '60s', ...o }, out, err));
  const dry = await apply({ dryRun: true });
  assert.equal(dry.code, 2, dry.out);
  assert.match(dry.out, new RegExp(`resume kubelet, kube-proxy: restart and Lease gate \\(run ${runId} moved the kubeconfigs and was cut off\\)`));

  await k.sh(w, 'rm /run/kubelet-standin-paused');
  const again = await apply();
  t.diagnostic(again.out + again.err);
  assert.equal(again.code, 0, again.out + again.err);
  assert.match(again.out, new RegExp(`${w.name} +worker +applied +${w.name}'s Lease renewed`));
  assert.match(again.out, new RegExp(`${m.name} +master\\+lb +unchanged`), 'the master had passed its gates in the cut run');
  const after = await journal(w);
  const run2 = after.at(-1)!.run!;
  assert.notEqual(run2, runId);
  assert.ok(after.some((e) => e.run === run2 && e.step === 'lock-broken' && e.holder?.startsWith(`${runId} `)), 'the dead run\'s lock was broken and journaled');
  assert.ok(after.some((e) => e.run === run2 && e.step === 'file' && e.resumedFrom === runId), 'the cut run\'s files taken over');
  assert.equal(after.at(-1)!.step, 'done');
  assert.equal((await w.exec('test -d /var/lib/kubeha/apply.lock')).code, 1, 'the lock is released');
  assert.equal((await apply({ dryRun: true })).code, 0, 'nothing left to do');
});
