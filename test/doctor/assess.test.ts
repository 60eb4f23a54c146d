import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assess, type DoctorObservations, type EtcdObservation, type Finding, type MasterObservation } from '../../src/doctor/assess.js';
import { sansOf, type HttpsObservation, type ServedCert } from '../../src/doctor/probe.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const DAY = 86_400_000;
const VIP = '10.8.4.55';

function cert(name: string, over: Partial<ServedCert> = {}): ServedCert {
  return { fingerprint: `FP:${name}`, subject: `CN=${name}`, sans: [`IP:${VIP}`, 'DNS:kubernetes'], notAfterMs: NOW + 300 * DAY, ...over };
}

function ready(name: string, over: Partial<HttpsObservation> = {}): HttpsObservation {
  return { target: `${name}:6443`, status: 200, body: 'ok', cert: cert(name), peerDateMs: NOW - 300, localMidMs: NOW, latencyMs: 3, ...over };
}

const masters = (...ms: MasterObservation[]) => ms;
const m = (name: string, over: Partial<HttpsObservation> = {}): MasterObservation => ({ name, ip: '10.8.4.9', readyz: ready(name, over) });

function member(id: string, leaderId = '1'): EtcdObservation {
  return { endpoint: `https://10.8.4.9${id}:2379`, memberId: id, leaderId, version: '3.4.23', dbSizeBytes: 2 * 1048576, members: ['1', '2', '3'].map((x) => ({ id: x, name: `m${x}`, clientURLs: [] })), alarms: [] };
}

function obs(over: Partial<DoctorObservations> = {}): DoctorObservations {
  return {
    vip: VIP, frontendPort: 6443,
    masters: masters(m('m1'), m('m2'), m('m3')),
    viaVip: ['m1', 'm2', 'm3', 'm1', 'm2', 'm3'].map((n) => ready(n, { target: `${VIP}:6443` })),
    etcd: [member('1'), member('2'), member('3')], expectedEtcdMembers: 3, nowMs: NOW,
    ...over,
  };
}

const only = (fs: Finding[], check: string, target?: string) => fs.filter((f) => f.check === check && (target === undefined || f.target === target));
const bad = (fs: Finding[]) => fs.filter((f) => f.verdict !== 'ok').map((f) => `${f.verdict} ${f.check} ${f.target}`);

test('a healthy control plane: every finding ok', () => {
  const fs = assess(obs());
  assert.deepEqual(bad(fs), []);
  assert.equal(only(fs, 'etcd-leader')[0]!.message, 'leader m1');
  assert.equal(only(fs, 'vip-spread')[0]!.message, 'the VIP reached every ready master: m1, m2, m3');
});

test('apiserver answers: refused, 401 to anonymous (every LB check fails alike), 500 with the failing [-] checks', () => {
  const fs = assess(obs({
    masters: masters(
      m('m1', { status: undefined, error: 'ECONNREFUSED', cert: undefined }),
      m('m2', { status: 401, body: 'Unauthorized' }),
      m('m3', { status: 500, body: '[+]ping ok\n[-]etcd failed: reason withheld\n[+]log ok\nreadyz check failed' }),
    ),
  }));
  assert.match(only(fs, 'apiserver-ready', 'm1')[0]!.message, /no answer \(ECONNREFUSED\)/);
  assert.match(only(fs, 'apiserver-ready', 'm2')[0]!.message, /answers 401 to an anonymous GET, so every load balancer health check fails/);
  assert.match(only(fs, 'apiserver-ready', 'm3')[0]!.message, /\/readyz 500: \[-\]etcd failed: reason withheld$/);
  assert.ok(only(fs, 'apiserver-ready').every((f) => f.verdict === 'fail' && f.fix));
  assert.deepEqual(only(fs, 'apiserver-cert-vip', 'm1'), [], 'no certificate, nothing to judge');
});

test('certificates: the VIP missing from the SANs fails; expiry warns under 30 days and fails when past; a chain error with --cacert fails', () => {
  const fs = assess(obs({
    masters: masters(
      m('m1', { cert: cert('m1', { sans: ['IP:10.8.4.91'] }) }),
      m('m2', { cert: cert('m2', { notAfterMs: NOW + 12.5 * DAY, chainError: null }) }),
      m('m3', { cert: cert('m3', { notAfterMs: NOW - 3 * DAY, chainError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }) }),
    ),
  }));
  assert.equal(only(fs, 'apiserver-cert-vip', 'm1')[0]!.verdict, 'fail');
  assert.match(only(fs, 'apiserver-cert-vip', 'm1')[0]!.message, /valid for IP:10\.8\.4\.91, not the VIP 10\.8\.4\.55/);
  assert.deepEqual(only(fs, 'apiserver-cert-expiry').map((f) => [f.verdict, f.message]), [
    ['ok', 'the serving certificate is valid 300 more days'],
    ['warn', 'the serving certificate expires in 12 days'],
    ['fail', 'the serving certificate expired 3 days ago'],
  ]);
  assert.deepEqual(only(fs, 'apiserver-cert-chain').map((f) => `${f.target} ${f.verdict}`), ['m2 ok', 'm3 fail']);
  assert.deepEqual(only(fs, 'apiserver-cert-chain', 'm1'), [], 'no CA given: the chain is not judged');
});

test('clock skew: the Date header has whole seconds, so up to 1 s behind is no skew; more than 2 s is', () => {
  const fs = assess(obs({
    masters: masters(
      m('m1', { peerDateMs: NOW - 2900, localMidMs: NOW }), // really between 2.9 and 1.9 s behind
      m('m2', { peerDateMs: NOW - 3100, localMidMs: NOW }),
      m('m3', { peerDateMs: NOW + 2500, localMidMs: NOW }),
    ),
  }));
  assert.deepEqual(only(fs, 'clock-skew').map((f) => `${f.target} ${f.verdict}`), ['m1 ok', 'm2 warn', 'm3 warn']);
  assert.match(only(fs, 'clock-skew', 'm3')[0]!.message, /3 s off/);
});

test('the VIP: closed, partly failing, a master never reached, a server not in the inventory, shared certificates', () => {
  const target = `${VIP}:6443`;
  const closed = assess(obs({ viaVip: [{ target, error: 'ECONNREFUSED' }, { target, error: 'no answer in 3000 ms' }] }));
  assert.equal(only(closed, 'vip-ready')[0]!.verdict, 'fail');
  assert.match(only(closed, 'vip-ready')[0]!.message, /nothing answers on the VIP in 2 tries \(ECONNREFUSED, no answer in 3000 ms\)/);
  assert.deepEqual(only(closed, 'vip-spread'), [], 'nothing to spread');

  const partly = assess(obs({ viaVip: [ready('m1'), ready('m2'), { target, error: 'ECONNRESET' }, ready('stranger'), ready('m1', { status: 500 })] }));
  assert.match(only(partly, 'vip-ready')[0]!.message, /^2 of 5 requests through the VIP failed \(ECONNRESET, \/readyz 500\)/);
  assert.deepEqual(only(partly, 'vip-spread').map((f) => f.message), [
    "the VIP reaches a server that is none of the inventory's masters (certificate FP:stranger…)",
    'in 4 requests the VIP reached m1, m2; ready but never reached: m3',
  ]);

  const noVipSan = assess(obs({ viaVip: [ready('m1', { cert: cert('m1', { sans: ['IP:10.8.4.91'] }) })] }));
  assert.equal(only(noVipSan, 'vip-cert')[0]!.verdict, 'fail');

  const shared = assess(obs({ masters: masters(m('m1', { cert: cert('same') }), m('m2', { cert: cert('same') }), m('m3')) }));
  assert.equal(only(shared, 'vip-spread')[0]!.verdict, 'skip');
  const notReady = assess(obs({ masters: masters(m('m1'), m('m2'), m('m3', { status: 500 })), viaVip: [ready('m1'), ready('m2')] }));
  assert.equal(only(notReady, 'vip-spread')[0]!.verdict, 'ok', 'a master that is not ready is rightly out of rotation');
});

test('etcd: quorum lost, one failure from losing it, an even count, members the inventory lacks, leaders, alarms', () => {
  const down = (id: string): EtcdObservation => ({ endpoint: `https://10.8.4.9${id}:2379`, error: 'ECONNREFUSED' });
  const lost = assess(obs({ etcd: [member('1'), down('2'), down('3')] }));
  assert.deepEqual(only(lost, 'etcd-member').map((f) => f.verdict), ['ok', 'fail', 'fail']);
  assert.match(only(lost, 'etcd-quorum')[0]!.message, /^1 of 3 members answer; a quorum needs 2/);
  assert.equal(only(lost, 'etcd-quorum')[0]!.verdict, 'fail');

  const edge = assess(obs({ etcd: [member('1'), member('2'), down('3')] }));
  assert.deepEqual([only(edge, 'etcd-quorum')[0]!.verdict, only(edge, 'etcd-quorum')[0]!.message], ['warn', '2 of 3 members answer: one more failure loses the quorum']);

  const four = { ...member('1'), members: ['1', '2', '3', '4'].map((x) => ({ id: x, name: `m${x}`, clientURLs: [] })) };
  const even = assess(obs({ etcd: [four] }));
  assert.deepEqual(only(even, 'etcd-members').map((f) => f.message), [
    '4 members: an even count tolerates no more failures than 3',
    '4 members, the inventory has 3: m1, m2, m3, m4',
  ]);

  const split = assess(obs({ etcd: [member('1', '1'), member('2', '2'), member('3', '0')] }));
  assert.equal(only(split, 'etcd-leader')[0]!.verdict, 'fail');
  assert.match(only(split, 'etcd-leader')[0]!.message, /disagree on the leader \(1, 2\)/);
  const leaderless = assess(obs({ etcd: [member('1', '0'), member('2', '0')] }));
  assert.match(only(leaderless, 'etcd-leader')[0]!.message, /no member knows a leader/);

  const full = assess(obs({ etcd: [{ ...member('1'), alarms: ['NOSPACE'] }, member('2'), member('3')] }));
  assert.match(only(full, 'etcd-alarm')[0]!.message, /NOSPACE \(etcd takes no writes\)/);

  const none = assess(obs({ etcd: [down('1'), down('2'), down('3')] }));
  assert.deepEqual(only(none, 'etcd-quorum'), [], 'no member answered: the member findings say it');
  assert.equal(assess(obs({ etcd: { skipped: 'not asked' } })).filter((f) => f.check === 'etcd')[0]!.verdict, 'skip');
});

test('kubeha nodes asked through --admin: their problems fail, their warnings warn, a silent one fails', () => {
  const fs = assess(obs({
    nodes: [
      { target: 'lb1:9000', problems: [], warnings: [], summary: 'serving: apiservers 3/3 up, VI_1 MASTER' },
      { target: 'lb2:9000', problems: ['backend apiservers has no usable server (3 configured)'], warnings: ['server apiservers/m1 (10.0.0.1:6443) is down: timeout'], summary: '' },
      { target: 'lb3:9000', error: 'cannot reach the daemon at http://lb3:9000/api/v1/state: ECONNREFUSED; is kubeha running with this config? [KUBEHA_ERR_ADMIN_UNREACHABLE]' },
    ],
  }));
  assert.deepEqual(only(fs, 'lb-node').map((f) => [f.verdict, f.target, f.message.split(':')[0]]), [
    ['ok', 'kubeha@lb1:9000', 'serving'],
    ['fail', 'kubeha@lb2:9000', 'backend apiservers has no usable server (3 configured)'],
    ['warn', 'kubeha@lb2:9000', 'server apiservers/m1 (10.0.0.1'],
    ['fail', 'kubeha@lb3:9000', 'cannot reach the daemon at http'],
  ]);
  assert.equal(fs[0]!.check, 'lb-node', 'the nodes come first');
});

test('certificates, dual stack: the IPv6 VIP must be a SAN too; Node\'s upper-case unabbreviated IPv6 SAN text is read as RFC 5952', () => {
  // What Node prints for a certificate with subjectAltName=IP:10.8.4.55,IP:fd00:8:4::55 (openssl, X509Certificate.subjectAltName).
  const sans = sansOf('IP Address:10.8.4.55, IP Address:FD00:8:4:0:0:0:0:55, DNS:kubernetes');
  assert.deepEqual(sans, ['IP:10.8.4.55', 'IP:fd00:8:4::55', 'DNS:kubernetes']);
  const fs = assess(obs({
    vip6: 'fd00:8:4::55',
    masters: masters(
      m('m1', { cert: cert('m1', { sans }) }),
      m('m2', { cert: cert('m2', { sans: ['IP:10.8.4.55'] }) }),
      m('m3', { cert: cert('m3', { sans }) }),
    ),
  }));
  assert.deepEqual(only(fs, 'apiserver-cert-vip', 'm1').map((f) => f.verdict), ['ok', 'ok']);
  const m2 = only(fs, 'apiserver-cert-vip', 'm2');
  assert.deepEqual(m2.map((f) => f.verdict), ['ok', 'fail']);
  assert.match(m2[1]!.message, /not the VIP fd00:8:4::55/);
  assert.match(m2[1]!.fix ?? '', /--apiserver-cert-extra-sans=fd00:8:4::55/);
});
