// kubeha doctor hears the VIP's segment: Debian's keepalived on host A is another cluster's master
// (VRID N, its own VIP, v2 with a password, keepalived's default 1 s interval); the doctor runs on
// host B, which is on the segment but is none of the inventory's LB hosts. With vrrp.virtualRouterId
// N it names A as a foreign user of the VRID; with another id it lists N as in use; without
// CAP_NET_RAW it says it skipped the check. The apiservers and the VIP of the inventory do not
// exist: only the VRRP findings are asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Finding } from '../../src/doctor/assess.js';
import { KUBEHA_BIN } from '../support/processes.js';
import { createBed, startKeepalived, SUBNET, VIP, type BedHost } from '../support/netns.js';

const FOREIGN_VRID = 77;
const OUR_VIP = `${SUBNET}.210`;

interface DoctorRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `kubeha doctor ARGS` inside `host`'s namespace (after `wrap`, e.g. setpriv), to its end. */
function doctorIn(host: BedHost, args: string[], wrap: string[] = []): Promise<DoctorRun> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', host.ns, ...wrap, process.execPath, KUBEHA_BIN, 'doctor', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** An inventory whose LB hosts (.11, .12) are not on the bed, and whose interface B lacks (the doctor finds eth0 by the VIP's subnet). */
function inventory(dir: string, vrid: number): string {
  const file = join(dir, `inventory-${vrid}.yaml`);
  writeFileSync(file, [
    'cluster: blue', `vip: ${OUR_VIP}/24`, 'interface: ens3',
    // Loopback masters: their probes are refused at once; nothing of theirs is asserted.
    'masters: [{ name: m1, ip: 127.0.0.21 }]',
    `lb: { hosts: [{ name: lb1, ip: ${SUBNET}.11 }, { name: lb2, ip: ${SUBNET}.12 }] }`,
    `vrrp: { virtualRouterId: ${vrid} }`, '',
  ].join('\n'));
  return file;
}

const FAST = ['--no-etcd', '--timeout', '300ms', '--samples', '1'];
const vrrpFindings = (r: DoctorRun): Finding[] => {
  const parsed = JSON.parse(r.stdout) as { findings: Finding[] };
  return parsed.findings.filter((f) => f.check.startsWith('vrrp'));
};

test('doctor on a shared L2: a keepalived of another cluster with our VRID is named; with another VRID it is listed as in use', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [BedHost, BedHost];
  const ka = startKeepalived(bed, a, { version: 2, advertIntervalMs: 1000, vrid: FOREIGN_VRID, authPass: 'other' }, 100);
  await ka.waitLine(/Entering MASTER STATE/, 15_000);

  // Our VRID is the foreign cluster's: a failure that names A, its VIP and the VRIDs in use.
  const clash = await doctorIn(b, ['--inventory', inventory(bed.dir, FOREIGN_VRID), '--json', ...FAST]);
  assert.equal(clash.code, 1, clash.stdout + clash.stderr);
  const fs = vrrpFindings(clash);
  const foreign = fs.filter((f) => f.check === 'vrrp-foreign-vrid-user');
  assert.deepEqual(foreign.map((f) => [f.verdict, f.target]), [['fail', a.ip]], JSON.stringify(fs, null, 2));
  assert.match(foreign[0]!.message, new RegExp(`^${a.ip.replace(/\./g, '\\.')} advertises VRID ${FOREIGN_VRID} \\(priority 100, VIP ${VIP.replace(/\./g, '\\.')}\\) but is not an LB host of this inventory: two clusters on one L2 segment share the VRID`));
  assert.match(foreign[0]!.fix!, new RegExp(`set vrrp\\.virtualRouterId to a free one, e\\.g\\. 1 \\(seen in use on eth0: ${FOREIGN_VRID}\\)`));
  const heard = (JSON.parse(clash.stdout) as { vrrp: { interface: string; heard: { src: string; vrid: number; authenticated: boolean; count: number }[] } }).vrrp;
  assert.equal(heard.interface, 'eth0', 'the interface on the VIP\'s subnet, not the inventory\'s ens3 (B has none)');
  assert.deepEqual(heard.heard.map((h) => [h.src, h.vrid, h.authenticated]), [[a.ip, FOREIGN_VRID, true]], 'the v2 password is read, not printed');
  assert.doesNotMatch(clash.stdout, /"other"/);

  // The same as a table, for people.
  const text = await doctorIn(b, ['--inventory', inventory(bed.dir, FOREIGN_VRID), ...FAST]);
  for (const line of text.stdout.trimEnd().split('\n')) t.diagnostic(line);
  assert.match(text.stdout, new RegExp(`^FAIL\\s+${a.ip.replace(/\./g, '\\.')}\\s+vrrp-foreign-vrid-user\\s+`, 'm'));

  // Another VRID: no VRRP failure, and the foreign one listed for whoever picks the next id.
  const free = await doctorIn(b, ['--inventory', inventory(bed.dir, FOREIGN_VRID + 1), '--json', ...FAST]);
  const calm = vrrpFindings(free);
  assert.deepEqual(calm.filter((f) => f.verdict === 'fail'), [], JSON.stringify(calm, null, 2));
  const inUse = calm.find((f) => f.check === 'vrrp-vrids-in-use')!;
  assert.equal(inUse.verdict, 'ok');
  assert.equal(inUse.message, `other VRIDs in use on eth0: ${FOREIGN_VRID} (${a.ip}: VIP ${VIP}); ours is ${FOREIGN_VRID + 1}, the lowest free one 1`);
  t.diagnostic(`${inUse.verdict} ${inUse.check}: ${inUse.message}`);
  // B is no LB host and no LB host runs: nothing advertises our VRID here.
  assert.deepEqual(calm.filter((f) => f.check === 'vrrp-vrid').map((f) => f.verdict), ['warn']);

  // Without CAP_NET_RAW: a warning that says the check was skipped and why, not a crash.
  const unprivileged = await doctorIn(b, ['--inventory', inventory(bed.dir, FOREIGN_VRID), '--json', ...FAST], ['setpriv', '--bounding-set', '-net_raw', '--']);
  const skipped = vrrpFindings(unprivileged);
  assert.deepEqual(skipped.map((f) => `${f.verdict} ${f.check} ${f.target}`), ['warn vrrp-listen eth0'], unprivileged.stdout + unprivileged.stderr);
  assert.match(skipped[0]!.message, /^the VRRP check was skipped: socket\(AF_INET, SOCK_RAW, 112\): operation not permitted \(listening for adverts takes a raw socket, which needs root or CAP_NET_RAW\)/);
  t.diagnostic(`${skipped[0]!.verdict} ${skipped[0]!.check}: ${skipped[0]!.message}`);

  // --no-vrrp: not asked.
  const off = await doctorIn(b, ['--inventory', inventory(bed.dir, FOREIGN_VRID), '--json', '--no-vrrp', ...FAST]);
  assert.deepEqual(vrrpFindings(off).map((f) => `${f.verdict} ${f.check} ${f.message}`), ['skip vrrp-listen not asked (--no-vrrp)']);
});
