import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { vrrpInstanceSchema } from '../../src/config/schema.js';
import { VrrpEngine } from '../../src/vrrp/vrrp-engine.js';
import { FakeNetwork } from '../support/fake-vrrp-network.js';

const inst = (over: Record<string, unknown> = {}) =>
  vrrpInstanceSchema.parse({ name: 'VI_1', interface: 'eth0', virtualRouterId: 51, priority: 150, vips: ['10.0.0.100/24'], ...over });

function setup() {
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const host = net.host('a', '10.0.0.1');
  const logs: string[] = [];
  const engine = new VrrpEngine(host, clock, { log: (_l, _f, msg) => logs.push(msg), changed: () => {} });
  return { clock, net, host, engine, logs };
}

test('engine reload: an unchanged instance keeps running untouched; a changed one restarts; a bad one is refused with the old kept', () => {
  const { clock, host, engine } = setup();
  assert.deepEqual(engine.apply([inst()]), []);
  clock.advance(1000);
  assert.equal(engine.status()[0]!.state, 'master');
  const transitions = engine.status()[0]!.transitions;
  const sent = host.sent;

  assert.deepEqual(engine.apply([inst()]), [], 'same config');
  clock.advance(100);
  assert.equal(engine.status()[0]!.transitions, transitions, 'no state change, no gap');
  assert.ok(host.sent > sent);

  assert.deepEqual(engine.apply([inst({ interface: 'nope0' })]), ['vrrp VI_1: interface nope0 does not exist']);
  assert.equal(engine.status()[0]!.state, 'master', 'the refused config left the running instance alone');
  assert.deepEqual(host.vips, ['10.0.0.100']);

  assert.deepEqual(engine.apply([inst({ priority: 200 })]), []);
  assert.equal(engine.status()[0]!.state, 'backup', 'the changed instance started afresh');
  assert.equal(engine.status()[0]!.priority, 200);
  assert.deepEqual(host.vips, [], 'the old instance released the VIP on its way out');
  clock.advance(1000);
  assert.equal(engine.status()[0]!.state, 'master');

  assert.deepEqual(engine.apply([]), []);
  assert.deepEqual(engine.status(), []);
  assert.deepEqual(host.vips, [], 'removed instance: VIP released');
});

test('engine: tracked backend state reaches instances created later; status times are wall-clock ISO strings', () => {
  const { clock, engine } = setup();
  engine.setBackend('be', false);
  engine.apply([inst({ track: { backends: ['be'] } })]);
  clock.advance(1000);
  const s = engine.status()[0]!;
  assert.equal(s.state, 'fault');
  assert.equal(s.fault, 'backend be down');
  assert.deepEqual([s.transitions, s.lastTransition?.from], [1, 'initialize'], 'straight into FAULT, no BACKUP first');
  assert.match(s.since, /^\d{4}-\d\d-\d\dT/);
  assert.ok(Math.abs(Date.parse(s.lastTransition!.at) - Date.now()) < 5000);
});

test('instance: garpDelay spaces the burst; garpRefresh repeats while master; unicastSrcIp is the advert source', () => {
  const { clock, net, engine } = setup();
  engine.apply([inst({ garpRepeat: 3, garpDelay: '50ms', garpRefresh: '1s', unicastSrcIp: '10.0.0.1' })]);
  clock.advance(400); // master after 3 × 100 ms + skew ≈ 361 ms
  const first = net.garps[0]!.atMs;
  clock.advance(200);
  assert.deepEqual(net.garps.slice(0, 3).map((g) => g.atMs - first), [0, 50, 100]);
  clock.advance(1000);
  assert.equal(net.garps.length, 4, 'one refresh a second after the burst');
  assert.equal(net.garps[3]!.atMs - first, 1100);
  assert.equal(engine.status()[0]!.garpsSent, 4);
});

test('instance: a track script with a negative weight lowers the advertised priority while it fails', async (t) => {
  const { engine } = setup();
  t.after(() => engine.stop());
  engine.apply([inst({ track: { scripts: [{ name: 'chk', command: 'exit 1', interval: '1s', weight: -40 }] } })]);
  for (let i = 0; i < 300 && engine.status()[0]!.effectivePriority === 150; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(engine.status()[0]!.effectivePriority, 110);
  assert.deepEqual(engine.status()[0]!.track.scripts, [{ name: 'chk', ok: false, weight: -40, lastExit: 1 }]);
});
