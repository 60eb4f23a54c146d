// balance: latency — RTT tiers with hysteresis, and the pool's picks among the lowest tier (fake clock).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { nextTier, rawTier, smoothRtt, TIER_EDGES_MS } from '../../src/proxy/latency-tiers.js';
import { ServerPool } from '../../src/proxy/server-pool.js';
import { config } from '../support/tcp.js';

test('tiers: the first edge an RTT is below', () => {
  const table: [number, number][] = [[0, 0], [0.3, 0], [0.99, 0], [1, 1], [2.9, 1], [3, 2], [9, 2], [25, 3], [99, 4], [150, 5], [500, 6], [1000, 7], [5000, 7]];
  for (const [rtt, tier] of table) assert.equal(rawTier(rtt), tier, `${rtt} ms`);
  assert.equal(TIER_EDGES_MS.length, 7);
});

test('hysteresis: a server leaves its tier only 25% past an edge', () => {
  // [current tier, smoothed RTT, next tier]
  const table: [number | undefined, number, number][] = [
    [undefined, 2.9, 1],
    [1, 3.5, 1], // above 3 ms but within 3 × 1.25
    [1, 3.8, 2], // past 3.75: up one tier
    [2, 2.4, 2], // below 3 but within 3 × 0.75
    [2, 2.2, 1], // below 2.25: down
    [0, 1.2, 0],
    [0, 1.3, 1],
    [7, 800, 7], // the last tier's lower edge is 1 s × 0.75
    [7, 700, 6],
    [1, 40, 4], // a jump goes straight to the tier it lands in
  ];
  for (const [cur, rtt, next] of table) assert.equal(nextTier(cur, rtt), next, `tier ${cur} at ${rtt} ms`);
});

test('smoothing: one slow check does not move a server', () => {
  let rtt = smoothRtt(undefined, 0.5);
  let tier = nextTier(undefined, rtt);
  rtt = smoothRtt(rtt, 3);
  tier = nextTier(tier, rtt);
  assert.equal(tier, 1, `one 3 ms sample after 0.5 ms: ${rtt.toFixed(2)} ms smoothed`);
  for (let i = 0; i < 10; i++) tier = nextTier(tier, (rtt = smoothRtt(rtt, 0.5)));
  assert.equal(tier, 0);
});

function pool(clock: FakeClock) {
  const cfg = config({ frontends: [{ name: 'f', bind: '127.0.0.1:0', backend: 'b' }], backends: [{ name: 'b', balance: 'latency', healthCheck: { rise: 1, fall: 1 },
    servers: [{ name: 'near1', address: '127.0.0.1:1' }, { name: 'near2', address: '127.0.0.1:2' }, { name: 'far', address: '127.0.0.1:3' }] }] });
  return new ServerPool(cfg.backends[0]!, clock);
}

test('the pool: round robin in the lowest tier; the next tier only when the lowest has no usable server; unmeasured last', () => {
  const clock = new FakeClock();
  const p = pool(clock);
  const [near1, near2, far] = p.servers as [typeof p.servers[0], typeof p.servers[0], typeof p.servers[0]];
  const picks = (n: number) => Array.from({ length: n }, () => p.pick('', new Set())?.id).join(' ');
  assert.equal(picks(3), 'near1 near2 far', 'nothing measured: plain round robin');
  const check = (s: typeof near1, latencyMs: number, ok = true) => p.recordCheck(s, { ok, latencyMs, detail: '', atMs: clock.now() });
  check(near1, 0.4);
  check(near2, 0.6);
  assert.equal(picks(4), 'near1 near2 near1 near2', 'the unmeasured one waits');
  check(far, 12);
  assert.deepEqual([near1.latencyTier, near2.latencyTier, far.latencyTier], [0, 0, 3]);
  assert.equal(picks(4), 'near1 near2 near1 near2');
  check(near1, 0, false);
  assert.equal(near1.health.up, false);
  assert.equal(picks(2), 'near2 near2', 'one left in the lowest tier takes everything');
  check(near2, 0, false);
  assert.equal(picks(2), 'far far', 'the lowest tier is empty: the next one serves');
  assert.equal(p.pick('', new Set([far])), far, 'a retry may go back to the only usable server');
  check(near2, 0.5);
  assert.equal(picks(2), 'near2 near2');
});
