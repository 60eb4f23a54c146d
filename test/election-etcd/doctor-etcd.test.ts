// kubeha doctor's etcd side against a real etcd (Debian etcd-server) on loopback: what the JSON
// gateway answers is read right, and a member going down is judged as the quorum says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assess, type Finding } from '../../src/doctor/assess.js';
import { probeEtcd } from '../../src/doctor/probe.js';
import { doctorCommand } from '../../src/cli/doctor.js';
import { runWithStreams } from '../support/cli-streams.js';
import { startEtcd, startTlsEtcd } from '../support/etcd.js';

const judge = (etcd: Awaited<ReturnType<typeof probeEtcd>>[]) =>
  assess({ vip: '127.0.0.10', frontendPort: 6443, masters: [], viaVip: [], etcd, expectedEtcdMembers: 3, nowMs: Date.now() }).filter((f) => f.check.startsWith('etcd'));
const verdicts = (fs: Finding[]) => fs.map((f) => `${f.verdict} ${f.check}`);

test('doctor reads a real 3-member etcd: members, leader, quorum; a killed member leaves the quorum one failure from lost', async (t) => {
  const etcd = await startEtcd(t);
  const seen = await Promise.all(etcd.endpoints.map((e) => probeEtcd(e, undefined, 2000)));
  for (const s of seen) {
    assert.equal(s.error, undefined);
    assert.match(s.memberId!, /^\d+$/, 'member ids are decimal strings (uint64)');
    assert.match(s.version!, /^3\.\d+\.\d+/);
    assert.ok(s.dbSizeBytes! > 0);
    assert.deepEqual(s.alarms, []);
    assert.deepEqual(s.members!.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
  }
  assert.equal(new Set(seen.map((s) => s.leaderId)).size, 1, 'one leader, as every member sees it');
  const healthy = judge(seen);
  assert.deepEqual(verdicts(healthy).filter((v) => !v.startsWith('ok')), []);
  const leader = await etcd.leader();
  assert.equal(healthy.find((f) => f.check === 'etcd-leader')!.message, `leader ${leader.name}`);

  const victim = etcd.members.find((m) => m !== leader)!;
  await victim.kill();
  const after = judge(await Promise.all(etcd.endpoints.map((e) => probeEtcd(e, undefined, 1000))));
  const dead = after.find((f) => f.check === 'etcd-member' && f.target === victim.clientUrl)!;
  assert.equal(dead.verdict, 'fail');
  assert.match(dead.message, /ECONNREFUSED/);
  const quorum = after.find((f) => f.check === 'etcd-quorum')!;
  assert.deepEqual([quorum.verdict, quorum.message], ['warn', '2 of 3 members answer: one more failure loses the quorum']);
});

test('doctor with TLS etcd: the client certificate from the options; without it, a skip that says what to give', async (t) => {
  const { endpoint, pki } = await startTlsEtcd(t);
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-doctor-etcd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const inventory = join(dir, 'inventory.yaml');
  // Nothing listens for the apiservers or the VIP here: only the etcd findings are the point.
  await writeFile(inventory, `cluster: t\nvip: 127.0.0.10/8\ninterface: lo\nmasters: [{name: m1, ip: 127.0.0.21}]\netcd: {mode: external, endpoints: ['${endpoint}']}\npkiDir: ${dir}/none\n`);
  const run = async (extra: Record<string, string>) => {
    const r = await runWithStreams((out, err) => doctorCommand({ inventory, timeout: '2s', samples: '1', etcd: true, json: true, ...extra }, out, err));
    return (JSON.parse(r.out) as { findings: Finding[] }).findings.filter((f) => f.check.startsWith('etcd'));
  };
  const withCerts = await run({ etcdCacert: pki.caFile, etcdCert: pki.clientCert, etcdKey: pki.clientKey });
  assert.deepEqual(verdicts(withCerts), ['ok etcd-member', 'ok etcd-quorum', 'ok etcd-leader']);
  const without = await run({});
  assert.equal(without[0]!.verdict, 'skip');
  assert.match(without[0]!.message, /etcd wants client certificates and .*none\/etcd\/ca\.crt.* cannot be read here: run on a master, or give --etcd-cacert/);
  const untrusted = await probeEtcd(endpoint, { caFile: pki.caFile }, 2000);
  assert.match(untrusted.error!, /certificate|handshake|alert|socket hang up|ECONNRESET/i, 'no client certificate: etcd refuses the handshake');
});
