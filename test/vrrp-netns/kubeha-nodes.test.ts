// kubeha nodes in network namespaces on a bridge: real raw sockets, real addresses, real ARP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createBed, startKubeha, until, VIP, watchAddresses, type VrrpSettings } from '../support/netns.js';
import { KUBEHA_BIN } from '../support/processes.js';

const V3: VrrpSettings = { version: 3, advertIntervalMs: 100, vrid: 51 };
const masterLine = /"to":"master"/;

test('two kubeha nodes: one master holds the VIP; SIGTERM hands over within skew time, SIGKILL within the master down interval', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const ka = startKubeha(bed, a, V3, 150);
  await ka.waitLine(masterLine);
  const kb = startKubeha(bed, b, V3, 100);
  await kb.waitLine(/"to":"backup"/);
  assert.ok(a.hasAddress(VIP), 'the master holds the VIP');
  assert.ok(!b.hasAddress(VIP));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(!kb.lines.some((l) => masterLine.test(l.line)), 'the backup stays backup while adverts arrive');

  const monB = watchAddresses(b);
  await new Promise((r) => setTimeout(r, 200));
  const killedAt = Date.now();
  ka.child.kill('SIGTERM');
  const added = await monB.waitLine(new RegExp(`inet ${VIP.replace(/\./g, '\\.')}/`), 5000);
  const handover = added.atMs - killedAt;
  t.diagnostic(`SIGTERM → VIP on the backup: ${handover} ms`);
  assert.ok(handover < 300, `handover took ${handover} ms`);
  await ka.exited;
  assert.ok(!a.hasAddress(VIP), 'the stopped master released the VIP');

  // b is now master; a comes back with the higher priority and preempts; then SIGKILL it.
  const ka2 = startKubeha(bed, a, V3, 150);
  await ka2.waitLine(masterLine);
  assert.ok(await until(() => !b.hasAddress(VIP), 2000), 'b released the VIP to the preempting a');
  const before = monB.lines.length;
  const killed2 = Date.now();
  ka2.child.kill('SIGKILL');
  assert.ok(await until(() => monB.lines.slice(before).some((l) => l.line.includes(`inet ${VIP}/`) && !l.line.startsWith('Deleted')), 3000));
  const taken = monB.lines.slice(before).find((l) => l.line.includes(`inet ${VIP}/`) && !l.line.startsWith('Deleted'))!;
  t.diagnostic(`SIGKILL → VIP on the backup: ${taken.atMs - killed2} ms`);
  // RFC 5798: Master_Down_Interval = 3 × advert + skew, skew = (256 − priority) × advert / 256. The
  // ≤ 500 ms target is the benchmark's (bench/failover); here the bound is the interval plus slack
  // for a loaded CI machine, which still fails on a takeover driven by anything but the down timer.
  const masterDownMs = 3 * 100 + ((256 - 100) * 100) / 256;
  assert.ok(taken.atMs - killed2 <= masterDownMs + 250, `crash takeover took ${taken.atMs - killed2} ms (master down interval ${masterDownMs} ms)`);
  // A SIGKILLed node leaves its VIP behind (nothing ran to remove it); the next start removes it
  // before it competes, so the node never answers for a VIP it does not hold.
  assert.ok(a.hasAddress(VIP), 'the killed node still has the stale VIP');
  const ka3 = startKubeha(bed, a, V3, 50);
  await ka3.waitLine(/vrrp-stale-vip/);
  await ka3.waitLine(/"to":"backup"/);
  assert.ok(!a.hasAddress(VIP), 'removed at start-up');
  assert.ok(b.hasAddress(VIP));
});

test('three kubeha nodes elect the highest priority; the next one takes over when it stops', async (t) => {
  const bed = createBed(t, 3);
  const [a, b, c] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0], typeof bed.hosts[0]];
  // The lowest starts last: started first, it would be master until the others' processes are up.
  const procs = [undefined, startKubeha(bed, b, V3, 200), startKubeha(bed, c, V3, 150)];
  await procs[1]!.waitLine(masterLine);
  procs[0] = startKubeha(bed, a, V3, 100);
  await procs[0].waitLine(/"to":"backup"/);
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual([a, b, c].map((h) => h.hasAddress(VIP)), [false, true, false]);
  const seen = procs[2]!.lines.length;
  procs[1]!.child.kill('SIGTERM');
  await procs[2]!.waitLine(masterLine, 3000, seen);
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual([a, b, c].map((h) => h.hasAddress(VIP)), [false, false, true]);
  assert.ok(!procs[0]!.lines.some((l) => masterLine.test(l.line)), 'the lowest never became master');
});

test('partition and heal: two masters while cut off, exactly one master after the heal', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const ka = startKubeha(bed, a, V3, 150);
  const kb = startKubeha(bed, b, V3, 100);
  await ka.waitLine(masterLine);
  await kb.waitLine(/"to":"backup"/);
  const monA = watchAddresses(a);
  const monB = watchAddresses(b);
  await new Promise((r) => setTimeout(r, 300));
  bed.plug(0, false);
  await kb.waitLine(masterLine, 3000);
  assert.ok(await until(() => a.hasAddress(VIP) && b.hasAddress(VIP), 1000), 'both hold the VIP while partitioned (each alone on its side)');
  const healedAt = Date.now();
  bed.plug(0, true);
  // The monitor's line, not a poll of the address: it carries the time the kernel reported the removal.
  const released = await monB.waitLine(new RegExp(`^Deleted.* inet ${VIP.replace(/\./g, '\\.')}/`), 3000);
  const twoMasterMs = released.atMs - healedAt;
  t.diagnostic(`two masters for ${twoMasterMs} ms after the heal`);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual([a.hasAddress(VIP), b.hasAddress(VIP)], [true, false], 'exactly one master after the heal');
  assert.ok(twoMasterMs < 400, `two masters for ${twoMasterMs} ms after the heal`);
  assert.ok(!monA.lines.some((l) => l.line.startsWith('Deleted')), 'the higher priority kept the VIP throughout');
});

test('maintenance: `kubeha maintenance on` moves the VIP to the peer at once and keeps it there; `off` brings the node back', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const admin = { admin: { bind: '127.0.0.1:9000' } };
  const ka = startKubeha(bed, a, V3, 150, {}, admin);
  const kb = startKubeha(bed, b, V3, 100, {}, admin);
  await ka.waitLine(masterLine);
  await kb.waitLine(/"to":"backup"/);
  const cli = (...args: string[]) => spawnSync('ip', ['netns', 'exec', a.ns, process.execPath, KUBEHA_BIN, ...args, '--admin', '127.0.0.1:9000'], { encoding: 'utf8' });

  const seen = kb.lines.length;
  const asked = Date.now();
  const on = cli('maintenance', 'on');
  assert.equal(on.status, 0, on.stderr);
  assert.equal(on.stdout, 'VI_1: maintenance on; it was MASTER: the VIP moves to a peer now\n');
  const took = await kb.waitLine(masterLine, 2000, seen);
  assert.ok(await until(() => b.hasAddress(VIP) && !a.hasAddress(VIP), 1000));
  t.diagnostic(`maintenance on → VIP on the peer ${took.atMs - asked} ms after the command started (node start-up included)`);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual([a.hasAddress(VIP), b.hasAddress(VIP)], [false, true], 'it stays out');
  const status = cli('status');
  assert.equal(status.status, 0, 'maintenance is a warning, not a problem');
  assert.match(status.stdout, /VI_1 is in maintenance, out of the election/);

  const off = cli('maintenance', 'off');
  assert.equal(off.status, 0, off.stderr);
  assert.ok(await until(() => a.hasAddress(VIP) && !b.hasAddress(VIP), 2000), 'the higher priority preempts back');
});
