// kubeha doctor against a live stand-in control plane on loopback: three apiservers on 127.0.0.2-4
// (one port), a kubeha load balancer on the "VIP" 127.0.0.10.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { doctorCommand, type DoctorOptions } from '../../src/cli/doctor.js';
import type { Finding } from '../../src/doctor/assess.js';
import { Daemon } from '../../src/daemon.js';
import { SimApiserver } from '../../src/sim/apiserver.js';
import { selfSignedCert, type CertPair } from '../../src/sim/self-signed.js';
import { runWithStreams } from '../support/cli-streams.js';
import { freePort } from '../support/etcd.js';
import { config, until } from '../support/tcp.js';

const VIP = '127.0.0.10';
const MASTERS = [['master1', '127.0.0.2'], ['master2', '127.0.0.3'], ['master3', '127.0.0.4']] as const;

/** The doctor twice over the same live cluster: JSON for the findings, text for the table. VRRP on a segment is test/vrrp-netns/doctor-vrid.test.ts's. */
async function run(o: Partial<DoctorOptions> & { inventory: string }): Promise<{ code: number; findings: Finding[]; text: string }> {
  const json = await runWithStreams((out, err) => doctorCommand({ timeout: '2s', etcd: false, vrrp: false, json: true, ...o }, out, err));
  const text = await runWithStreams((out, err) => doctorCommand({ timeout: '2s', etcd: false, vrrp: false, ...o }, out, err));
  return { code: json.code, findings: (JSON.parse(json.out) as { findings: Finding[] }).findings, text: text.out };
}

const find = (fs: Finding[], check: string, target: string) => fs.filter((f) => f.check === check && f.target === target);

test('kubeha doctor on a live stand-in control plane: a healthy one passes; a certificate without the VIP and a master missing from the LB are named', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-doctor-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const withVip = await Promise.all(MASTERS.map(([name, ip]) => selfSignedCert(name, [`IP:${ip}`, `IP:${VIP}`, 'DNS:kubernetes'])));
  const withoutVip = await selfSignedCert('master3', ['IP:127.0.0.4', 'DNS:kubernetes']);
  // Ports outside the ephemeral range (support/etcd.ts): the closed-door checks at the end expect
  // ECONNREFUSED there, which a listen(0) of a test file running alongside could otherwise break.
  const apiPort = await freePort(MASTERS.map(([, ip]) => ip));
  const lbPort = await freePort([VIP]);
  const adminPort = await freePort(['127.0.0.1']);
  const admin = [`127.0.0.1:${adminPort}`];

  const sims: SimApiserver[] = [];
  t.after(() => sims.forEach((s) => s.stop()));
  const startMasters = async (certs: CertPair[]) => {
    sims.splice(0).forEach((s) => s.stop());
    for (const [i, [name, ip]] of MASTERS.entries()) {
      const s = new SimApiserver({ name, host: ip, port: apiPort, tls: certs[i]!, shutdownDelayMs: 0, watchGraceMs: 0, failReadyz: false, latencyMs: 0, blackhole: false });
      await s.start();
      sims.push(s);
    }
  };
  const daemon = new Daemon({ log: pino({ level: 'silent' }) });
  t.after(() => daemon.shutdown(0));
  const lb = (masters: readonly (typeof MASTERS)[number][]) => config({
    admin: { bind: `127.0.0.1:${adminPort}` },
    frontends: [{ name: 'apiserver', bind: `${VIP}:${lbPort}`, backend: 'apiservers' }],
    backends: [{ name: 'apiservers', healthCheck: { type: 'https', path: '/readyz', interval: '200ms', timeout: '1s', rise: 1, fall: 1 }, servers: masters.map(([name, ip]) => ({ name, address: `${ip}:${apiPort}` })) }],
  });
  const inventory = join(dir, 'inventory.yaml');
  await writeFile(inventory, [
    'cluster: loop', `vip: ${VIP}/8`, 'interface: lo', `apiPort: ${lbPort}`, `apiserverPort: ${apiPort}`,
    'masters:', ...MASTERS.map(([name, ip]) => `  - { name: ${name}, ip: ${ip} }`), '',
  ].join('\n'));

  // The LB's checks must see the (re)started masters up before the doctor looks through it: a check
  // that began before the restart may still fail afterwards (ECONNRESET from the stopped master) and
  // mark it down while the doctor samples, so only a passing check begun after the restart counts.
  const allUp = (n: number, since: number) => until(() => {
    const servers = daemon.pool('apiservers')?.servers ?? [];
    return servers.length === n && servers.every((x) => x.health.up && x.lastCheck?.ok === true && x.lastCheck.atMs - x.lastCheck.latencyMs >= since);
  }, 5000, 'every LB server up, checked after the masters started');

  // Healthy: every master ready, every certificate names the VIP, the LB reaches all three.
  await startMasters(withVip);
  let started = daemon.clock.now();
  await daemon.start(lb(MASTERS));
  await allUp(3, started);
  const healthy = await run({ inventory, admin });
  assert.equal(healthy.code, 0, healthy.text);
  assert.deepEqual(healthy.findings.filter((f) => f.verdict !== 'ok' && f.check !== 'etcd' && f.check !== 'vrrp-listen'), [], healthy.text);
  assert.match(find(healthy.findings, 'vip-spread', `${VIP}:${lbPort}`)[0]!.message, /reached every ready master: master\d, master\d, master\d/);
  assert.equal(healthy.findings.filter((f) => f.check === 'apiserver-cert-vip' && f.verdict === 'ok').length, 3);
  assert.match(healthy.text, /^ok\s+master1\s+apiserver-ready\s+master1 127\.0\.0\.2:\d+: \/readyz 200/m);
  assert.match(healthy.text, /^skip\s+etcd\s+etcd\s+not asked \(--no-etcd\)$/m);
  assert.match(healthy.text, /^skip\s+vrrp\s+vrrp-listen\s+not asked \(--no-vrrp\)$/m);
  assert.match(healthy.text, /0 failed, 0 warnings, \d+ ok, 2 skipped\n$/);
  assert.deepEqual(find(healthy.findings, 'lb-node', `kubeha@${admin[0]}`).map((f) => [f.verdict, f.message]), [['ok', 'serving: apiservers 3/3 up']], 'the LB node asked through its admin API');

  // The classic mistakes: master3's certificate lacks the VIP, and the LB config forgot master3.
  await startMasters([withVip[0]!, withVip[1]!, withoutVip]);
  started = daemon.clock.now();
  assert.deepEqual(await daemon.apply(lb(MASTERS.slice(0, 2))), { ok: true });
  await allUp(2, started);
  const broken = await run({ inventory, admin });
  assert.equal(broken.code, 1, broken.text);
  const cert = find(broken.findings, 'apiserver-cert-vip', 'master3')[0]!;
  assert.equal(cert.verdict, 'fail');
  assert.match(cert.message, /valid for IP:127\.0\.0\.4, DNS:kubernetes, not the VIP 127\.0\.0\.10/);
  assert.match(cert.fix!, /--apiserver-cert-extra-sans=127\.0\.0\.10/);
  const spread = find(broken.findings, 'vip-spread', `${VIP}:${lbPort}`)[0]!;
  assert.equal(spread.verdict, 'warn');
  assert.match(spread.message, /ready but never reached: master3$/);
  assert.match(broken.text, /^FAIL\s+master3\s+apiserver-cert-vip\s+the serving certificate is valid for/m);
  assert.match(broken.text, /^\s+fix: add 127\.0\.0\.10 to the apiserver certificate/m);

  // The front door closed: nothing listens on the VIP; a dead master is named too.
  await daemon.shutdown(0);
  sims[1]!.stop();
  const closed = await run({ inventory, admin });
  assert.equal(closed.code, 1);
  assert.match(find(closed.findings, 'vip-ready', `${VIP}:${lbPort}`)[0]!.message, /nothing answers on the VIP in 2 tries \(ECONNREFUSED\)/, 'two refusals are enough, not the 9 samples');
  assert.match(find(closed.findings, 'apiserver-ready', 'master2')[0]!.message, /no answer \(ECONNREFUSED\)/);
  const node = find(closed.findings, 'lb-node', `kubeha@${admin[0]}`)[0]!;
  assert.equal(node.verdict, 'fail');
  assert.match(node.message, /cannot reach the daemon .*ECONNREFUSED/);
});

test('kubeha doctor: a bad inventory or option exits 2 with the problem', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-doctor-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const inventory = join(dir, 'inventory.yaml');
  await writeFile(inventory, 'cluster: x\nvip: 10.0.0.5/24\ninterface: eth0\nmasters: []\n');
  const noMasters = await runWithStreams((out, err) => doctorCommand({ inventory, timeout: '1s', etcd: false }, out, err));
  assert.equal(noMasters.code, 2);
  assert.match(noMasters.err, /inventory\.yaml:4:\d+: "masters"/);
  await writeFile(inventory, 'cluster: x\nvip: 10.0.0.5/24\ninterface: eth0\nmasters: [{name: m1, ip: 10.0.0.1}]\n');
  const badTimeout = await runWithStreams((out, err) => doctorCommand({ inventory, timeout: 'soon', etcd: false }, out, err));
  assert.equal(badTimeout.code, 2);
  assert.match(badTimeout.err, /--timeout is a duration/);
  const badListen = await runWithStreams((out, err) => doctorCommand({ inventory, timeout: '1s', etcd: false, vrrpListen: '3' }, out, err));
  assert.equal(badListen.code, 2);
  assert.match(badListen.err, /--vrrp-listen 3: a duration like 3s/);
});
