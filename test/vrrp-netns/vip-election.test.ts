// The VIP by etcd election (vipElection), on real interfaces: etcd in one namespace, two kubeha
// nodes in others, all on one bridge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createBed, nsFetchText, nsFetchTextAsync, startEtcdIn, startKubehaConfig, until, VIP, watchAddresses } from '../support/netns.js';
import { KUBEHA_BIN } from '../support/processes.js';
import type { TestContextLike } from '../support/tcp.js';

const vipLine = new RegExp(`inet ${VIP.replace(/\./g, '\\.')}/`);

/** Two kubeha hosts (a, b) and an etcd host on one bridge; `cfg(id)` is a node's vipElection config. */
async function electionBed(t: TestContextLike) {
  const bed = createBed(t, 3);
  const [a, b, e] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0], typeof bed.hosts[0]];
  const etcd = await startEtcdIn(bed, e);
  const cfg = (id: string) => ({ admin: { bind: '127.0.0.1:9000' }, vipElection: { etcd: [etcd], identity: id, ttl: '2s', margin: '500ms', interface: 'eth0', vips: [`${VIP}/24`] } });
  /**
   * Resolves once `n` candidates have their key in the election (asked of etcd itself, from its own
   * namespace): the synchronisation point a fixed sleep after starting a node only hoped for.
   */
  const candidates = async (n: number, timeoutMs = 15_000) => {
    const b64 = (x: string) => Buffer.from(x).toString('base64');
    const body = JSON.stringify({ key: b64('/kubeha/election/vip/'), range_end: b64('/kubeha/election/vip0'), count_only: true });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await nsFetchTextAsync(e, `${etcd}/v3/kv/range`, { method: 'POST', body });
      const count = r ? Number((JSON.parse(r) as { count?: string }).count ?? 0) : -1;
      if (count >= n) return;
      if (Date.now() > deadline) throw new Error(`not ${n} candidates in the election after ${timeoutMs} ms (${count})`);
      await new Promise((res) => setTimeout(res, 100));
    }
  };
  return { bed, a, b, cfg, candidates };
}

test('vipElection: the leader holds the VIP; SIGTERM hands it over; a leader cut off removes it before the other adds it', async (t) => {
  const { bed, a, b, cfg, candidates } = await electionBed(t);
  const ka = startKubehaConfig(bed, a, cfg('a'));
  await ka.waitLine(/vip-election-won/);
  assert.ok(await until(() => a.hasAddress(VIP), 1000));
  const kb = startKubehaConfig(bed, b, cfg('b'));
  await candidates(2); // b campaigns, behind a: the resign below hands over to a waiting candidate
  assert.ok(!b.hasAddress(VIP), 'only the leader holds the VIP');
  assert.doesNotMatch(kb.output(), /vip-election-won/, 'only the leader holds the VIP');

  const monA = await watchAddresses(a);
  const monB = await watchAddresses(b);
  const stoppedAt = Date.now();
  ka.child.kill('SIGTERM');
  const added = await monB.waitLine(vipLine, 5000);
  t.diagnostic(`SIGTERM → VIP on the other node: ${added.atMs - stoppedAt} ms`);
  assert.ok(added.atMs - stoppedAt < 1000, 'a resign hands over at once');
  await ka.exited;
  assert.ok(!a.hasAddress(VIP));
  // The keepalive metric needs b's first keepalive (a third of the TTL after its lease): wait for it
  // in b's state rather than hope a sleep covered it.
  type Election = { vipElection: { leader: boolean; epoch: string; identity: string; lastKeepAliveMs: number | null } };
  let state: Election | undefined;
  for (const deadline = Date.now() + 10_000; !(state?.vipElection.lastKeepAliveMs != null) && Date.now() < deadline;) {
    const body = await nsFetchTextAsync(b, 'http://127.0.0.1:9000/api/v1/state');
    state = body ? (JSON.parse(body) as Election) : undefined;
    if (!(state?.vipElection.lastKeepAliveMs != null)) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(state, 'b answers on its admin API');
  assert.deepEqual([state.vipElection.leader, state.vipElection.identity], [true, 'b']);
  const metrics = nsFetchText(b, 'http://127.0.0.1:9000/metrics');
  assert.match(metrics, /kubeha_election_is_leader\{election="vip"\} 1/);
  assert.match(metrics, new RegExp(`kubeha_election_epoch\\{election="vip"\\} ${state.vipElection.epoch}`));
  assert.match(metrics, /kubeha_election_keepalive_latency_seconds_count\{election="vip"\} [1-9]/);

  // Now b leads; cut it off the bridge (and so from etcd) while a campaigns again.
  startKubehaConfig(bed, a, cfg('a2'));
  await candidates(2); // a2 campaigns behind b
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
  const { bed, a, b, cfg, candidates } = await electionBed(t);
  const ka = startKubehaConfig(bed, a, cfg('a'));
  await ka.waitLine(/vip-election-won/);
  const kb = startKubehaConfig(bed, b, cfg('b'));
  await candidates(2); // b campaigns behind a: it takes over when a goes into maintenance
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
