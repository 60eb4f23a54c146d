// `kubeha drill` on a live cluster of booted Debian hosts: three masters with real etcd and
// kube-apiserver, kubeha on each put there by `kubeha apply` floating the VIP. The drill refuses the
// cluster while an apiserver is down (doctor finds it), lists its steps with --dry-run, then runs
// them all with --kill: each step's figures are checked against the client loop's own record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertFiguresFromRecord, drillAndCheck, drillBed, readRecord } from '../support/drill.js';
import type { Host } from '../support/hosts.js';

test('drill (kubeha): refused while degraded; then a graceful handover, the holder\'s kubeha stopped, each apiserver restarted and the holder SIGKILLed, each judged by what the client saw', async (t) => {
  const { k, drill } = await drillBed(t, 'kubeha', 71, 1);
  const [, , m3] = k.masters as [Host, Host, Host];
  const [w] = k.workers as [Host];

  // A degraded cluster is not drilled: one apiserver down.
  await k.sh(m3, 'systemctl stop kube-apiserver');
  const refused = await drill({});
  assert.equal(refused.code, 1, refused.err);
  assert.match(refused.err, /kubeha doctor finds a failure: the cluster is degraded already.*KUBEHA_ERR_DRILL_DEGRADED/);
  assert.match(refused.err, new RegExp(m3.name), 'doctor\'s findings name the master');
  await k.sh(m3, 'systemctl start kube-apiserver');
  await k.waitHealthy();

  const dry = await drill({ dryRun: true, kill: true });
  assert.equal(dry.code, 0, dry.err);
  for (const s of ['a. graceful VIP handover (maintenance on the VIP holder)', 'b. the VIP holder\'s kubeha stopped', ...k.masters.map((m, i) => `${String.fromCharCode(99 + i)}. ${m.name}'s kube-apiserver restarted`), 'f. the VIP holder\'s kubeha SIGKILLed']) assert.ok(dry.out.includes(s), `${s} in:\n${dry.out}`);

  const steps = await drillAndCheck(k, drill);
  t.diagnostic(steps.map((s) => `${s.step}: ${s.failed}/${s.total} failed, outage ${s.outageMs} ms`).join('; '));

  // From the worker, as its kubelet sees the VIP: the loop runs there (curl), its record comes back on this clock.
  const fromWorker = join(k.bed.dir, 'drill-from-worker.jsonl');
  const remote = await drill({ from: w.name, steps: 'handover', record: fromWorker });
  assert.match(remote.err, new RegExp(`client on ${w.name} through https://`));
  const { requests, steps: only } = readRecord(fromWorker);
  assert.deepEqual(only.map((s) => s.step), ['handover'], remote.out + remote.err);
  assertFiguresFromRecord(requests, only[0]!);
  assert.ok(only[0]!.total > 50, `the worker's loop ran through the step (${only[0]!.total})`);
  assert.ok(only[0]!.vipPath.length >= 3, `the VIP moved and came back: ${only[0]!.vipPath.join(' → ')}`);
  assert.equal((await w.exec('ls /tmp/kubeha-drill-* 2>/dev/null | wc -l')).stdout.trim(), '0', 'the loop\'s files are removed');
  // (no procps in the host root: /proc read by hand)
  assert.equal((await w.exec('grep -lx curl /proc/[0-9]*/comm 2>/dev/null | wc -l')).stdout.trim(), '0', 'the loop stopped: no curl runs there');
});
