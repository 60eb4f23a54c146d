// The rollout's order and its stops, against a fake driver that records every call and answers
// gates as each test scripts them (the real driver and hosts: test/apply/rollout-*.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DesiredFile, UnitChange } from '../../src/apply/change-plan.js';
import type { Role } from '../../src/apply/dry-run.js';
import type { GateVerdict, MemberHealth } from '../../src/apply/gates.js';
import { phaseOf, rollout, type GateKind, type RolloutDriver, type RolloutHost } from '../../src/apply/rollout.js';

const file = (path: string, unit?: string): DesiredFile => ({ path, content: 'x', mode: 0o644, ...(unit ? { unit: { name: unit, effect: 'reload' as const } } : {}) });
const unit = (name: string, action: UnitChange['action'] = 'restart'): UnitChange => ({ name, action, daemonReload: false, because: ['test'] });

function host(name: string, roles: Role[], o: Partial<RolloutHost> = {}): RolloutHost {
  return { name, roles, files: [], units: [], etcdActive: true, kubeconfigs: [], resumeWorker: false, ...o };
}

/** Three masters that are also the LB hosts, etcd running, each with an etcd and a kubeha change; two workers to move. */
function cluster(): RolloutHost[] {
  const m = (n: string) => host(n, ['master', 'lb'], {
    files: [file('/etc/etcd/etcd.env', 'etcd'), file('/etc/kubeha/kubeha.yaml', 'kubeha'), file('/var/lib/kubeha/rendered/kube-apiserver.flags')],
    units: [unit('etcd'), unit('kubeha', 'reload')],
  });
  const w = (n: string) => host(n, ['worker'], { kubeconfigs: [{ path: '/etc/kubernetes/kubelet.conf', content: 'moved', mode: 0o600 }] });
  return [m('m1'), m('m2'), m('m3'), w('w1'), w('w2')];
}

/** The same, with only the kubeha changes on the masters. */
const lbChangesOnly = () => cluster().map((h) => ({ ...h, files: h.files.filter((f) => f.unit?.name === 'kubeha'), units: h.units.filter((u) => u.name === 'kubeha') }));

function fakeDriver(o: { gates?: (host: string, kind: GateKind, call: number) => GateVerdict; members?: () => MemberHealth[]; throwOn?: string; answering?: string[] } = {}) {
  const calls: string[] = [];
  let gateCalls = 0;
  const d: RolloutDriver = {
    async etcdAddMember(h) {
      calls.push(`etcd-add ${h}`);
      return `${h} added`;
    },
    async apiserversAnswering() {
      return o.answering ?? ['m1', 'm2', 'm3'];
    },
    async installKubeha(h) {
      calls.push(`install-kubeha ${h}`);
    },
    async handOverKubeha(h) {
      calls.push(`handover ${h}`);
    },
    async push(h, files) {
      if (o.throwOn === `push ${h}`) throw new Error(`${h}: upload failed`);
      calls.push(`push ${h} ${files.map((f) => f.path).join(',')}`);
    },
    async units(h, units, u) {
      calls.push(`units ${h} ${units.map((x) => `${x.name}:${x.action}`).join(',')}${u?.noBlock ? ' (no-block)' : ''}`);
    },
    async moveWorker(h) {
      calls.push(`move ${h}`);
    },
    async rollback(h) {
      calls.push(`rollback ${h}`);
      return 'files restored';
    },
    async done(h) {
      calls.push(`done ${h}`);
    },
    async etcdMembers() {
      calls.push('etcd-health');
      return o.members?.() ?? ['m1', 'm2', 'm3'].map((name) => ({ name, healthy: true, detail: `${name} healthy` }));
    },
    async etcdHandOffLeadership(h) {
      calls.push(`etcd-handoff ${h}`);
      return undefined;
    },
    async gate(h, kind) {
      calls.push(`gate ${kind} ${h}`);
      return o.gates?.(h, kind, gateCalls++) ?? { pass: true, detail: 'ok' };
    },
    log() {},
  };
  return { d, calls };
}

test('phases: etcd files with etcd, LB units on LB hosts, the rest with the host\'s main role', () => {
  assert.equal(phaseOf(['master', 'lb'], 'etcd'), 'etcd');
  assert.equal(phaseOf(['master', 'lb'], 'kubeha'), 'lb');
  assert.equal(phaseOf(['master', 'lb'], undefined), 'apiserver');
  assert.equal(phaseOf(['lb'], undefined), 'lb');
  assert.equal(phaseOf(['worker'], 'kubeha'), 'worker', 'a worker\'s node-local kubeha is part of the worker phase');
});

test('an existing cluster: etcd one member at a time behind a quorum check, each apiserver gated, LB hosts one at a time, workers in batches; each passed phase journaled done', async () => {
  const { d, calls } = fakeDriver();
  const r = await rollout(cluster(), [], d, { maxUnavailable: 2 });
  assert.equal(r.ok, true, JSON.stringify(r));
  const perMember = (m: string) => ['etcd-health', `etcd-handoff ${m}`, `push ${m} /etc/etcd/etcd.env`, `units ${m} etcd:restart`, `gate etcd-member ${m}`, `done ${m}`];
  assert.deepEqual(calls, [
    ...perMember('m1'), ...perMember('m2'), ...perMember('m3'),
    'push m1 /var/lib/kubeha/rendered/kube-apiserver.flags', 'gate apiserver m1', 'done m1',
    'push m2 /var/lib/kubeha/rendered/kube-apiserver.flags', 'gate apiserver m2', 'done m2',
    'push m3 /var/lib/kubeha/rendered/kube-apiserver.flags', 'gate apiserver m3', 'done m3',
    'push m1 /etc/kubeha/kubeha.yaml', 'units m1 kubeha:reload', 'gate lb m1', 'done m1',
    'push m2 /etc/kubeha/kubeha.yaml', 'units m2 kubeha:reload', 'gate lb m2', 'done m2',
    'push m3 /etc/kubeha/kubeha.yaml', 'units m3 kubeha:reload', 'gate lb m3', 'done m3',
    'move w1', 'move w2', 'gate worker w1', 'gate worker w2', 'done w1', 'done w2',
  ]);
  assert.deepEqual(r.outcomes.map((x) => `${x.host} ${x.status}`), ['m1 applied', 'm2 applied', 'm3 applied', 'w1 applied', 'w2 applied']);
});

test('a fresh etcd (no member running) starts on every master together, without waiting for each start, then one cluster gate', async () => {
  const hosts = cluster().map((h) => ({ ...h, etcdActive: false, units: h.units.map((u) => (u.name === 'etcd' ? unit('etcd', 'start') : u)) }));
  const { d, calls } = fakeDriver();
  const r = await rollout(hosts, [], d, { maxUnavailable: 1 });
  assert.equal(r.ok, true);
  assert.deepEqual(calls.slice(0, 7), [
    'push m1 /etc/etcd/etcd.env', 'push m2 /etc/etcd/etcd.env', 'push m3 /etc/etcd/etcd.env',
    'units m1 etcd:start (no-block)', 'units m2 etcd:start (no-block)', 'units m3 etcd:start (no-block)', 'gate etcd-cluster m1',
  ]);
  assert.ok(!calls.includes('etcd-health'), 'no quorum check for a cluster that does not run yet');
});

test('two of three etcd members down: the quorum gate refuses before anything is changed', async () => {
  const { d, calls } = fakeDriver({ members: () => [{ name: 'm1', healthy: true, detail: 'ok' }, { name: 'm2', healthy: false, detail: 'm2: connection refused' }, { name: 'm3', healthy: false, detail: 'm3: connection refused' }] });
  const r = await rollout(cluster(), [], d, { maxUnavailable: 1 });
  assert.equal(r.ok, false);
  assert.deepEqual(calls, ['etcd-health'], 'nothing pushed, nothing restarted');
  const m1 = r.outcomes.find((x) => x.host === 'm1')!;
  assert.equal(m1.status, 'failed');
  assert.match(m1.detail, /would lose etcd quorum: only 0 other member\(s\) healthy, 2 of 3 needed \(m2: connection refused; m3: connection refused\)/);
  assert.match(r.stopped!, /quorum gate refused to restart m1/);
  for (const h of ['m2', 'm3', 'w1', 'w2']) assert.equal(r.outcomes.find((x) => x.host === h)!.status, 'not reached');
});

test('an apiserver whose certificate lacks the VIP stops the run before any LB host or worker is touched', async () => {
  const hosts = lbChangesOnly();
  const { d, calls } = fakeDriver({ gates: (h, kind) => (kind === 'apiserver' && h === 'm2' ? { pass: false, detail: 'the serving certificate is valid for IP:10.0.0.2, not the VIP' } : { pass: true, detail: 'ok' }) });
  const r = await rollout(hosts, [], d, { maxUnavailable: 1 });
  assert.deepEqual(calls, ['gate apiserver m1', 'gate apiserver m2']);
  const m2 = r.outcomes.find((x) => x.host === 'm2')!;
  assert.equal(m2.status, 'failed', 'nothing was changed on m2, so nothing is rolled back');
  assert.match(m2.detail, /not the VIP/);
  assert.equal(r.outcomes.find((x) => x.host === 'w1')!.status, 'not reached');
});

test('an LB host that fails its gate is rolled back, its gate run again, and the hosts after it stay untouched', async () => {
  const hosts = lbChangesOnly();
  let lbGates = 0;
  const { d, calls } = fakeDriver({ gates: (h, kind) => (kind === 'lb' && h === 'm2' && lbGates++ === 0 ? { pass: false, detail: '2 LB hosts hold the VIP: split brain' } : { pass: true, detail: 'ok' }) });
  const r = await rollout(hosts, [], d, { maxUnavailable: 1 });
  assert.equal(r.ok, false);
  assert.deepEqual(calls.slice(3), [
    'push m1 /etc/kubeha/kubeha.yaml', 'units m1 kubeha:reload', 'gate lb m1', 'done m1',
    'push m2 /etc/kubeha/kubeha.yaml', 'units m2 kubeha:reload', 'gate lb m2', 'rollback m2', 'gate lb m2',
  ]);
  const m2 = r.outcomes.find((x) => x.host === 'm2')!;
  assert.equal(m2.status, 'rolled back');
  assert.match(m2.detail, /split brain; rolled back: files restored \(gate passes again\)/);
  for (const h of ['m3', 'w1', 'w2']) assert.equal(r.outcomes.find((x) => x.host === h)!.status, 'not reached');
});

test('workers: a failed gate rolls back that worker only; its batch finishes, later batches are not started; an unreachable worker is reported and skipped', async () => {
  const hosts = [...cluster().filter((h) => h.roles.includes('worker')), host('w3', ['worker'], { kubeconfigs: [{ path: '/etc/kubernetes/kubelet.conf', content: 'moved', mode: 0o600 }] })];
  const { d, calls } = fakeDriver({ gates: (h, kind) => (kind === 'worker' && h === 'w1' ? { pass: false, detail: 'w1\'s Lease was last renewed before its kubelet restarted' } : { pass: true, detail: 'ok' }) });
  const r = await rollout(hosts, [{ name: 'w4', roles: ['worker'], error: 'w4: connect ETIMEDOUT' }], d, { maxUnavailable: 2 });
  assert.equal(r.ok, false);
  // the batch's two workers run side by side: their calls interleave
  assert.deepEqual([...calls].sort(), ['done w2', 'gate worker w1', 'gate worker w1', 'gate worker w2', 'move w1', 'move w2', 'rollback w1']);
  assert.ok(calls.indexOf('rollback w1') < calls.lastIndexOf('gate worker w1'), 'the gate runs again after the rollback');
  assert.deepEqual(r.outcomes.map((x) => `${x.host} ${x.status}`), ['w1 rolled back', 'w2 applied', 'w3 not reached', 'w4 unreachable']);
});

test('an unreachable worker alone does not stop the others, but fails the run', async () => {
  const { d } = fakeDriver();
  const r = await rollout(cluster().filter((h) => h.name === 'w1'), [{ name: 'w9', roles: ['worker'], error: 'no route' }], d, { maxUnavailable: 1 });
  assert.deepEqual(r.outcomes.map((x) => `${x.host} ${x.status}`), ['w1 applied', 'w9 unreachable']);
  assert.equal(r.ok, false);
  assert.equal(r.stopped, undefined);
});

test('an unreachable master: nothing is changed anywhere', async () => {
  const { d, calls } = fakeDriver();
  const r = await rollout(cluster().filter((h) => h.name !== 'm3'), [{ name: 'm3', roles: ['master', 'lb'], error: 'm3: host key CHANGED' }], d, { maxUnavailable: 1 });
  assert.deepEqual(calls, []);
  assert.match(r.stopped!, /control-plane host\(s\) m3 not reached: nothing was changed/);
});

test('a step that throws (an upload fails) rolls its host back and stops the run', async () => {
  const hosts = lbChangesOnly();
  const { d, calls } = fakeDriver({ throwOn: 'push m1' });
  const r = await rollout(hosts, [], d, { maxUnavailable: 1 });
  assert.deepEqual(calls.slice(3), ['rollback m1', 'gate lb m1']);
  assert.match(r.outcomes[0]!.detail, /m1: upload failed; rolled back/);
});

test('nothing to change: every master still passes its apiserver gate, nothing else runs, nothing is marked done', async () => {
  const hosts = cluster().map((h) => ({ ...h, files: [], units: [], kubeconfigs: [] }));
  const { d, calls } = fakeDriver();
  const r = await rollout(hosts, [], d, { maxUnavailable: 1 });
  assert.equal(r.ok, true);
  assert.deepEqual(calls, ['gate apiserver m1', 'gate apiserver m2', 'gate apiserver m3']);
  assert.ok(r.outcomes.every((x) => x.status === 'unchanged'));
});

test('workers to move while the LB hosts are unchanged: the VIP is gated once first', async () => {
  const hosts = cluster().map((h) => (h.roles.includes('worker') ? h : { ...h, files: [], units: [] }));
  const { d, calls } = fakeDriver({ gates: (_h, kind) => (kind === 'lb' ? { pass: false, detail: 'no LB host holds the VIP' } : { pass: true, detail: 'ok' }) });
  const r = await rollout(hosts, [], d, { maxUnavailable: 1 });
  assert.deepEqual(calls.slice(3), ['gate lb m1']);
  assert.match(r.stopped!, /the VIP is not ready for the workers: no LB host holds the VIP/);
});

test('a cut-off run left a worker moved but not restarted: the next run restarts and gates it', async () => {
  const { d, calls } = fakeDriver();
  const r = await rollout([host('w1', ['worker'], { resumeWorker: true })], [], d, { maxUnavailable: 1 });
  assert.deepEqual(calls, ['move w1', 'gate worker w1', 'done w1']);
  assert.equal(r.ok, true);
});

test('a new kubeha release goes onto a node-local LB in its host\'s own phase: before the worker moves to it, with the master\'s apiserver work', async () => {
  const { d, calls } = fakeDriver();
  const kubehaFiles = { files: [file('/etc/kubeha/kubeha.yaml', 'kubeha')], units: [unit('kubeha', 'reload')], installKubeha: true };
  const r = await rollout([
    host('m1', ['master'], kubehaFiles),
    host('w1', ['worker'], { ...kubehaFiles, kubeconfigs: [{ path: '/etc/kubernetes/kubelet.conf', content: 'moved', mode: 0o600 }] }),
  ], [], d, { maxUnavailable: 1 });
  assert.equal(r.ok, true);
  assert.deepEqual(calls.filter((c) => /m1|w1/.test(c) && !c.startsWith('gate lb')), [
    'install-kubeha m1', 'push m1 /etc/kubeha/kubeha.yaml', 'units m1 kubeha:reload', 'handover m1', 'gate apiserver m1', 'done m1',
    'install-kubeha w1', 'push w1 /etc/kubeha/kubeha.yaml', 'units w1 kubeha:reload', 'handover w1', 'move w1', 'gate worker w1', 'done w1',
  ]);
});

test('a run stopped midway: hosts that passed some phases are "partly applied", with what passed and what was not reached', async () => {
  const { d, calls } = fakeDriver({ gates: (h, kind) => (kind === 'apiserver' && h === 'm2' ? { pass: false, detail: 'not the VIP' } : { pass: true, detail: 'ok' }) });
  const r = await rollout(cluster(), [], d, { maxUnavailable: 1 });
  assert.deepEqual(r.outcomes.map((x) => `${x.host} ${x.status}`), ['m1 partly applied', 'm2 rolled back', 'm3 partly applied', 'w1 not reached', 'w2 not reached']);
  assert.match(r.outcomes[0]!.detail, /^etcd, apiserver applied; lb not reached: m2 failed its apiserver gate \[KUBEHA_ERR_APPLY_GATE\]$/);
  assert.match(r.outcomes[2]!.detail, /^etcd applied; apiserver, lb not reached: /);
  assert.ok(calls.indexOf('done m2') < calls.indexOf('rollback m2'), 'm2\'s etcd phase passed (journaled done) before its apiserver phase was rolled back');
});

test('a fresh cluster (no apiserver answers): etcd and the LB hosts go up without the apiserver gates, the workers wait, and the table says to run kubeadm init', async () => {
  const hosts = cluster().map((h) => ({ ...h, etcdActive: false, units: h.units.map((u) => (u.name === 'etcd' ? unit('etcd', 'start') : unit(u.name, 'start'))) }));
  const { d, calls } = fakeDriver({ answering: [] });
  const r = await rollout(hosts, [], d, { maxUnavailable: 1 });
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.ok(!calls.some((c) => c.startsWith('gate apiserver')), 'no apiserver gate');
  assert.deepEqual(calls.filter((c) => c.startsWith('gate lb')), ['gate lb-bootstrap m1', 'gate lb-bootstrap m2', 'gate lb-bootstrap m3']);
  assert.ok(calls.includes('push m1 /var/lib/kubeha/rendered/kube-apiserver.flags'), 'the masters\' files still go out');
  assert.ok(!calls.some((c) => c.startsWith('move ')), 'no worker moved');
  assert.deepEqual(r.outcomes.map((x) => `${x.host} ${x.status}`), ['m1 applied', 'm2 applied', 'm3 applied', 'w1 not reached', 'w2 not reached']);
  assert.match(r.notes[0]!, /no apiserver runs yet: run kubeadm init on m1/);
});

test('masters that join: each added to the running etcd just before it starts (no quorum gate against members that do not run yet), one at a time', async () => {
  const hosts = cluster().map((h) => (h.name === 'm1' ? { ...h, files: [], units: [] } : { ...h, etcdActive: false, joinsEtcd: true, units: h.units.map((u) => (u.name === 'etcd' ? unit('etcd', 'start') : u)) }));
  const { d, calls } = fakeDriver();
  const r = await rollout(hosts, [], d, { maxUnavailable: 1 });
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(calls.slice(0, 10), [
    'etcd-add m2', 'push m2 /etc/etcd/etcd.env', 'units m2 etcd:start', 'gate etcd-member m2', 'done m2',
    'etcd-add m3', 'push m3 /etc/etcd/etcd.env', 'units m3 etcd:start', 'gate etcd-member m3', 'done m3',
  ]);
  assert.ok(!calls.includes('etcd-health'), 'no quorum gate over the inventory\'s members');
});

test('a running apiserver whose unit changes restarts after the workers moved (only gated before); a new one starts first', async () => {
  const apiserverUnit = file('/etc/systemd/system/kube-apiserver.service', 'kube-apiserver');
  const hosts = cluster().map((h) => (h.roles.includes('master')
    ? { ...h, files: [apiserverUnit], units: [unit('kube-apiserver', h.name === 'm1' ? 'restart' : 'start')] }
    : h));
  const { d, calls } = fakeDriver();
  const r = await rollout(hosts, [], d, { maxUnavailable: 2 });
  assert.equal(r.ok, true, JSON.stringify(r));
  const at = (c: string) => calls.indexOf(c);
  assert.ok(at('gate apiserver m1') < at('units m2 kube-apiserver:start'), 'm1 is gated first, not restarted');
  assert.ok(at('units m3 kube-apiserver:start') < at('move w1'), 'the new apiservers start before the workers move');
  assert.ok(at('done w2') < at('units m1 kube-apiserver:restart'), 'm1 restarts after the workers');
  assert.equal(calls.filter((c) => c === 'gate apiserver m1').length, 2, 'gated before, and after its restart');
});
