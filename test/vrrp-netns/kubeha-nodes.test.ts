// kubeha nodes in network namespaces on a bridge: real raw sockets, real addresses, real ARP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createBed, NS_ADMIN, startKubeha, until, untilVrrp, VIP, watchAddresses, type BedHost, type VrrpSettings } from '../support/netns.js';
import { KUBEHA_BIN } from '../support/processes.js';

const V3: VrrpSettings = { version: 3, advertIntervalMs: 100, vrid: 51 };
const masterLine = /"to":"master"/;

/**
 * Adverts a backup must accept while it stays backup, counted from a moment it was already backup:
 * the 5th comes 4 intervals after the 1st, past the master down interval (3 × 100 ms + skew), so a
 * backup whose timer the adverts did not reset would show MASTER in that same snapshot.
 */
const STAY_ADVERTS = 5;

/** Waits until the kubeha in `host` has accepted `n` adverts more than `from`; resolves with that snapshot. */
const heard = (host: BedHost, from: number, n = STAY_ADVERTS) =>
  untilVrrp(host, (v) => v.adverts.received >= from + n, `${n} adverts accepted after ${from}`);

test('two kubeha nodes: one master holds the VIP; SIGTERM hands over within skew time, SIGKILL within the master down interval', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const ka = startKubeha(bed, a, V3, 150, {}, NS_ADMIN);
  await ka.waitLine(masterLine);
  const kb = startKubeha(bed, b, V3, 100, {}, NS_ADMIN);
  await kb.waitLine(/"to":"backup"/);
  assert.ok(a.hasAddress(VIP), 'the master holds the VIP');
  assert.ok(!b.hasAddress(VIP));
  const stayed = await heard(b, 0);
  assert.deepEqual([stayed.state, stayed.transitions], ['backup', 1], 'the backup stays backup while adverts arrive');
  assert.ok(!kb.lines.some((l) => masterLine.test(l.line)), 'the backup stays backup while adverts arrive');

  const monB = await watchAddresses(b);
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
  // figure itself (~300 ms, ≤ 500 ms target) is measured in bench/failover (docs/benchmarks.md);
  // here the bound is a sanity bound with room for a loaded 2-core CI machine running two test files
  // (interval + 250 ms was within 2× of what such a machine takes), which still fails on a down timer
  // counted in the wrong unit or from the wrong interval (seconds: 3.6 s).
  const masterDownMs = 3 * 100 + ((256 - 100) * 100) / 256;
  assert.ok(taken.atMs - killed2 <= masterDownMs + 1000, `crash takeover took ${taken.atMs - killed2} ms (master down interval ${masterDownMs} ms)`);
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
  // After b's priority 0 both backups wait their skew time, (256 − priority) × 100 ms / 256: the
  // priorities keep c's (6 ms) and a's (96 ms) far apart, so a hears c's first advert long before
  // its own timer (150 and 100 left 20 ms, less than a busy 2-core machine can delay a thread).
  const procs = [undefined, startKubeha(bed, b, V3, 250), startKubeha(bed, c, V3, 240)];
  await procs[1]!.waitLine(masterLine);
  procs[0] = startKubeha(bed, a, V3, 10, {}, NS_ADMIN);
  await procs[0].waitLine(/"to":"backup"/);
  const vipsAt = () => [a, b, c].map((h) => h.hasAddress(VIP)).join();
  assert.ok(await until(() => vipsAt() === 'false,true,false', 2000), `only b holds the VIP: ${vipsAt()}`);
  const seen = procs[2]!.lines.length;
  procs[1]!.child.kill('SIGTERM');
  await procs[2]!.waitLine(masterLine, 3000, seen);
  assert.ok(await until(() => vipsAt() === 'false,false,true', 2000), `only c holds the VIP: ${vipsAt()}`);
  // a follows c, for several adverts, and its state has never left BACKUP (one transition: start-up).
  const following = await untilVrrp(a, (v) => v.master?.address === c.ip, 'a following c');
  const followed = await heard(a, following.adverts.received);
  assert.deepEqual([followed.state, followed.transitions], ['backup', 1], 'the lowest never became master');
  assert.ok(!procs[0]!.lines.some((l) => masterLine.test(l.line)), 'the lowest never became master');
});

test('restart without a gap: SIGUSR2 hands the master\'s VRRP state and sockets to a successor, five times; the VIP never moves', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const ka = startKubeha(bed, a, V3, 150, {}, NS_ADMIN);
  await ka.waitLine(masterLine);
  const kb = startKubeha(bed, b, V3, 100, {}, NS_ADMIN); // after a is master: no start-up race to muddle what follows
  await kb.waitLine(/"to":"backup"/);
  const monA = await watchAddresses(a);
  const monB = await watchAddresses(b);
  let pid = ka.child.pid!;
  const alive = new Set([pid]);
  t.after(() => {
    for (const p of alive) {
      try {
        process.kill(p, 'SIGKILL'); // successors are not the bed's children
      } catch {
        // gone already
      }
    }
  });
  for (let i = 0; i < 5; i++) {
    const since = ka.lines.length;
    process.kill(pid, 'SIGUSR2');
    const done = JSON.parse((await ka.waitLine(/"event":"handover-complete"/, 15_000, since)).line) as { pid: number; masters: string[] };
    assert.deepEqual(done.masters, ['VI_1'], 'the successor started as master');
    const old = pid;
    pid = done.pid;
    alive.add(pid);
    await ka.waitLine(new RegExp(`"pid":${old},.*"event":"stopped"`), 15_000, since);
    alive.delete(old);
  }
  const backup = await heard(b, 0);
  assert.equal(backup.state, 'backup');
  t.diagnostic(`longest gap between adverts the backup saw across 5 handovers: ${backup.adverts.maxGapMs} ms (adverts every 100 ms)`);
  assert.ok(!kb.lines.some((l) => masterLine.test(l.line)), `the backup never took over: ${[...kb.lines.filter((l) => masterLine.test(l.line)), ...ka.lines.filter((l) => /handover|vrrp-state/.test(l.line))].map((l) => `${l.atMs} ${l.line.slice(0, 200)}`).join('\n')}`);
  assert.ok(!monA.lines.some((l) => l.line.startsWith('Deleted')), 'the VIP never left the master');
  assert.ok(!monB.lines.some((l) => l.line.includes(`inet ${VIP}/`)), 'nor came to the backup');
  const master = await untilVrrp(a, (v) => v.state === 'master', 'the last successor is master (on the inherited admin socket)');
  assert.equal(master.state, 'master');
});

test('a master paused (SIGSTOP) until its backup took over yields on resume instead of taking the VIP straight back; it preempts after the hold-down', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const ka = startKubeha(bed, a, V3, 150, {}, NS_ADMIN);
  await ka.waitLine(masterLine);
  const kb = startKubeha(bed, b, V3, 100, {}, NS_ADMIN);
  await kb.waitLine(/"to":"backup"/);
  const monA = await watchAddresses(a);
  const sinceB = kb.lines.length;
  ka.child.kill('SIGSTOP'); // a VM stun, as long as it takes the backup to take over
  try {
    await kb.waitLine(masterLine, 5000, sinceB);
  } finally {
    ka.child.kill('SIGCONT');
  }
  const resumed = Date.now();
  const resumedIndex = ka.lines.length; // lines a wrote while stopped arrive after this
  const yielded = await ka.waitLine(/"to":"backup".*silent for \d+ ms \(paused\?\)/, 5000, resumedIndex);
  t.diagnostic(`resumed → yielded in ${yielded.atMs - resumed} ms: ${JSON.parse(yielded.line).reason}`);
  const following = await heard(a, (await untilVrrp(a, () => true, 'a state')).adverts.received);
  assert.equal(following.state, 'backup', 'a follows b through the hold-down');
  assert.deepEqual([a.hasAddress(VIP), b.hasAddress(VIP)], [false, true]);
  assert.ok(!kb.lines.slice(sinceB).some((l) => /"to":"backup"/.test(l.line)), 'b never yielded back: the VIP moved once');
  const back = await ka.waitLine(/"to":"master".*preempt/, 20_000, resumedIndex);
  t.diagnostic(`preempted back ${back.atMs - resumed} ms after resuming (hold-down ${10_000} ms)`);
  assert.ok(back.atMs - resumed >= 9000, 'not before the hold-down');
  assert.ok(await until(() => a.hasAddress(VIP) && !b.hasAddress(VIP), 2000), 'the VIP is back on a, and only there');
  // the monitor saw a give the VIP up at the yield and take it back at the preempt
  await monA.waitLine(new RegExp(`^\\d+: eth0\\s+inet ${VIP.replace(/\./g, '\\.')}/`), 5000);
  assert.ok(monA.lines.some((l) => l.line.startsWith('Deleted') && l.line.includes(`inet ${VIP}/`)), 'a released the VIP when it yielded');
});

test('partition and heal: two masters while cut off, exactly one master after the heal', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const ka = startKubeha(bed, a, V3, 150);
  const kb = startKubeha(bed, b, V3, 100, {}, NS_ADMIN);
  await ka.waitLine(masterLine);
  await kb.waitLine(/"to":"backup"/);
  const monA = await watchAddresses(a);
  const monB = await watchAddresses(b);
  bed.plug(0, false);
  await kb.waitLine(masterLine, 3000);
  assert.ok(await until(() => a.hasAddress(VIP) && b.hasAddress(VIP), 1000), 'both hold the VIP while partitioned (each alone on its side)');
  const cutOff = await untilVrrp(b, (v) => v.state === 'master', 'b master while cut off');
  const healedAt = Date.now();
  bed.plug(0, true);
  // The monitor's line, not a poll of the address: it carries the time the kernel reported the removal.
  const released = await monB.waitLine(new RegExp(`^Deleted.* inet ${VIP.replace(/\./g, '\\.')}/`), 3000);
  const twoMasterMs = released.atMs - healedAt;
  t.diagnostic(`two masters for ${twoMasterMs} ms after the heal`);
  // b follows a again for several adverts: it stays backup and the VIP stays on a.
  const following = await heard(b, cutOff.adverts.received);
  assert.equal(following.state, 'backup', 'exactly one master after the heal');
  assert.deepEqual([a.hasAddress(VIP), b.hasAddress(VIP)], [true, false], 'exactly one master after the heal');
  assert.ok(twoMasterMs < 400, `two masters for ${twoMasterMs} ms after the heal`);
  assert.ok(!monA.lines.some((l) => l.line.startsWith('Deleted')), 'the higher priority kept the VIP throughout');
});

test('maintenance: `kubeha maintenance on` moves the VIP to the peer at once and keeps it there, across a restart; `off` brings the node back', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const withState = { ...NS_ADMIN, global: { shutdownGrace: '0s', stateDir: join(bed.dir, 'state-a') } };
  const ka = startKubeha(bed, a, V3, 150, {}, withState);
  const kb = startKubeha(bed, b, V3, 100, {}, NS_ADMIN);
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
  // a hears b's adverts for several intervals and stays out (in FAULT: maintenance).
  const out = await untilVrrp(a, (v) => v.state !== 'master', 'a out of the election');
  const stillOut = await heard(a, out.adverts.received);
  assert.equal(stillOut.state, 'fault', 'it stays out');
  assert.deepEqual([a.hasAddress(VIP), b.hasAddress(VIP)], [false, true], 'it stays out');
  const status = cli('status');
  assert.equal(status.status, 0, 'maintenance is a warning, not a problem');
  assert.match(status.stdout, /VI_1 is in maintenance, out of the election/);

  // "maintenance on, patch, reboot": the restarted node comes up still out of the election
  ka.child.kill('SIGTERM');
  await ka.exited;
  const again = startKubeha(bed, a, V3, 150, {}, withState);
  await again.waitLine(/"event":"maintenance-restored".*"VI_1"/);
  const restarted = await untilVrrp(a, (v) => v.state === 'fault', 'a restarted in maintenance');
  await heard(a, restarted.adverts.received);
  assert.deepEqual([a.hasAddress(VIP), b.hasAddress(VIP)], [false, true], 'the restarted node does not take the VIP back');

  const off = cli('maintenance', 'off');
  assert.equal(off.status, 0, off.stderr);
  assert.ok(await until(() => a.hasAddress(VIP) && !b.hasAddress(VIP), 2000), 'the higher priority preempts back');
});
