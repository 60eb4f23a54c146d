// Tracking, duplicate-VIP detection and missing capabilities, on real interfaces in namespaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createBed, nsFetchJson, nsFetchText, startKubeha, until, VIP, type VrrpSettings } from '../support/netns.js';
import { KUBEHA_BIN } from '../support/processes.js';

const ECHO_LOAD = fileURLToPath(new URL('../support/echo-load.js', import.meta.url));
const ARP_CLAIM = fileURLToPath(new URL('../support/arp-claim.js', import.meta.url));
const V3: VrrpSettings = { version: 3, advertIntervalMs: 100, vrid: 91 };

test('track.backends: the master whose backend servers all die releases the VIP (check_haproxy.sh, in process)', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const echo = a.spawn(process.execPath, [ECHO_LOAD, 'echo', '7101']);
  await echo.waitLine(/7101/);
  const proxy = {
    frontends: [{ name: 'fe', bind: '127.0.0.1:7000', backend: 'be' }],
    backends: [{ name: 'be', healthCheck: { type: 'tcp', interval: '100ms', timeout: '200ms', rise: 1, fall: 2 }, servers: [{ name: 's1', address: '127.0.0.1:7101' }] }],
  };
  const ka = startKubeha(bed, a, V3, 150, { track: { backends: ['be'] } }, proxy);
  await ka.waitLine(/"to":"master"/);
  const kb = startKubeha(bed, b, V3, 100);
  await kb.waitLine(/"to":"backup"/);
  assert.match(ka.lines.map((l) => l.line).join('\n'), /INITIALIZE → FAULT \(at start-up: backend be: waiting for its first passed check\)/, 'no VIP before the first passed check');
  const killedAt = Date.now();
  const beforeKill = ka.lines.length;
  echo.child.kill('SIGKILL');
  const fault = await ka.waitLine(/"to":"fault"/, 5000, beforeKill);
  assert.match(fault.line, /backend be down/);
  const took = await kb.waitLine(/"to":"master"/, 2000);
  assert.ok(await until(() => b.hasAddress(VIP) && !a.hasAddress(VIP), 1000));
  t.diagnostic(`backend killed → VIP on the backup: ${took.atMs - killedAt} ms (fall 2 × 100 ms checks + skew)`);
  assert.ok(took.atMs - killedAt < 1500);
  // The backend comes back: a leaves FAULT and preempts.
  const seen = ka.lines.length;
  const echo2 = a.spawn(process.execPath, [ECHO_LOAD, 'echo', '7101']);
  await echo2.waitLine(/7101/);
  await ka.waitLine(/"from":"backup","to":"master"/, 5000, seen);
  assert.ok(await until(() => a.hasAddress(VIP) && !b.hasAddress(VIP), 1000));
});

test('duplicate VIP: a host that ARPs for the VIP is detected; stepDown releases it and holds it off', async (t) => {
  const bed = createBed(t, 2);
  const [a, intruder] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  // A hold far longer than the test: every check below sees the node in its hold, however slow the
  // machine. That the node competes again when the hold is over is shown on a fake clock
  // (test/vrrp/vrrp-instance.test.ts, "back after the hold time").
  const ka = startKubeha(bed, a, V3, 150, { duplicateVip: { policy: 'stepDown', holdTime: '10m' } }, { admin: { bind: '127.0.0.1:9000' } });
  await ka.waitLine(/"to":"master"/);
  assert.ok(await until(() => a.hasAddress(VIP), 1000));
  const claim = intruder.spawn(process.execPath, [ARP_CLAIM, 'eth0', VIP]);
  await claim.waitLine(/claimed/);
  const dup = await ka.waitLine(/vrrp-duplicate-vip/, 2000);
  assert.match(dup.line, /claims 192\.0\.2\.200/);
  const fault = ka.lines.length;
  await ka.waitLine(/"to":"fault"/, 1000);
  assert.ok(await until(() => !a.hasAddress(VIP), 1000), 'stepped down: the VIP is released');
  const state = nsFetchJson(a, 'http://127.0.0.1:9000/api/v1/state') as { vrrp: { duplicateVip: { events: number; last: { kind: string } } }[] };
  assert.equal(state.vrrp[0]!.duplicateVip.events, 1);
  assert.equal(state.vrrp[0]!.duplicateVip.last.kind, 'arp');
  const metrics = nsFetchText(a, 'http://127.0.0.1:9000/metrics');
  assert.match(metrics, /kubeha_vrrp_duplicate_vip_events_total\{vrrp_instance="VI_1"\} 1/);
  // `kubeha status` on the node: the fault is a problem (exit 1), with the duplicate named.
  const status = spawnSync('ip', ['netns', 'exec', a.ns, process.execPath, KUBEHA_BIN, 'status', '--admin', '127.0.0.1:9000'], { encoding: 'utf8' });
  assert.equal(status.status, 1, status.stdout + status.stderr);
  assert.match(status.stdout, /^VI_1\s+eth0\s+91\s+v3\s+FAULT\s/m);
  assert.match(status.stdout, /PROBLEMS\n  vrrp VI_1 is in FAULT: /);
  assert.match(status.stdout, /duplicate VIP seen \(arp: /);
  assert.match(status.stdout, /stepped down: duplicate VIP/);
  assert.ok(!a.hasAddress(VIP), 'still released: the hold is not over');
  assert.ok(!ka.lines.slice(fault).some((l) => /"to":"master"/.test(l.line)), 'and the node did not compete meanwhile');
});

test('without CAP_NET_RAW and CAP_NET_ADMIN the daemon refuses to start and says what to grant', async (t) => {
  const bed = createBed(t, 1);
  const [a] = bed.hosts as [typeof bed.hosts[0]];
  const cfg = `${bed.dir}/nocap.yaml`;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(cfg, JSON.stringify({ vrrp: { instances: [{ name: 'VI_1', interface: 'eth0', virtualRouterId: 5, vips: [`${VIP}/24`] }] } }));
  const p = a.spawn('setpriv', ['--bounding-set', '-net_raw,-net_admin', '--inh-caps', '-net_raw,-net_admin', '--', process.execPath, KUBEHA_BIN, 'run', '--config', cfg]);
  assert.equal(await p.exited, 1);
  assert.match(p.output(), /KUBEHA_ERR_VRRP_PERMISSION/);
  assert.match(p.output(), /CAP_NET_RAW/);
  assert.ok(!a.hasAddress(VIP));
});

test('a frontend bound to the VIP listens as soon as the node becomes master, not at its next bind retry', async (t) => {
  const bed = createBed(t, 1);
  const [a] = bed.hosts as [typeof bed.hosts[0]];
  const echo = a.spawn(process.execPath, [ECHO_LOAD, 'echo', '7101']);
  await echo.waitLine(/7101/);
  const proxy = {
    frontends: [{ name: 'vip', bind: `${VIP}:7443`, backend: 'be', bindRetryInterval: '10s' }],
    backends: [{ name: 'be', servers: [{ name: 's1', address: '127.0.0.1:7101' }] }],
  };
  const ka = startKubeha(bed, a, V3, 150, {}, proxy);
  await ka.waitLine(/EADDRNOTAVAIL/);
  const master = await ka.waitLine(/"to":"master"/);
  const listening = await ka.waitLine(/"event":"listening"/, 3000);
  t.diagnostic(`listening on the VIP ${listening.atMs - master.atMs} ms after becoming master (bind retry interval 10 s)`);
  assert.ok(listening.atMs - master.atMs < 1000);
});
