// The VIP by etcd election (vipElection), on real interfaces: etcd in one namespace, two kubeha
// nodes in others, all on one bridge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createBed, nsFetchJson, nsFetchText, startEtcdIn, startKubehaConfig, until, VIP, watchAddresses } from '../support/netns.js';
import { KUBEHA_BIN } from '../support/processes.js';
import type { TestContextLike } from '../support/tcp.js';

const vipLine = new RegExp(`inet ${VIP.replace(/\./g, '\\.')}/`);

/** Two kubeha hosts (a, b) and an etcd host on one bridge; `cfg(id)` is a node's vipElection config. */
async function electionBed(t: TestContextLike) {
  const bed = createBed(t, 3);
  const [a, b, e] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0], typeof bed.hosts[0]];
  const etcd = await startEtcdIn(bed, e);
  const cfg = (id: string) => ({ admin: { bind: '127.0.0.1:9000' }, vipElection: { etcd: [etcd], identity: id, ttl: '2s', margin: '500ms', interface: 'eth0', vips: [`${VIP}/24`] } });
  return { bed, a, b, cfg };
}

test('vipElection: the leader holds the VIP; SIGTERM hands it over; a leader cut off removes it before the other adds it', async (t) => {
  const { bed, a, b, cfg } = await electionBed(t);
  const ka = startKubehaConfig(bed, a, cfg('a'));
  await ka.waitLine(/vip-election-won/);
  assert.ok(await until(() => a.hasAddress(VIP), 1000));
  const kb = startKubehaConfig(bed, b, cfg('b'));
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(!b.hasAddress(VIP), 'only the leader holds the VIP');

  const monA = watchAddresses(a);
  const monB = watchAddresses(b);
  await new Promise((r) => setTimeout(r, 200));
  const stoppedAt = Date.now();
  ka.child.kill('SIGTERM');
  const added = await monB.waitLine(vipLine, 5000);
  t.diagnostic(`SIGTERM → VIP on the other node: ${added.atMs - stoppedAt} ms`);
  assert.ok(added.atMs - stoppedAt < 1000, 'a resign hands over at once');
  await ka.exited;
  assert.ok(!a.hasAddress(VIP));
  const state = nsFetchJson(b, 'http://127.0.0.1:9000/api/v1/state') as { vipElection: { leader: boolean; epoch: string; identity: string } };
  assert.deepEqual([state.vipElection.leader, state.vipElection.identity], [true, 'b']);
  const metrics = nsFetchText(b, 'http://127.0.0.1:9000/metrics');
  assert.match(metrics, /kubeha_election_is_leader\{election="vip"\} 1/);
  assert.match(metrics, new RegExp(`kubeha_election_epoch\\{election="vip"\\} ${state.vipElection.epoch}`));
  assert.match(metrics, /kubeha_election_keepalive_latency_seconds_count\{election="vip"\} [1-9]/);

  // Now b leads; cut it off the bridge (and so from etcd) while a campaigns again.
  const ka2 = startKubehaConfig(bed, a, cfg('a2'));
  await ka2.waitLine(/"event":"listening"|vip-election|started/, 10_000);
  await new Promise((r) => setTimeout(r, 500));
  const seenA = monA.lines.length;
  const seenB = monB.lines.length;
  bed.plug(1, false);
  const removed = await monB.waitLine(/^Deleted.*inet 192\.0\.2\.200\//, 5000, seenB);
  const addedA = await monA.waitLine(vipLine, 8000, seenA);
  t.diagnostic(`cut-off leader removed the VIP ${addedA.atMs - removed.atMs} ms before the new leader added it`);
  assert.ok(removed.atMs < addedA.atMs, 'never two holders at once');
  assert.match(kb.output(), /vip-election-lost/);
});

test('vipElection maintenance: the leader gives the VIP up at once and stays out; off, it campaigns again', async (t) => {
  const { bed, a, b, cfg } = await electionBed(t);
  const ka = startKubehaConfig(bed, a, cfg('a'));
  await ka.waitLine(/vip-election-won/);
  const kb = startKubehaConfig(bed, b, cfg('b'));
  await kb.waitLine(/"event":"listening"|vip-election|started|admin/, 10_000);
  await new Promise((r) => setTimeout(r, 500));
  const cli = (...args: string[]) => spawnSync('ip', ['netns', 'exec', a.ns, process.execPath, KUBEHA_BIN, ...args, '--admin', '127.0.0.1:9000'], { encoding: 'utf8' });

  const on = cli('maintenance', 'on');
  assert.equal(on.status, 0, on.stderr);
  assert.equal(on.stdout, 'vip: maintenance on; it was MASTER: the VIP moves to a peer now\n');
  await kb.waitLine(/vip-election-won/, 5000);
  assert.ok(await until(() => b.hasAddress(VIP) && !a.hasAddress(VIP), 1000), 'the VIP moved to b');
  await new Promise((r) => setTimeout(r, 2500)); // past a TTL: a does not come back on its own
  const status = cli('status');
  assert.equal(status.status, 0, status.stdout + status.stderr);
  assert.match(status.stdout, /vip election vip: MAINTENANCE as a/);
  assert.match(status.stdout, /vip election vip is in maintenance/);

  const off = cli('maintenance', 'off');
  assert.equal(off.status, 0, off.stderr);
  // Back in the election as a follower (b leads; an election has no preemption); b's stop hands over to a.
  const seen = ka.lines.length;
  kb.child.kill('SIGTERM');
  await ka.waitLine(/vip-election-won/, 5000, seen);
  assert.ok(await until(() => a.hasAddress(VIP), 1000), 'a campaigns again and takes over');
});
