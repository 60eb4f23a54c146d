// End to end against real kube-apiservers (v1.20.2, built from Debian's kubernetes source package):
// three apiservers on one 3-member etcd, kubeha in front with https checks on /readyz, kubectl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cluster, createLoop } from '../support/kube-lb.js';

test('an apiserver SIGKILLed mid-traffic: new requests do not fail; it is marked down within fall × interval and rejoins after rise and slow start', async (t) => {
  const c = await cluster(t);
  const creates = createLoop(c.kubeconfig, 'kill');
  await new Promise((r) => setTimeout(r, 2000));
  const victim = c.servers[1]!;
  const killedAt = Date.now();
  await victim.stop('SIGKILL');
  const down = await c.lb.waitFor((l) => l.event === 'server-state' && l.server === victim.name && l.up === false, 5000, 'marked down');
  const downMs = Date.parse(String(down.time)) - killedAt;
  await new Promise((r) => setTimeout(r, 3000));
  victim.start();
  await victim.ready();
  const up = await c.lb.waitFor((l) => l.event === 'server-state' && l.server === victim.name && l.up === true && Date.parse(String(l.time)) > killedAt, 10_000, 'back up');
  const state = await (await fetch(`http://127.0.0.1:${c.admin}/api/v1/state`)).json() as { backends: { servers: { name: string; weight: number; effectiveWeight: number }[] }[] };
  const s = state.backends[0]!.servers.find((x) => x.name === victim.name)!;
  await new Promise((r) => setTimeout(r, 2000));
  const results = await creates.stop();
  const after = results.filter((r) => r.at > killedAt + 1000);
  const failedAfter = after.filter((r) => !r.ok);
  const failedAround = results.filter((r) => !r.ok && r.at <= killedAt + 1000);
  t.diagnostic(`marked down ${downMs} ms after SIGKILL (bound: fall 2 × 200 ms + 1 s timeout); back up ${Date.parse(String(up.time)) - killedAt} ms after the kill; in flight at the kill failed: ${failedAround.length}; started later: ${after.length}, failed ${failedAfter.length}`);
  assert.ok(downMs < 2000, `down after ${downMs} ms`);
  assert.deepEqual(failedAfter.map((r) => `${r.name}: ${r.out}`), []);
  assert.ok(s.effectiveWeight < s.weight, `slow start right after rejoining: effective weight ${s.effectiveWeight} of ${s.weight}`);
});

