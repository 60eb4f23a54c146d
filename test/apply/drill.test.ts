// `kubeha drill` on a live cluster of booted Debian hosts: three masters with real etcd and
// kube-apiserver, kubeha on each put there by `kubeha apply` floating the VIP. The drill refuses the
// cluster while an apiserver is down (doctor finds it), lists its steps with --dry-run, then runs
// them all with --kill: each step's figures are checked against the client loop's own record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyCommand } from '../../src/cli/apply.js';
import { drillCommand, type DrillOptions } from '../../src/cli/drill.js';
import type { ClientSample } from '../../src/demo/client-record.js';
import { runWithStreams } from '../support/cli-streams.js';
import { bootKubeHosts } from '../support/kube-hosts.js';
import type { Host } from '../support/hosts.js';

interface StepLine { step: string; host: string; fromMs: number; toMs: number; total: number; failed: number; outageMs: number; vipBefore: string[]; vipPath: string[]; lbAfter: { host: string; holds: boolean }[]; error?: string; twoHolders?: string[] }

test('drill: refused while degraded; then a graceful handover, the holder\'s kubeha stopped, each apiserver restarted and the holder SIGKILLed, each judged by what the client saw', async (t) => {
  const k = await bootKubeHosts(t, { masters: 3, workers: 0, virtualRouterId: 71 });
  const [, , m3] = k.masters as [Host, Host, Host];
  const applied = await runWithStreams((out, err) => applyCommand({ inventory: k.inventory, gateTimeout: '60s' }, out, err));
  assert.equal(applied.code, 0, `${applied.err}${applied.out}`);
  const drill = async (o: Partial<DrillOptions>) => {
    const r = await runWithStreams((out, err) => drillCommand({ inventory: k.inventory, observe: '3s', settleTimeout: '90s', ...o }, out, err));
    t.diagnostic(`drill ${JSON.stringify(o)} → ${r.code}\n${r.out}`);
    return r;
  };

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
  for (const s of ['a. graceful VIP handover', 'b. the VIP holder\'s kubeha stopped', ...k.masters.map((m, i) => `${String.fromCharCode(99 + i)}. ${m.name}'s kube-apiserver restarted`), 'f. the VIP holder\'s kubeha SIGKILLed']) assert.ok(dry.out.includes(s), `${s} in:\n${dry.out}`);

  const record = join(k.bed.dir, 'drill-record.jsonl');
  const run = await drill({ kill: true, record });
  const lines = readFileSync(record, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { request?: ClientSample } & Partial<StepLine>);
  const requests = lines.flatMap((l) => (l.request ? [l.request] : []));
  const steps = lines.filter((l): l is StepLine => l.step !== undefined);
  assert.deepEqual(steps.map((s) => s.step), ['handover', 'lb-stopped', ...k.masters.map((m) => `apiserver-${m.name}`), 'killed'], run.out + run.err);
  for (const s of steps) {
    // the report's figures are the client's record of the step's window
    const own = requests.filter((r) => r.startMs >= s.fromMs && r.startMs < s.toMs);
    assert.equal(s.total, own.length, `${s.step}: requests in its window`);
    assert.equal(s.failed, own.filter((r) => !r.ok).length, `${s.step}: failed requests in its window`);
    assert.ok(s.total > 50, `${s.step}: the client ran through it (${s.total})`);
    assert.equal(s.error, undefined, `${s.step}: ${s.error}`);
    assert.equal(s.twoHolders, undefined, `${s.step}: never two VIP holders`);
    assert.equal(s.lbAfter.filter((h) => h.holds).length, 1, `${s.step}: one holder afterwards`);
    assert.equal(s.lbAfter.length, 3, 'every LB host reported');
    assert.ok(new RegExp(`^${String.fromCharCode(97 + steps.indexOf(s))}\\.\\s+${s.outageMs} ms\\s+${s.failed} of ${s.total}\\s`, 'm').test(run.out), `${s.step}'s line in the report:\n${run.out}`);
  }
  const by = (id: string) => steps.find((s) => s.step === id)!;
  // the planner's preemption brings the VIP back to the first master once it serves again: there and back
  const movedAway = (s: StepLine) => s.vipPath.length >= 3 && s.vipPath[0] === s.vipPath[s.vipPath.length - 1] && s.vipPath.slice(1, -1).every((h) => h !== s.vipPath[0] && !h.includes('+'));
  for (const id of ['handover', 'lb-stopped', 'killed']) assert.ok(movedAway(by(id)), `${id}: the VIP went to another host and came back: ${by(id).vipPath.join(' → ')}`);
  assert.equal(by('handover').failed, 0, 'a graceful handover fails no request');
  for (const m of k.masters) {
    assert.equal(by(`apiserver-${m.name}`).failed, 0, `${m.name}'s restart fails no request`);
    assert.deepEqual(by(`apiserver-${m.name}`).vipPath, [by(`apiserver-${m.name}`).vipBefore[0]], 'an apiserver restart does not move the VIP');
  }
  assert.ok(by('killed').outageMs > 0 || by('killed').failed > 0, 'the client saw the SIGKILL');
  // the outage targets are timing: reported, not asserted here (exit 1 when one is missed)
  assert.ok(run.code === 0 || /MISSED/.test(run.out), `exit ${run.code} only for a missed target:\n${run.out}${run.err}`);
  t.diagnostic(steps.map((s) => `${s.step}: ${s.failed}/${s.total} failed, outage ${s.outageMs} ms`).join('; '));
});
