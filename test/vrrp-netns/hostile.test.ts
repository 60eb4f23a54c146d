// The VIP under a hostile or noisy segment: a kubeha master (200) and a kubeha backup (100), next to
// a keepalived backup (90) in the same bed, while another host sends low-priority adverts or
// equal-priority adverts from a lower address; and a flood of every malformed kind of packet. The
// real master must never change state and the kubeha backup must never leave BACKUP (keepalived,
// for comparison, is allowed to: its transitions are reported).
//
// The flood bed has no keepalived: with it there, this 2-core VM stopped one vCPU for 0.5-10 s at a
// time during the flood (a SCHED_FIFO probe pinned to that CPU stalled with everything else on it,
// the probe on the other CPU never did), so the master fell silent and both backups took over —
// the bed's failure, not a VRRP one. keepalived under the same flood is measured in
// bench/vrrp-flood.ts, where it is the backup of its own trials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createBed, nsFetchJson, nsFetchText, NS_ADMIN, startKeepalived, startKubeha, SUBNET, untilVrrp, VIP, vrrpSocketDrops, type Bed, type BedHost, type NsProcess, type VrrpSettings, type VrrpView } from '../support/netns.js';

const FLOOD = fileURLToPath(new URL('../support/vrrp-flood.js', import.meta.url));
/**
 * 1 s adverts (a master-down interval of 3.6 s): this 2-core VM now and then stops a thread for
 * 0.5-1 s under the flood (a CPU profile of the master showed one sample of 950 ms inside a
 * non-blocking recvfrom, keepalived moved with it), and at 100 ms that alone would look like a dead
 * master. What the tests prove does not depend on the interval: a stranger either moves a backup at
 * its first advert or never, and the kernel's drop counters show whether the flood pushed anything
 * out. The 100 ms figures are measured in bench/vrrp-flood.ts.
 */
const ADVERT_MS = 1000;

/** What these tests read of a VRRP instance, on top of the common view. */
interface HostileView extends VrrpView {
  adverts: VrrpView['adverts'] & { dropped: Record<string, number>; droppedBySource: { source: string; dropped: number; lastReason: string }[] };
  secondMaster: { events: number; last: { source: string; priority: number } | null };
}

const KEEPALIVED_STATE = /Entering (MASTER|BACKUP|FAULT) STATE/;

interface Pair {
  bed: Bed;
  stranger: BedHost;
  master: BedHost;
  backup: BedHost;
  /** Debian's keepalived as a second backup, when the bed has one. */
  keepalived: NsProcess | undefined;
}

/**
 * Stranger 192.0.2.1 (the lowest address), kubeha master .2 (200), kubeha backup .3 (100), and with
 * `keepalived` Debian's keepalived as a second backup .4 (90).
 */
async function hostileBed(t: Parameters<typeof createBed>[0], s: VrrpSettings, withKeepalived: boolean): Promise<Pair> {
  const bed = createBed(t, withKeepalived ? 4 : 3);
  const [stranger, master, backup, kaHost] = bed.hosts as [BedHost, BedHost, BedHost, BedHost | undefined];
  const km = startKubeha(bed, master, s, 200, {}, NS_ADMIN);
  await km.waitLine(/"to":"master"/);
  const kb = startKubeha(bed, backup, s, 100, {}, NS_ADMIN);
  await kb.waitLine(/"to":"backup"/);
  // Quiet: with -D keepalived logs every packet it discards, and that logging alone loads the bed.
  const keepalived = kaHost && startKeepalived(bed, kaHost, s, 90, { quiet: true });
  await keepalived?.waitLine(/Entering BACKUP STATE/, 10_000);
  // The backup follows the master once it has heard it: from then on it is in its steady state.
  await untilVrrp(backup, (v) => v.master?.address === master.ip && v.adverts.received >= 2, 'the backup following the master');
  return { bed, stranger, master, backup, keepalived };
}

/** Runs the flood tool in the stranger's namespace (lowest CPU priority) and resolves with its counts. */
async function flood(stranger: BedHost, vrid: number, rate: number, seconds: number, max: number, classes: string[], sources: string[] = [stranger.ip]) {
  const p = stranger.spawn('nice', ['-n', '19', process.execPath, FLOOD, 'eth0', String(vrid), String(rate), String(seconds), String(max), classes.join(','), sources.join(',')]);
  const done = await p.waitLine(/flood-done/, (seconds + 20) * 1000);
  return JSON.parse(done.line) as { sent: number; errors: number; ms: number; counts: Record<string, number> };
}

/**
 * Runs `during` and returns how the three routers moved meanwhile. The VRRP thread reports its
 * counters once a second (transitions at once), so the "after" snapshots are taken once each
 * kubeha has moved 2 more adverts past the end: they count (nearly) every packet of the flood.
 */
async function watch(t: { diagnostic(msg: string): void }, pair: Pair, during: () => Promise<unknown>) {
  const m0 = await untilVrrp<HostileView>(pair.master, () => true, 'the master\'s state');
  const b0 = await untilVrrp<HostileView>(pair.backup, () => true, 'the backup\'s state');
  const kaFrom = pair.keepalived?.lines.length ?? 0;
  const kernelDrops0 = vrrpSocketDrops(pair.backup);
  await during();
  const [mEnd, bEnd] = [await untilVrrp(pair.master, () => true, 'state'), await untilVrrp(pair.backup, () => true, 'state')];
  const m1 = await untilVrrp<HostileView>(pair.master, (v) => v.state !== 'master' || v.adverts.sent >= mEnd.adverts.sent + 2, 'the master\'s counters after the flood');
  const b1 = await untilVrrp<HostileView>(pair.backup, (v) => v.state !== 'backup' || v.adverts.received >= bEnd.adverts.received + 2, 'the backup\'s counters after the flood');
  const keepalivedTransitions = pair.keepalived?.lines.slice(kaFrom).filter((l) => KEEPALIVED_STATE.test(l.line)).length;
  for (const [who, host, v0, v1] of [['master', pair.master, m0, m1], ['backup', pair.backup, b0, b1]] as const) {
    if (v1.transitions !== v0.transitions) t.diagnostic(`the ${who} moved: last transition ${JSON.stringify(v1.lastTransition)}`);
    t.diagnostic(`${who} VRRP thread loop delay ${JSON.stringify((nsFetchJson(host, 'http://127.0.0.1:9000/api/v1/state') as { vrrpThread: unknown }).vrrpThread)}`);
  }
  return { m0, m1, b0, b1, keepalivedTransitions, kernelDrops0 };
}

test('hostile VRRP: a third host advertising priority 1 and 2 for the VRID moves neither the master nor the kubeha backup', async (t) => {
  const s: VrrpSettings = { version: 3, advertIntervalMs: ADVERT_MS, vrid: 101 };
  const pair = await hostileBed(t, s, true);
  const w = await watch(t, pair, () => flood(pair.stranger, s.vrid, 1000, 5, 5000, ['low_priority']));
  t.diagnostic(`backup transitions: kubeha ${w.b1.transitions - w.b0.transitions}, keepalived ${w.keepalivedTransitions}; second-master drops ${w.b1.adverts.dropped.second_master}`);
  assert.equal(w.m1.state, 'master');
  assert.equal(w.m1.transitions, w.m0.transitions, 'the master never changed state');
  assert.equal(w.b1.state, 'backup');
  assert.equal(w.b1.transitions, w.b0.transitions, 'the kubeha backup never left BACKUP');
  assert.ok(w.b1.transitions - w.b0.transitions <= w.keepalivedTransitions!);
  assert.equal(w.b1.master?.address, pair.master.ip, 'it still follows the real master');
  assert.ok((w.b1.adverts.dropped.second_master ?? 0) > 3000, 'the stranger\'s adverts are counted as dropped');
  assert.equal(w.b1.adverts.droppedBySource[0]?.source, pair.stranger.ip, 'and its address is named');
  assert.ok(w.b1.secondMaster.events >= 1);
  assert.equal(w.b1.secondMaster.last?.source, pair.stranger.ip);
  assert.match(nsFetchText(pair.backup, 'http://127.0.0.1:9000/metrics'), /kubeha_vrrp_second_master_events_total\{vrrp_instance="VI_1"\} [1-9]/);
});

test('hostile VRRP: an equal-priority stranger with a lower address is ignored', async (t) => {
  const s: VrrpSettings = { version: 3, advertIntervalMs: ADVERT_MS, vrid: 102 };
  const pair = await hostileBed(t, s, true);
  const w = await watch(t, pair, () => flood(pair.stranger, s.vrid, 500, 5, 2500, ['equal:100']));
  assert.equal(w.m1.transitions, w.m0.transitions, 'the master never changed state');
  assert.equal(w.b1.transitions, w.b0.transitions, 'the kubeha backup never left BACKUP');
  assert.ok(w.b1.transitions - w.b0.transitions <= w.keepalivedTransitions!);
  assert.equal(w.b1.master?.address, pair.master.ip);
  assert.ok((w.b1.adverts.dropped.second_master ?? 0) > 1500);
  assert.equal(w.b1.secondMaster.last?.priority, 100);
});

test('hostile VRRP: a flood of 100k malformed packets of every kind from spoofed sources (5k/s; 20k/s in bench/vrrp-flood.ts): no crash, no state change, drops counted by reason and sender', async (t) => {
  const s: VrrpSettings = { version: 3, advertIntervalMs: ADVERT_MS, vrid: 103 };
  const pair = await hostileBed(t, s, false);
  const classes = ['random', 'truncated', 'checksum', 'ttl', 'version', 'type', 'length', 'other_vrid', 'low_priority', 'zero'];
  const spoofed = [pair.stranger.ip, `${SUBNET}.50`, `${SUBNET}.51`, `${SUBNET}.52`];
  let result: Awaited<ReturnType<typeof flood>> | undefined;
  const w = await watch(t, pair, async () => (result = await flood(pair.stranger, s.vrid, 5000, 40, 100_000, classes, spoofed)));
  t.diagnostic(`flood: ${result!.sent} packets in ${result!.ms} ms (${result!.errors} send errors)`);
  t.diagnostic(`backup transitions: ${w.b1.transitions - w.b0.transitions}; longest advert gap ${w.b1.adverts.maxGapMs.toFixed(1)} ms (before the flood ${w.b0.adverts.maxGapMs.toFixed(1)})`);
  t.diagnostic(`dropped: ${JSON.stringify(w.b1.adverts.dropped)}`);
  assert.ok(result!.sent >= 100_000);
  assert.equal(w.m1.state, 'master');
  assert.equal(w.m1.transitions, w.m0.transitions, 'the master never changed state');
  assert.equal(w.b1.state, 'backup');
  assert.equal(w.b1.transitions, w.b0.transitions, 'the kubeha backup never left BACKUP');
  assert.ok(w.b1.adverts.received > w.b0.adverts.received, 'it kept hearing the master');
  for (const reason of ['truncated', 'checksum', 'ttl', 'version', 'type', 'length', 'second_master']) {
    assert.ok((w.b1.adverts.dropped[reason] ?? 0) > 0, `drops counted as ${reason}`);
  }
  const named = w.b1.adverts.droppedBySource.map((d) => d.source);
  for (const source of spoofed) assert.ok(named.includes(source), `sender ${source} named among ${named.join(', ')}`);
  // Nothing pushed out of the receive buffer, the master's adverts included (the kernel's own count:
  // timing-free). How far below 1.5 intervals the longest gap stays is measured in bench/vrrp-flood.ts.
  assert.equal(vrrpSocketDrops(pair.backup) - w.kernelDrops0, 0, 'no packet dropped by the backup\'s kernel for a full buffer');
  assert.ok(pair.master.hasAddress(VIP) && !pair.backup.hasAddress(VIP), 'the VIP stayed on the master');
});
