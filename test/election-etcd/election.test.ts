// Leader election against a real 3-member etcd (Debian etcd-server) on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { campaign, leaderChanges, observe, type Leadership, type LeaderView } from '../../src/election/campaign.js';
import { EtcdClient } from '../../src/election/etcd-client.js';
import { startEtcd } from '../support/etcd.js';
import { faultProxy } from '../support/fault-proxy.js';
import { startTlsEtcd } from '../support/etcd.js';
import { until } from '../support/tcp.js';

const TIMING = { ttlMs: 2000, marginMs: 500 };

test('election: one leader; resign hands over in milliseconds; epochs strictly increase; observe follows', async (t) => {
  const etcd = await startEtcd(t);
  const clients = [0, 1, 2].map(() => new EtcdClient({ endpoints: etcd.endpoints }));
  t.after(() => clients.forEach((c) => c.close()));
  const stopObserving = new AbortController();
  t.after(() => stopObserving.abort());
  const seen: (LeaderView | null)[] = [];
  void observe(clients[0]!, 'handover', (l) => seen.push(l), stopObserving.signal);
  const streamed: (LeaderView | null)[] = [];
  void (async () => {
    for await (const l of leaderChanges(clients[1]!, 'handover', stopObserving.signal)) streamed.push(l);
  })();

  const pending = clients.map((client, i) => campaign({ client, name: 'handover', identity: `c${i}`, timing: TIMING }));
  const epochs: bigint[] = [];
  const leaders: string[] = [];
  const remaining = new Set(pending);
  for (let round = 0; round < 3; round++) {
    const winner = await Promise.race([...remaining].map((p) => p.then((l) => ({ l, p }))));
    remaining.delete(winner.p);
    const l: Leadership = winner.l;
    assert.ok(l.valid());
    epochs.push(l.epoch);
    leaders.push(l.identity);
    // Both observers have seen this leader before it resigns (they only report the current one).
    const sees = (views: (LeaderView | null)[]) => views.at(-1)?.identity === l.identity;
    await until(() => sees(seen) && sees(streamed), 10_000, `the observers to see ${l.identity}`);
    const resignedAt = performance.now();
    await l.resign();
    assert.equal(l.signal.aborted, true);
    if (remaining.size > 0) {
      const next = await Promise.race([...remaining]);
      t.diagnostic(`handover on resign: ${(performance.now() - resignedAt).toFixed(1)} ms`);
      assert.ok(performance.now() - resignedAt < 1000, 'a resign hands over at once, not after the TTL');
      void next;
    }
  }
  assert.equal(new Set(leaders).size, 3, 'each candidate led once');
  for (let i = 1; i < epochs.length; i++) assert.ok(epochs[i]! > epochs[i - 1]!, `epochs increase: ${epochs.join(' < ')}`);
  // ...and the end of the last term: they have caught up.
  await until(() => seen.at(-1) === null && streamed.at(-1) === null, 10_000, 'the observers to see no leader');
  const ids = seen.filter((v): v is LeaderView => v !== null).map((v) => v.identity);
  assert.deepEqual(ids, leaders, 'observe saw each leader in order');
  assert.deepEqual(streamed.filter((v): v is LeaderView => v !== null).map((v) => v.identity), leaders, 'so did the async iterable');
});

test('election: a leader cut off from etcd steps down before anyone else is elected (20 trials, no overlap)', async (t) => {
  const etcd = await startEtcd(t);
  const direct = new EtcdClient({ endpoints: etcd.endpoints });
  t.after(() => direct.close());
  const gaps: number[] = [];
  for (let trial = 0; trial < 20; trial++) {
    // The leader reaches etcd only through a proxy that the trial cuts in both directions.
    const proxy = await faultProxy(t, Number(new URL(etcd.endpoints[trial % 3]!).port));
    const cutOff = new EtcdClient({ endpoints: [proxy.url], attemptTimeoutMs: 300 });
    const a = await campaign({ client: cutOff, name: `cut-${trial}`, identity: 'a', timing: TIMING });
    const stopB = new AbortController();
    const bElected = campaign({ client: direct, name: `cut-${trial}`, identity: 'b', timing: TIMING, signal: stopB.signal });
    await new Promise((r) => setTimeout(r, 200 + (trial % 5) * 97)); // cut at a different point of the keepalive cycle each time
    let aDownAt = 0;
    a.signal.addEventListener('abort', () => (aDownAt = performance.now()), { once: true });
    proxy.cut();
    const b = await bElected;
    const bUpAt = performance.now();
    assert.ok(aDownAt > 0, `trial ${trial}: the old leader stepped down before the new one was elected`);
    assert.ok(aDownAt < bUpAt);
    gaps.push(bUpAt - aDownAt);
    await b.resign();
    cutOff.close();
  }
  gaps.sort((x, y) => x - y);
  t.diagnostic(`gap with no leader after a cut (20 trials): min ${gaps[0]!.toFixed(0)} ms, median ${gaps[10]!.toFixed(0)} ms, max ${gaps[19]!.toFixed(0)} ms; overlap: none`);
});

test('election over TLS with a client certificate (etcd --client-cert-auth); without the certificate it is refused', async (t) => {
  const { endpoint, pki } = await startTlsEtcd(t);
  const good = new EtcdClient({ endpoints: [endpoint], tls: { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey } });
  t.after(() => good.close());
  let l: Leadership | undefined;
  for (let i = 0; i < 20 && !l; i++) {
    try {
      l = await campaign({ client: good, name: 'tls', identity: 'tls', timing: TIMING, signal: AbortSignal.timeout(3000) });
    } catch {
      await new Promise((r) => setTimeout(r, 250)); // etcd still starting
    }
  }
  assert.ok(l?.valid(), 'elected over TLS');
  await l?.resign();
  const noCert = new EtcdClient({ endpoints: [endpoint], tls: { caFile: pki.caFile } });
  t.after(() => noCert.close());
  await assert.rejects(noCert.grant(5, 2000), /failed within|certificate|handshake|socket/i);
});
