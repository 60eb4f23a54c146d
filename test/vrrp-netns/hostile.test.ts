// The VIP under a hostile or noisy segment, kubeha next to Debian's keepalived in one bed: a kubeha
// master (200), a kubeha backup (100) and a keepalived backup (90), while a fourth host sends
// low-priority adverts, equal-priority adverts from a lower address, or a flood of every malformed
// kind of packet. The real master must never change state and the kubeha backup must never leave
// BACKUP (keepalived, for comparison, is allowed to: its transitions are reported).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createBed, nsFetchJson, nsFetchText, startKeepalived, startKubeha, SUBNET, VIP, type Bed, type BedHost, type NsProcess, type VrrpSettings } from '../support/netns.js';

const FLOOD = fileURLToPath(new URL('../support/vrrp-flood.js', import.meta.url));
const ADMIN = { admin: { bind: '127.0.0.1:9000' } };

interface VrrpView {
  state: string;
  transitions: number;
  master: { address: string; priority: number } | null;
  adverts: { received: number; dropped: Record<string, number>; maxGapMs: number; droppedBySource: { source: string; dropped: number; lastReason: string }[] };
  secondMaster: { events: number; last: { source: string; priority: number } | null };
}

const vrrpOf = (h: BedHost) => (nsFetchJson(h, 'http://127.0.0.1:9000/api/v1/state') as unknown as { vrrp: VrrpView[] }).vrrp[0]!;
const KEEPALIVED_STATE = /Entering (MASTER|BACKUP|FAULT) STATE/;

interface Pair {
  bed: Bed;
  stranger: BedHost;
  master: BedHost;
  backup: BedHost;
  keepalived: NsProcess;
}

/** Stranger 192.0.2.1 (the lowest address), kubeha master .2 (200), kubeha backup .3 (100), keepalived backup .4 (90). */
async function hostileBed(t: Parameters<typeof createBed>[0], s: VrrpSettings): Promise<Pair> {
  const bed = createBed(t, 4);
  const [stranger, master, backup, kaHost] = bed.hosts as [BedHost, BedHost, BedHost, BedHost];
  const km = startKubeha(bed, master, s, 200, {}, ADMIN);
  await km.waitLine(/"to":"master"/);
  const kb = startKubeha(bed, backup, s, 100, {}, ADMIN);
  await kb.waitLine(/"to":"backup"/);
  const keepalived = startKeepalived(bed, kaHost, s, 90);
  await keepalived.waitLine(/Entering BACKUP STATE/, 10_000);
  // The backup follows the master once it has heard it: from then on it is in its steady state.
  await until(() => vrrpOf(backup).master?.address === master.ip);
  return { bed, stranger, master, backup, keepalived };
}

/** Polls (at most 10 s) until `pred` holds, each poll being one state fetch. */
async function until(pred: () => boolean): Promise<void> {
  for (const end = Date.now() + 10_000; Date.now() < end;) {
    if (pred()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail('condition not met in 10 s');
}

/** Runs the flood tool in the stranger's namespace (lowest CPU priority) and resolves with its counts. */
async function flood(stranger: BedHost, vrid: number, rate: number, seconds: number, max: number, classes: string[], sources: string[] = [stranger.ip]) {
  const p = stranger.spawn('nice', ['-n', '19', process.execPath, FLOOD, 'eth0', String(vrid), String(rate), String(seconds), String(max), classes.join(','), sources.join(',')]);
  const done = await p.waitLine(/flood-done/, (seconds + 20) * 1000);
  return JSON.parse(done.line) as { sent: number; errors: number; ms: number; counts: Record<string, number> };
}

/** Runs `during` and returns how the three routers moved meanwhile. */
async function watch(pair: Pair, during: () => Promise<unknown>) {
  const [m0, b0] = [vrrpOf(pair.master), vrrpOf(pair.backup)];
  const kaFrom = pair.keepalived.lines.length;
  await during();
  const [m1, b1] = [vrrpOf(pair.master), vrrpOf(pair.backup)];
  const keepalivedTransitions = pair.keepalived.lines.slice(kaFrom).filter((l) => KEEPALIVED_STATE.test(l.line)).length;
  return { m0, m1, b0, b1, keepalivedTransitions };
}

test('hostile VRRP: a third host advertising priority 1 and 2 for the VRID moves neither the master nor the kubeha backup', async (t) => {
  const s: VrrpSettings = { version: 3, advertIntervalMs: 100, vrid: 101 };
  const pair = await hostileBed(t, s);
  const w = await watch(pair, () => flood(pair.stranger, s.vrid, 1000, 3, 3000, ['low_priority']));
  t.diagnostic(`backup transitions: kubeha ${w.b1.transitions - w.b0.transitions}, keepalived ${w.keepalivedTransitions}; second-master drops ${w.b1.adverts.dropped.second_master}`);
  assert.equal(w.m1.state, 'master');
  assert.equal(w.m1.transitions, w.m0.transitions, 'the master never changed state');
  assert.equal(w.b1.state, 'backup');
  assert.equal(w.b1.transitions, w.b0.transitions, 'the kubeha backup never left BACKUP');
  assert.ok(w.b1.transitions - w.b0.transitions <= w.keepalivedTransitions);
  assert.equal(w.b1.master?.address, pair.master.ip, 'it still follows the real master');
  assert.ok((w.b1.adverts.dropped.second_master ?? 0) > 1000, 'the stranger\'s adverts are counted as dropped');
  assert.equal(w.b1.adverts.droppedBySource[0]?.source, pair.stranger.ip, 'and its address is named');
  assert.ok(w.b1.secondMaster.events >= 1);
  assert.equal(w.b1.secondMaster.last?.source, pair.stranger.ip);
  assert.match(nsFetchText(pair.backup, 'http://127.0.0.1:9000/metrics'), /kubeha_vrrp_second_master_events_total\{vrrp_instance="VI_1"\} [1-9]/);
});

test('hostile VRRP: an equal-priority stranger with a lower address is ignored', async (t) => {
  const s: VrrpSettings = { version: 3, advertIntervalMs: 100, vrid: 102 };
  const pair = await hostileBed(t, s);
  const w = await watch(pair, () => flood(pair.stranger, s.vrid, 500, 2, 1000, ['equal:100']));
  assert.equal(w.m1.transitions, w.m0.transitions, 'the master never changed state');
  assert.equal(w.b1.transitions, w.b0.transitions, 'the kubeha backup never left BACKUP');
  assert.ok(w.b1.transitions - w.b0.transitions <= w.keepalivedTransitions);
  assert.equal(w.b1.master?.address, pair.master.ip);
  assert.ok((w.b1.adverts.dropped.second_master ?? 0) > 500);
  assert.equal(w.b1.secondMaster.last?.priority, 100);
});

test('hostile VRRP: a flood of 100k malformed packets of every kind from spoofed sources: no crash, no state change, drops counted by reason and sender', async (t) => {
  const s: VrrpSettings = { version: 3, advertIntervalMs: 100, vrid: 103 };
  const pair = await hostileBed(t, s);
  const classes = ['random', 'truncated', 'checksum', 'ttl', 'version', 'type', 'length', 'other_vrid', 'low_priority', 'zero'];
  const spoofed = [pair.stranger.ip, `${SUBNET}.50`, `${SUBNET}.51`, `${SUBNET}.52`];
  let result: Awaited<ReturnType<typeof flood>> | undefined;
  const w = await watch(pair, async () => (result = await flood(pair.stranger, s.vrid, 20_000, 15, 100_000, classes, spoofed)));
  t.diagnostic(`flood: ${result!.sent} packets in ${result!.ms} ms (${result!.errors} send errors)`);
  t.diagnostic(`backup transitions: kubeha ${w.b1.transitions - w.b0.transitions}, keepalived ${w.keepalivedTransitions}; longest advert gap ${w.b1.adverts.maxGapMs.toFixed(1)} ms (before the flood ${w.b0.adverts.maxGapMs.toFixed(1)})`);
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
  assert.deepEqual(w.b1.adverts.droppedBySource.map((d) => d.source).sort(), [...spoofed].sort(), 'every sender named');
  assert.ok(w.b1.transitions - w.b0.transitions <= w.keepalivedTransitions);
  // A lost advert shows as a gap of two intervals; how far below that it stays (1.5 × is the target)
  // is measured in bench/vrrp-flood.ts, not asserted against the clock here.
  assert.ok(w.b1.adverts.maxGapMs < 2 * s.advertIntervalMs, `no advert lost behind the garbage (longest gap ${w.b1.adverts.maxGapMs} ms)`);
  assert.ok(pair.master.hasAddress(VIP) && !pair.backup.hasAddress(VIP), 'the VIP stayed on the master');
});
