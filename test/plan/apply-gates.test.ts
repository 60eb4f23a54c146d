// apply's gate judgments, its journal read back (resume of a cut-off run) and its stale-lock rule: pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addedMemberId, apiserverGate, etcdHealthyGate, lbBootstrapGate, lbGate, leaderHandOff, leaseGate, parseEtcdHealth, quorumGate, quorumOf, type LbObservation } from '../../src/apply/gates.js';
import { interruptedRun, parseJournal } from '../../src/apply/journal.js';
import { lockIsStale } from '../../src/apply/push.js';
import { planHost, sha256 } from '../../src/apply/change-plan.js';
import { factsScript, parseFacts } from '../../src/apply/facts.js';
import { hostProblems, vipConflict } from '../../src/apply/host-checks.js';
import { makePlan, parseInventoryText } from '../../src/plan/inventory.js';
import type { HttpsObservation, ServedCert } from '../../src/doctor/probe.js';

const names = new Map([['https://10.0.0.1:2379', 'm1'], ['https://10.0.0.2:2379', 'm2'], ['https://10.0.0.3:2379', 'm3']]);

test('etcdctl endpoint health -w json: healthy, unhealthy with its error, and a member it never printed', () => {
  const out = JSON.stringify([
    { endpoint: 'https://10.0.0.1:2379', health: true, took: '1ms' },
    { endpoint: 'https://10.0.0.2:2379', health: false, error: 'context deadline exceeded' },
  ]);
  assert.deepEqual(parseEtcdHealth(out, names), [
    { name: 'm1', healthy: true, detail: 'https://10.0.0.1:2379 healthy' },
    { name: 'm2', healthy: false, detail: 'https://10.0.0.2:2379: context deadline exceeded' },
    { name: 'm3', healthy: false, detail: 'https://10.0.0.3:2379: no answer' },
  ]);
  assert.ok(parseEtcdHealth('not json', names).every((m) => !m.healthy), 'garbage is no health');
});

test('quorum: a member may restart only when the healthy others still make a majority', () => {
  assert.deepEqual([1, 2, 3, 4, 5].map(quorumOf), [1, 2, 2, 3, 3]);
  const up = (name: string, healthy = true) => ({ name, healthy, detail: `${name} ${healthy ? 'ok' : 'down'}` });
  assert.equal(quorumGate([up('m1'), up('m2'), up('m3')], 'm1').pass, true);
  assert.equal(quorumGate([up('m1'), up('m2'), up('m3', false)], 'm3').pass, true, 'the member being restarted may itself be the sick one');
  const v = quorumGate([up('m1'), up('m2'), up('m3', false)], 'm1');
  assert.equal(v.pass, false, 'm1 down with m3 down leaves one of three');
  assert.match(v.detail, /only 1 other member\(s\) healthy, 2 of 3 needed \(m3 down\)/);
  assert.equal(quorumGate([up('m1')], 'm1').pass, false, 'a one-member cluster cannot restart without an outage');
  assert.equal(etcdHealthyGate([up('m1'), up('m2', false)], 'm1').pass, true);
  assert.equal(etcdHealthyGate([up('m1'), up('m2', false)]).pass, false);
});

const cert = (fingerprint: string, sans: string[]): ServedCert => ({ fingerprint, subject: 'CN=kube-apiserver', sans, notAfterMs: Date.parse('2027-12-01T00:00:00Z') });
const ok = (target: string, c?: ServedCert): HttpsObservation => ({ target, status: 200, body: 'ok', ...(c ? { cert: c } : {}), latencyMs: 1 });
const NOW = Date.parse('2026-12-01T00:00:00Z');

test('apiserver gate: /readyz 200 and a certificate that names the VIP; else the reason, as kubeha doctor says it', () => {
  assert.equal(apiserverGate({ name: 'm1', ip: '10.0.0.1', readyz: ok('10.0.0.1:6443', cert('AA', ['IP:10.0.0.1', 'IP:10.0.0.100'])) }, ['10.0.0.100'], NOW).pass, true);
  const noVip = apiserverGate({ name: 'm1', ip: '10.0.0.1', readyz: ok('10.0.0.1:6443', cert('AA', ['IP:10.0.0.1'])) }, ['10.0.0.100'], NOW);
  assert.equal(noVip.pass, false);
  assert.match(noVip.detail, /valid for IP:10\.0\.0\.1, not the VIP 10\.0\.0\.100/);
  const down = apiserverGate({ name: 'm1', ip: '10.0.0.1', readyz: { target: '10.0.0.1:6443', error: 'ECONNREFUSED' } }, ['10.0.0.100'], NOW);
  assert.match(down.detail, /no answer \(ECONNREFUSED\)/);
  // dual stack: the IPv6 VIP must be named too
  const dual = ['10.0.0.100', 'fd00::100'];
  assert.equal(apiserverGate({ name: 'm1', ip: '10.0.0.1', readyz: ok('10.0.0.1:6443', cert('AA', ['IP:10.0.0.1', 'IP:10.0.0.100', 'IP:fd00::100'])) }, dual, NOW).detail, '10.0.0.1:6443 /readyz 200, certificate names 10.0.0.100 and fd00::100');
  assert.match(apiserverGate({ name: 'm1', ip: '10.0.0.1', readyz: ok('10.0.0.1:6443', cert('AA', ['IP:10.0.0.1', 'IP:10.0.0.100'])) }, dual, NOW).detail, /not the VIP fd00::100/);
});

test('LB gate: own LB serves, exactly one holder, the VIP reaches every ready apiserver', () => {
  const masters = ['1', '2'].map((i) => ({ name: `m${i}`, ip: `10.0.0.${i}`, readyz: ok(`10.0.0.${i}:6443`, cert(`F${i}`, [`IP:10.0.0.${i}`, 'IP:10.0.0.100'])) }));
  const base: LbObservation = {
    host: 'm1', local: ok('10.0.0.1:16443'), holders: ['m1'], masters,
    viaVip: [ok('v', masters[0]!.readyz.cert), ok('v', masters[1]!.readyz.cert)], vip: '10.0.0.100', frontendPort: 16443,
  };
  assert.equal(lbGate(base).pass, true, lbGate(base).detail);
  assert.match(lbGate({ ...base, holders: ['m1', 'm2'] }).detail, /2 LB hosts hold the VIP 10\.0\.0\.100 \(m1, m2\): split brain/);
  assert.match(lbGate({ ...base, holders: [] }).detail, /no LB host holds the VIP/);
  assert.match(lbGate({ ...base, local: { target: '10.0.0.1:16443', error: 'ECONNREFUSED' } }).detail, /m1's own load balancer on 10\.0\.0\.1:16443: ECONNREFUSED/);
  assert.match(lbGate({ ...base, viaVip: [ok('v', masters[0]!.readyz.cert), ok('v', masters[0]!.readyz.cert)] }).detail, /ready but never reached: m2/);
  assert.match(lbGate({ ...base, viaVip: [{ target: 'v', error: 'ETIMEDOUT' }] }).detail, /nothing answers on the VIP/);
  // dual stack: the IPv6 VIP on the same node as the IPv4 one (one sync group)
  assert.match(lbGate({ ...base, vip6: { address: 'fd00::100', holders: ['m1'] } }).detail, /^m1 serves, m1 holds 10\.0\.0\.100 and fd00::100,/);
  assert.match(lbGate({ ...base, vip6: { address: 'fd00::100', holders: ['m2'] } }).detail, /the IPv6 VIP fd00::100 is on m2, not with the IPv4 VIP on m1/);
  assert.match(lbGate({ ...base, vip6: { address: 'fd00::100', holders: [] } }).detail, /the IPv6 VIP fd00::100 is held by no LB host/);
});

test('LB gate while no apiserver runs: its LB listens and at most one holder (none is expected)', () => {
  const o = { host: 'm1', target: '10.0.0.1:16443', listenError: undefined, holders: [], vip: '10.0.0.100' };
  assert.match(lbBootstrapGate(o).detail, /m1 listens on 10\.0\.0\.1:16443; no apiserver yet, so nobody holds the VIP/);
  assert.equal(lbBootstrapGate({ ...o, holders: ['m2'] }).pass, true);
  assert.match(lbBootstrapGate({ ...o, holders: ['m1', 'm2'] }).detail, /split brain/);
  assert.match(lbBootstrapGate({ ...o, listenError: 'ECONNREFUSED' }).detail, /does not listen on 10\.0\.0\.1:16443: ECONNREFUSED/);
});

test('Lease gate: renewed after the kubelet restart (both on the worker\'s clock), or why not', () => {
  const lease = (renewTime?: string) => JSON.stringify({ kind: 'Lease', spec: { holderIdentity: 'w1', ...(renewTime ? { renewTime } : {}) } });
  const since = Date.parse('2026-12-01T10:00:00.000Z');
  assert.equal(leaseGate(lease('2026-12-01T10:00:01.500000Z'), 'w1', since).pass, true);
  assert.match(leaseGate(lease('2026-12-01T09:59:59.000000Z'), 'w1', since).detail, /last renewed 2026-12-01T09:59:59\.000Z, before its kubelet restarted/);
  assert.match(leaseGate(lease(), 'w1', since).detail, /no renewTime/);
  assert.match(leaseGate('Error from server (NotFound): leases.coordination.k8s.io "w1" not found', 'w1', since).detail, /could not be read: Error from server \(NotFound\)/);
});

test('journal: a run with files but neither done nor rollback was cut off; a later finished run clears it', () => {
  const line = (o: object) => JSON.stringify(o);
  const text = [
    line({ run: 'r1', step: 'file', path: '/etc/a', result: 'updated', backup: '/var/lib/kubeha/backups/r1/etc/a' }),
    line({ run: 'r1', step: 'done' }),
    line({ run: 'r2', step: 'file', path: '/etc/kubernetes/kubelet.conf', result: 'updated', backup: '/b' }),
    '{"run":"r2","step":"unit"', // a line cut off halfway
    line({ run: 'r2', step: 'unit', unit: 'kubelet', result: 'restart' }),
  ].join('\n');
  const cut = interruptedRun(parseJournal(text));
  assert.deepEqual(cut?.run, 'r2');
  assert.deepEqual(cut?.paths, ['/etc/kubernetes/kubelet.conf']);
  assert.equal(cut?.files[0]?.backup, '/b', 'the backup comes along for the run that takes over');
  assert.equal(interruptedRun(parseJournal(`${text}\n${line({ run: 'r3', step: 'file', path: '/etc/kubernetes/kubelet.conf', result: 'updated', resumedFrom: 'r2' })}\n${line({ run: 'r3', step: 'done' })}`)), undefined);
  assert.equal(interruptedRun(parseJournal(`${text}\n${line({ run: 'r2', step: 'rollback', paths: [] })}`)), undefined, 'a rolled-back run is finished too');
  assert.equal(interruptedRun([]), undefined);
  const phased = parseJournal([
    line({ run: 'r4', step: 'file', path: '/etc/etcd/etcd.env', result: 'updated' }),
    line({ run: 'r4', step: 'done' }),
    line({ run: 'r4', step: 'file', path: '/etc/kubeha/kubeha.yaml', result: 'created' }),
  ].join('\n'));
  assert.deepEqual(interruptedRun(phased)?.paths, ['/etc/kubeha/kubeha.yaml'], 'a phase that passed its gate is finished, even when a later one was cut off');
});

test('a lock is broken only when its holder is certainly dead: this machine, and a dead pid or a run this process no longer has', () => {
  const me = { hostname: 'ctl', pid: 100, alive: (pid: number) => pid === 200, runs: new Set(['r-live']) };
  assert.equal(lockIsStale('r1 ctl 300', me), true, 'dead process on this machine');
  assert.equal(lockIsStale('r1 ctl 200', me), false, 'live process');
  assert.equal(lockIsStale('r-old ctl 100', me), true, 'this process, a run it finished');
  assert.equal(lockIsStale('r-live ctl 100', me), false, 'this process, a run in progress');
  assert.equal(lockIsStale('r1 other 300', me), false, 'another machine: never judged from here');
  assert.equal(lockIsStale('r1', me), false, 'an old lock without an owner');
});

test('planHost: a file a cut-off run replaced is kept, but its unit still gets what a change asks', () => {
  const d = [{ path: '/etc/kubeha/kubeha.yaml', content: 'new', mode: 0o644, unit: { name: 'kubeha', effect: 'reload' as const } }];
  const onHost = new Map([['/etc/kubeha/kubeha.yaml', { sha256: sha256('new'), mode: 0o644 }]]);
  const units = new Map([['kubeha', 'active']]);
  assert.equal(planHost('h', d, onHost, units).changed, false);
  const p = planHost('h', d, onHost, units, { run: 'r2', paths: ['/etc/kubeha/kubeha.yaml'] });
  assert.equal(p.files[0]!.kind, 'keep');
  assert.deepEqual(p.units, [{ name: 'kubeha', action: 'reload', daemonReload: false, because: ['/etc/kubeha/kubeha.yaml replaced by run r2, which was cut off'] }]);
  assert.equal(p.changed, true);
});

test('host checks: systemd, the LB interface in the VIP subnet, the stack\'s ports free or its own; the VIP answering from a stranger', () => {
  const parsed = parseInventoryText('cluster: c\nvip: 10.0.0.100/24\ninterface: eth0\nmasters:\n  - { name: m1, ip: 10.0.0.1 }\n', 'inv');
  assert.ok(parsed.ok);
  const plan = makePlan(parsed.inventory);
  const m1 = plan.inv.masters[0]!;
  const facts = (lines: string[]) => parseFacts(['systemd 252', ...lines].join('\n'), 0, 0);
  const good = facts(['addr eth0 10.0.0.1/24', 'listen 0.0.0.0:16443 users:(("node",pid=9,fd=21))', 'listen *:6443 users:(("kube-apiserver",pid=7,fd=3))', 'listen 10.0.0.1:2380 users:(("etcd",pid=5,fd=8))']);
  assert.deepEqual(hostProblems(plan, m1, ['master', 'lb'], good), []);
  assert.deepEqual(good.listening.get(6443), ['kube-apiserver']);
  const bad = parseFacts(['systemd ', 'addr eth1 192.168.1.5/24', 'listen 0.0.0.0:2379 users:(("docker-proxy",pid=3,fd=4))'].join('\n'), 0, 0);
  const problems = hostProblems(plan, m1, ['master', 'lb'], bad);
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems[0]!, /no systemd here/);
  assert.match(problems[1]!, /interface eth0 does not exist \(it has eth1\)/);
  assert.match(problems[2]!, /port 2379 is taken by docker-proxy: the stack needs it \(for etcd\)/);
  assert.match(hostProblems(plan, m1, ['lb'], facts(['addr eth0 192.168.7.1/24']))[0]!, /no address of eth0 \(192\.168\.7\.1\/24\) is in the VIP's subnet 10\.0\.0\.100\/24/);
  const local = parseInventoryText('cluster: c\nvip: 10.0.0.100/24\ninterface: eth0\nmasters:\n  - { name: m1, ip: 10.0.0.1 }\nmasterAccess: local\n', 'inv');
  assert.ok(local.ok);
  const taken = facts(['addr eth0 10.0.0.1/24', 'listen 127.0.0.1:7445 users:(("sshd",pid=4,fd=3))']);
  assert.match(hostProblems(makePlan(local.inventory), m1, ['master', 'lb'], taken).join('\n'), /port 7445 is taken by sshd/, 'the node-local LB\'s port');
  assert.deepEqual(hostProblems(plan, m1, ['master', 'lb'], taken), [], 'not used without masterAccess: local');
  // the kernel data plane's programs on the LB hosts (conntrackd for lb.stateful), from the facts script's program lines
  const kernel = parseInventoryText('cluster: c\nvip: 10.0.0.100/24\ninterface: eth0\nmasters:\n  - { name: m1, ip: 10.0.0.1 }\nlb: { dataPlane: kernel }\n', 'inv');
  assert.ok(kernel.ok);
  assert.deepEqual(hostProblems(makePlan(kernel.inventory), m1, ['master', 'lb'], facts(['addr eth0 10.0.0.1/24', 'program nft'])), ['conntrack is not installed and lb.dataPlane: kernel needs it: apt install conntrack (Debian package conntrack)']);
  assert.deepEqual(hostProblems(makePlan(kernel.inventory), m1, ['master', 'lb'], facts(['addr eth0 10.0.0.1/24', 'program nft', 'program conntrack'])), []);
  assert.deepEqual(hostProblems(plan, m1, ['master', 'lb'], good), [], 'the user-space data plane needs neither');
  assert.match(factsScript([], []), /for p in nft conntrack conntrackd; do .*echo "program \$p"/);
  assert.equal(vipConflict(plan, ['m1'], []), undefined, 'one of ours holds it');
  assert.equal(vipConflict(plan, [], [{ port: 16443, ok: false }, { port: 22, ok: false }]), undefined, 'free');
  assert.match(vipConflict(plan, [], [{ port: 16443, ok: false }, { port: 22, ok: true }])!, /answers \(TCP 22\) but none of the LB hosts holds it/);
});

test('etcdctl member add: the new id, also when etcdctl pads it to 16 columns (an id with a leading zero digit)', () => {
  // what etcdctl 3.4 printed on a booted host (the id 051b7da929c760d0 shown as " 51b7da929c760d0")
  assert.equal(addedMemberId('Member  51b7da929c760d0 added to cluster cb4d4e2e6c4a07f2\n\nETCD_NAME="m2"\n'), '51b7da929c760d0');
  assert.equal(addedMemberId('Member 8e9e05c52164694d added to cluster cdf818194e3a8c32\n'), '8e9e05c52164694d');
  assert.equal(addedMemberId('Error: etcdserver: unhealthy cluster\n'), undefined);
});

test('etcd leadership hand-off: off the leader to a voting member that answered, nothing for a follower, none when only learners or errors are left', () => {
  // `etcdctl endpoint status -w simple` as etcdctl 3.4.23 prints it (an endpoint that did not answer is not listed)
  const status = [
    'https://10.0.0.1:2379, 2e1259d415f2a040, 3.4.23, 20 kB, true, false, 2, 40, 40, ',
    'https://10.0.0.2:2379, 8211f1d0f64f3269, 3.4.23, 20 kB, false, true, 2, 40, 40, ',
    'https://10.0.0.3:2379, 91bc3c398fb3c146, 3.4.23, 20 kB, false, false, 2, 40, 40, ',
  ].join('\n');
  assert.deepEqual(leaderHandOff(status, 'https://10.0.0.1:2379'), { leaderId: '2e1259d415f2a040', to: '91bc3c398fb3c146' }, 'not to the learner');
  assert.equal(leaderHandOff(status, 'https://10.0.0.3:2379'), undefined, 'a follower restarts without a hand-off');
  assert.equal(leaderHandOff(status, 'https://10.0.0.9:2379'), undefined, 'an endpoint not listed');
  const alone = status.split('\n').slice(0, 2).join('\n');
  assert.deepEqual(leaderHandOff(alone, 'https://10.0.0.1:2379'), { leaderId: '2e1259d415f2a040' }, 'only a learner besides it');
  const erring = `${status.split('\n')[0]}\nhttps://10.0.0.3:2379, 91bc3c398fb3c146, 3.4.23, 20 kB, false, false, 2, 40, 40, etcdserver: no leader`;
  assert.deepEqual(leaderHandOff(erring, 'https://10.0.0.1:2379'), { leaderId: '2e1259d415f2a040' }, 'a member that reports an error takes nothing');
  assert.equal(leaderHandOff('', 'https://10.0.0.1:2379'), undefined);
});
