import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { CheckScheduler } from '../../src/health/check-scheduler.js';
import type { Probe } from '../../src/health/probe.js';
import { ServerPool } from '../../src/proxy/server-pool.js';
import { backendSchema } from '../../src/config/schema.js';

/** Lets queued promise callbacks (the probe's resolution) run. */
const flush = () => new Promise((r) => setImmediate(r));

test('check scheduler (fake clock): interval when up, fastInterval in transition, downInterval when down', async () => {
  const clock = new FakeClock();
  const cfg = backendSchema.parse({
    name: 'be', servers: [{ name: 's', address: '127.0.0.1:1' }],
    healthCheck: { interval: '2s', fastInterval: '200ms', downInterval: '5s', rise: 2, fall: 2, timeout: '1s' },
  });
  const pool = new ServerPool(cfg, clock);
  let passing = true;
  const checkTimes: number[] = [];
  const probe: Probe = async () => {
    checkTimes.push(clock.now());
    return { ok: passing, detail: passing ? 'ok' : 'fail' };
  };
  const scheduler = new CheckScheduler(pool, cfg.healthCheck, probe, clock, () => {}, () => 0);
  scheduler.reconcile();
  const s = pool.servers[0]!;
  const step = async (ms: number) => {
    clock.advance(ms);
    await flush();
  };
  await step(0);
  assert.deepEqual(checkTimes, [0], 'first check at once (spread 0 with this rng)');
  await step(2000);
  assert.deepEqual(checkTimes, [0, 2000], 'fully up: every 2s');
  passing = false;
  await step(2000);
  assert.equal(s.health.up, true, 'one failure of fall 2: still up');
  await step(200);
  assert.equal(s.health.up, false, 'second failure 200ms later (fastInterval): down');
  assert.deepEqual(checkTimes, [0, 2000, 4000, 4200]);
  await step(5000);
  assert.deepEqual(checkTimes.slice(-1), [9200], 'down: every 5s');
  passing = true;
  await step(5000);
  assert.equal(s.health.up, false, 'one pass of rise 2');
  await step(200);
  assert.equal(s.health.up, true, 'up after the second pass, 200ms later');
  await step(2000);
  assert.deepEqual(checkTimes.slice(-3), [14_200, 14_400, 16_400]);
  scheduler.stop();
  await step(10_000);
  assert.equal(checkTimes.length, 8, 'no checks after stop');
});

test('check scheduler: a probe that hangs fails at the timeout', async () => {
  const clock = new FakeClock();
  const cfg = backendSchema.parse({ name: 'be', servers: [{ name: 's', address: '127.0.0.1:1' }], healthCheck: { interval: '1s', timeout: '300ms', fall: 1 } });
  const pool = new ServerPool(cfg, clock);
  const hang: Probe = (_t, signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve({ ok: false, detail: 'timeout' })));
  const seen: { ok: boolean; latencyMs: number }[] = [];
  const scheduler = new CheckScheduler(pool, cfg.healthCheck, hang, clock, (_s, c) => seen.push({ ok: c.ok, latencyMs: c.latencyMs }), () => 0);
  scheduler.reconcile();
  clock.advance(0);
  await flush();
  clock.advance(299);
  await flush();
  assert.equal(seen.length, 0);
  clock.advance(1);
  await flush();
  assert.deepEqual(seen, [{ ok: false, latencyMs: 300 }]);
  assert.equal(pool.servers[0]!.health.up, false);
  scheduler.stop();
});
