// DESIGN.md "Process model": with the data plane saturated, VRRP on its own thread misses no advert
// at 100 ms, and no healthy server is marked down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createBed, nsFetchJson, startKubeha, untilVrrp, type VrrpSettings } from '../support/netns.js';

const ECHO_LOAD = fileURLToPath(new URL('../support/echo-load.js', import.meta.url));
const V3: VrrpSettings = { version: 3, advertIntervalMs: 100, vrid: 71 };

interface VrrpView { state: string; transitions: number; adverts: { sent: number; received: number; maxGapMs: number } }
interface StateView {
  vrrp: VrrpView[];
  eventLoopDelayMs: { p99: number; max: number };
  vrrpThread: { loopDelayMs: { p99: number; max: number } } | null;
  backends: { servers: { name: string; state: string; transitions: number }[] }[];
}

test('a saturated proxy: the backup hears every 100 ms advert and no healthy server goes down', async (t) => {
  const bed = createBed(t, 2);
  const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const echo = a.spawn(process.execPath, [ECHO_LOAD, 'echo', '7101', '7102']);
  await echo.waitLine(/7102/);
  const proxy = {
    admin: { bind: '127.0.0.1:9000' },
    frontends: [{ name: 'fe', bind: '127.0.0.1:7000', backend: 'be' }],
    backends: [{
      name: 'be', healthCheck: { type: 'tcp', interval: '200ms', timeout: '1s', rise: 2, fall: 2 },
      servers: [{ name: 's1', address: '127.0.0.1:7101' }, { name: 's2', address: '127.0.0.1:7102' }],
    }],
  };
  const ka = startKubeha(bed, a, V3, 150, { track: { backends: ['be'] } }, proxy);
  await ka.waitLine(/"to":"master"/);
  const kb = startKubeha(bed, b, V3, 100, {}, { admin: { bind: '127.0.0.1:9000' } });
  await kb.waitLine(/"to":"backup"/);
  // The backup follows the master (a few adverts accepted) before the load starts.
  await untilVrrp(b, (v) => v.adverts.received >= 3, 'the backup following the master');
  const before = nsFetchJson(b, 'http://127.0.0.1:9000/api/v1/state') as unknown as StateView;

  const load = a.spawn(process.execPath, [ECHO_LOAD, 'load', '7000', '6', '64']);
  const done = await load.waitLine(/load-done/, 30_000);
  const result = JSON.parse(done.line) as { roundTrips: number; errors: number; mib: number };

  const stateA = nsFetchJson(a, 'http://127.0.0.1:9000/api/v1/state') as unknown as StateView;
  const stateB = nsFetchJson(b, 'http://127.0.0.1:9000/api/v1/state') as unknown as StateView;
  const vb = stateB.vrrp[0]!;
  const heard = vb.adverts.received - before.vrrp[0]!.adverts.received;
  t.diagnostic(`load: ${result.mib} MiB in ${result.roundTrips} round trips through the proxy, ${result.errors} errors`);
  t.diagnostic(`data-plane loop delay p99 ${stateA.eventLoopDelayMs.p99.toFixed(1)} ms, max ${stateA.eventLoopDelayMs.max.toFixed(1)} ms; VRRP thread p99 ${stateA.vrrpThread?.loopDelayMs.p99.toFixed(1)} ms, max ${stateA.vrrpThread?.loopDelayMs.max.toFixed(1)} ms`);
  t.diagnostic(`backup heard ${heard} adverts; longest gap ${vb.adverts.maxGapMs.toFixed(1)} ms`);
  assert.ok(result.roundTrips > 1000, 'the load went through the proxy');
  assert.equal(vb.state, 'backup');
  assert.equal(vb.transitions, before.vrrp[0]!.transitions, 'the backup never took over');
  assert.ok(vb.adverts.maxGapMs < 190, `no advert missed: longest gap ${vb.adverts.maxGapMs} ms at a 100 ms interval`);
  assert.equal(stateA.vrrp[0]!.state, 'master');
  for (const s of stateA.backends[0]!.servers) {
    assert.equal(s.state, 'up', `server ${s.name} stayed up`);
    assert.equal(s.transitions, 0, `server ${s.name} was never marked down`);
  }
});
