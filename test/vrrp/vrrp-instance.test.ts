import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../src/clock.js';
import { vrrpInstanceSchema } from '../../src/config/schema.js';
import { garpFrame, parseArp } from '../../src/vrrp/arp.js';
import { encodeAdvert, encodeIpv4 } from '../../src/vrrp/packet.js';
import { VrrpEngine } from '../../src/vrrp/vrrp-engine.js';
import { VrrpInstance } from '../../src/vrrp/vrrp-instance.js';
import { FakeNetwork, type FakeHost } from '../support/fake-vrrp-network.js';

type Logged = { level: string; fields: Record<string, unknown>; msg: string };

/** A parsed instance config with test defaults (v3, 100 ms, one VIP). */
const config = (over: Record<string, unknown> = {}) =>
  vrrpInstanceSchema.parse({ name: 'VI_1', interface: 'eth0', virtualRouterId: 51, advertInterval: '100ms', vips: ['10.0.0.100/24'], ...over });

/** An instance; its tracked backends are reported serving before it starts (as the daemon does once a check passed), unless `unchecked`. */
function node(net: FakeNetwork, host: FakeHost, over: Record<string, unknown> = {}, unchecked = false) {
  const logs: Logged[] = [];
  const cfg = config(over);
  const inst = new VrrpInstance(cfg, host, net.clock, { log: (level, fields, msg) => logs.push({ level, fields, msg }), changed: () => {} });
  if (!unchecked) for (const b of cfg.track.backends) inst.setBackend(b, true);
  return { inst, host, logs };
}

function bed(...priorities: number[]) {
  const clock = new FakeClock(1000);
  const net = new FakeNetwork(clock);
  const nodes = priorities.map((p, i) => node(net, net.host(`n${i + 1}`, `10.0.0.${i + 1}`), { priority: p }));
  return { clock, net, nodes };
}

const states = (nodes: { inst: VrrpInstance }[]) => nodes.map((n) => n.inst.machine.state).join(' ');

test('instance: three nodes elect the highest priority; only the master holds the VIP and sends 5 GARPs', () => {
  const { clock, net, nodes } = bed(100, 150, 120);
  for (const n of nodes) n.inst.start();
  clock.advance(2000);
  assert.equal(states(nodes), 'backup master backup');
  assert.deepEqual(nodes.map((n) => n.host.vips), [[], ['10.0.0.100'], []]);
  assert.equal(net.garps.length, 5, 'garpRepeat 5 by default');
  assert.deepEqual(parseArp(net.garps[0]!.frame), { op: 'request', senderMac: '02:00:00:00:00:02', senderIp: '10.0.0.100', targetIp: '10.0.0.100' });
  const s = nodes[0]!.inst.status();
  assert.deepEqual(s.master, { address: '10.0.0.2', priority: 150 });
  assert.ok(s.adverts.received >= 10, `backup heard adverts (${s.adverts.received})`);
  assert.equal(nodes[1]!.inst.status().transitions, 2, 'initialize → backup → master');
});

test('instance: a second GARP burst garpMasterDelay after becoming master (keepalived garp_master_delay); none once it is no longer master', () => {
  const { clock, net, nodes } = bed(150, 100);
  for (const n of nodes) n.inst.start();
  clock.advance(2000);
  assert.equal(net.garps.length, 5, 'the first burst');
  clock.advance(3500); // 5 s after becoming master
  assert.equal(net.garps.length, 10, 'the second burst, 5 s later by default');
  clock.advance(20_000);
  assert.equal(net.garps.length, 10, 'no more without garpRefresh');

  const clock2 = new FakeClock(0);
  const net2 = new FakeNetwork(clock2);
  node(net2, net2.host('q', '10.0.0.9'), { priority: 200, garpMasterDelay: '0s' }).inst.start();
  clock2.advance(10_000);
  assert.equal(net2.garps.length, 5, 'garpMasterDelay 0: one burst only');

  const gone = bed(150, 100);
  for (const n of gone.nodes) n.inst.start();
  gone.clock.advance(2000);
  gone.nodes[0]!.inst.stop(); // leaves master before the second burst is due
  gone.clock.advance(10_000);
  assert.equal(gone.net.garps.filter((g) => g.host === 'n1').length, 5, 'no second burst from a node that left master');
});

test('instance: a preempting peer\'s gratuitous ARP, arriving before its advert, is not a duplicate VIP', () => {
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const a = node(net, net.host('a', '10.0.0.1'), { priority: 150, track: { backends: ['be'], backendWeight: -80 } });
  const b = node(net, net.host('b', '10.0.0.2'), { priority: 100 });
  a.inst.start();
  b.inst.start();
  clock.advance(2000);
  assert.equal(states([a, b]), 'master backup');
  a.inst.setBackend('be', false); // 70: b preempts, and its GARPs may reach a before its advert does
  clock.advance(2000);
  assert.equal(states([a, b]), 'backup master');
  assert.equal(a.inst.status().duplicateVip.events, 0, a.logs.filter((l) => l.fields.event === 'vrrp-duplicate-vip').map((l) => l.msg).join('\n'));
});

test('instance: a second master that does not hear us (one-way path) is one duplicate event; a peer yielding with one stale advert is none', () => {
  const { clock, nodes } = bed(150, 100);
  const [a, b] = nodes as [typeof nodes[0], typeof nodes[0]];
  b.host.deaf = true; // b hears nothing: it becomes master too, while a hears its adverts
  for (const n of nodes) n.inst.start();
  clock.advance(3000);
  assert.equal(states(nodes), 'master master');
  const advertEvents = () => a.logs.filter((l) => l.fields.event === 'vrrp-duplicate-vip' && l.fields.kind === 'advert');
  assert.equal(advertEvents().length, 1, 'one episode, not one event per advert (b\'s GARP is a separate ARP event)');
  assert.match(advertEvents()[0]!.msg, /10\.0\.0\.2 also claims to be master .* does not yield/);
  b.host.deaf = false;
  clock.advance(1000);
  assert.equal(states(nodes), 'master backup', 'healed: b yields');
  assert.equal(advertEvents().length, 1);

  // A takeover race: the yielding peer's last advert, sent before ours reached it, arrives once.
  const before = a.inst.status().duplicateVip.events;
  const stale = encodeAdvert({ version: 3, vrid: 51, priority: 100, advertIntervalCs: 10, addresses: ['10.0.0.100'], authPass: '' }, { src: '10.0.0.2', dst: '224.0.0.18' });
  a.host.receive(encodeIpv4({ tos: 0, id: 0, ttl: 255, protocol: 112, src: '10.0.0.2', dst: '224.0.0.18' }, stale));
  clock.advance(1000);
  assert.equal(a.inst.status().duplicateVip.events, before, 'one stale advert from a yielding peer is not a duplicate');
});

test('instance: maintenance hands the VIP over at once (priority 0) and keeps the node out; cleared, it preempts back', () => {
  const { clock, nodes } = bed(150, 100);
  for (const n of nodes) n.inst.start();
  clock.advance(2000);
  assert.equal(states(nodes), 'master backup');
  nodes[0]!.inst.setMaintenance(true);
  const t0 = clock.now();
  while (states(nodes) !== 'fault master' && clock.now() - t0 < 1000) clock.advance(1);
  assert.equal(states(nodes), 'fault master');
  assert.ok(clock.now() - t0 <= 70, `handed over in ${clock.now() - t0} ms (the backup's skew time, 61 ms)`);
  assert.deepEqual(nodes.map((n) => n.host.vips.length), [0, 1]);
  assert.deepEqual([nodes[0]!.inst.status().maintenance, nodes[0]!.inst.status().fault], [true, 'maintenance']);
  clock.advance(5000);
  assert.equal(states(nodes), 'fault master', 'stays out');
  nodes[0]!.inst.setMaintenance(false);
  clock.advance(1000);
  assert.equal(states(nodes), 'master backup', 'back in, and the higher priority preempts');
});

test('engine: maintenance survives a reload that recreates the instance, and is refused for an unknown one', () => {
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const sink = { log: () => {}, changed: () => {} };
  const engine = new VrrpEngine(net.host('a', '10.0.0.1'), clock, sink);
  const inst = (priority: number) => vrrpInstanceSchema.parse({ name: 'VI_1', interface: 'eth0', virtualRouterId: 51, priority, vips: ['10.0.0.100/24'] });
  engine.apply([inst(150)]);
  clock.advance(1000);
  assert.equal(engine.setMaintenance('VI_9', true), false);
  assert.equal(engine.setMaintenance('VI_1', true), true);
  clock.advance(100);
  assert.equal(engine.status()[0]!.state, 'fault');
  engine.apply([inst(140)]); // a changed instance is a new one
  clock.advance(1000);
  assert.deepEqual([engine.status()[0]!.priority, engine.status()[0]!.state, engine.status()[0]!.maintenance], [140, 'fault', true]);
  engine.setMaintenance('VI_1', false);
  clock.advance(1000);
  assert.equal(engine.status()[0]!.state, 'master');
});

test('instance: a master stopping (priority 0) hands over within skew time; one crashing within the master down interval', () => {
  const { clock, nodes } = bed(150, 100, 50);
  for (const n of nodes) n.inst.start();
  clock.advance(2000);
  const [a, b, c] = nodes as [ReturnType<typeof node>, ReturnType<typeof node>, ReturnType<typeof node>];
  a.inst.stop();
  assert.deepEqual(a.host.vips, [], 'the VIP leaves with the shutdown');
  const t0 = clock.now();
  while (b.inst.machine.state !== 'master' && clock.now() - t0 < 1000) clock.advance(1);
  assert.ok(clock.now() - t0 <= 1 + (156 * 100) / 256 + 1, `took ${clock.now() - t0} ms`);
  assert.equal(c.inst.machine.state, 'backup');
  // Now b crashes: it is cut off and its timers never run again.
  b.host.cut = true;
  const t1 = clock.now();
  while (c.inst.status().state !== 'master' && clock.now() - t1 < 2000) clock.advance(1);
  const bound = 300 + (206 * 100) / 256 + 2;
  assert.ok(clock.now() - t1 <= bound, `crash takeover took ${clock.now() - t1} ms (bound ${bound})`);
});

test('instance: track.backends — weight 0 faults the master at once; a negative weight lowers it below a backup that preempts', () => {
  // [weight, state of a, takeover bound]: a fault sends priority 0 (the backup waits Skew_Time);
  // a lower priority is advertised at once and the backup preempts on hearing it.
  for (const [weight, expectA, withinMs] of [[0, 'fault', 62], [-60, 'backup', 2]] as const) {
    const clock = new FakeClock(0);
    const net = new FakeNetwork(clock);
    const a = node(net, net.host('a', '10.0.0.1'), { priority: 150, track: { backends: ['apiservers'], backendWeight: weight } });
    const b = node(net, net.host('b', '10.0.0.2'), { priority: 100 });
    a.inst.start();
    b.inst.start();
    clock.advance(2000);
    assert.equal(a.inst.machine.state, 'master');
    a.inst.setBackend('apiservers', false);
    clock.advance(withinMs);
    assert.equal(b.inst.machine.state, 'master', `weight ${weight}: the backup takes over within ${withinMs} ms`);
    clock.advance(2);
    assert.equal(a.inst.machine.state, expectA, `weight ${weight}`);
    assert.deepEqual(a.host.vips, []);
    assert.deepEqual(b.host.vips, ['10.0.0.100']);
    assert.equal(a.inst.status().effectivePriority, weight === 0 ? 150 : 90);
    a.inst.setBackend('apiservers', true);
    clock.advance(weight === 0 ? 400 : 5); // out of FAULT, a waits for the master down interval (or a lower advert) first
    assert.equal(a.inst.machine.state, 'master', 'recovered: preempts back');
  }
});

test('instance: a rebooted higher-priority node takes the VIP only after its tracked backend passed a check, and after preemptDelay', () => {
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const b = node(net, net.host('b', '10.0.0.2'), { priority: 100 });
  b.inst.start();
  clock.advance(2000);
  assert.equal(b.inst.machine.state, 'master');
  // a (150) boots: its checks have not run yet, so it does not preempt at the first advert it hears
  const a = node(net, net.host('a', '10.0.0.1'), { priority: 150, preemptDelay: '5s', track: { backends: ['apiservers'] } }, true);
  a.inst.start();
  clock.advance(10_000);
  assert.equal(a.inst.machine.state, 'fault');
  assert.match(a.inst.status().fault ?? '', /backend apiservers: waiting for its first passed check/);
  assert.deepEqual(b.host.vips, ['10.0.0.100'], 'the VIP stays where it is served');
  a.inst.setBackend('apiservers', true); // the first check passed
  clock.advance(4000);
  assert.equal(a.inst.machine.state, 'backup', 'preemptDelay (5 s since start-up or since the master was first seen) holds it back');
  clock.advance(2000);
  assert.equal(a.inst.machine.state, 'master');
  assert.deepEqual(b.host.vips, []);

  // the bootstrap case: a lone node takes the VIP as soon as its first apiserver answers a check
  const clock2 = new FakeClock(0);
  const net2 = new FakeNetwork(clock2);
  const lone = node(net2, net2.host('m1', '10.0.0.1'), { priority: 150, preemptDelay: '5s', track: { backends: ['apiservers'] } }, true);
  lone.inst.start();
  clock2.advance(5000);
  assert.deepEqual(lone.host.vips, [], 'no VIP while no apiserver answers');
  lone.inst.setBackend('apiservers', true);
  clock2.advance(400); // the master down interval after the fault cleared; preemptDelay does not apply without a master to preempt
  assert.deepEqual(lone.host.vips, ['10.0.0.100']);
});

test('instance: a link going down faults the instance; track.interfaces likewise', () => {
  const { clock, nodes } = bed(150, 100);
  for (const n of nodes) n.inst.start();
  clock.advance(2000);
  nodes[0]!.host.linkUp = false;
  clock.advance(100 + 62); // the next link poll, then Skew_Time
  assert.equal(states(nodes), 'fault master');
  assert.match(nodes[0]!.inst.status().fault ?? '', /interface eth0 down/);
  nodes[0]!.host.linkUp = true;
  clock.advance(200);
  assert.equal(states(nodes), 'master backup');
});

test('instance: malformed and foreign packets are dropped and counted by reason, never thrown', () => {
  const { clock, nodes } = bed(100);
  const n = nodes[0]!;
  n.inst.start();
  const adv = (over: Record<string, unknown> = {}, ends = { src: '10.0.0.9', dst: '224.0.0.18' }) =>
    encodeAdvert({ version: 3, vrid: 51, priority: 200, advertIntervalCs: 10, addresses: ['10.0.0.100'], authPass: '', ...over } as never, ends);
  const ip = (m: Uint8Array, ttl = 255, src = '10.0.0.9') => encodeIpv4({ tos: 0, id: 0, ttl, protocol: 112, src, dst: '224.0.0.18' }, m);
  const bad = new Uint8Array(ip(adv()));
  bad[30] = bad[30]! ^ 0xff;
  n.host.receive(bad);
  n.host.receive(ip(adv(), 64));
  n.host.receive(ip(adv({ version: 2, authPass: 'x', advertIntervalCs: 100 })));
  n.host.receive(ip(adv({ vrid: 52 }))); // another router's VRID: not ours, not counted
  n.host.receive(new Uint8Array([0x45, 0, 0, 20]));
  n.host.receive(ip(adv()));
  clock.advance(10);
  const s = n.inst.status();
  assert.deepEqual(s.adverts.dropped, { checksum: 1, ttl: 1, auth: 1, truncated: 1 });
  assert.deepEqual(s.adverts.droppedBySource.map((d) => [d.source, d.dropped, d.lastReason]), [['10.0.0.9', 3, 'auth'], ['unknown', 1, 'truncated']]);
  assert.equal(s.adverts.received, 1);
  assert.equal(s.state, 'backup');
  assert.equal(n.logs.filter((l) => l.fields.event === 'vrrp-vips-mismatch').length, 0, 'same VIPs: no warning');
  n.host.receive(ip(adv({ addresses: ['10.0.0.101'] })));
  n.host.receive(ip(adv({ addresses: ['10.0.0.101'] })));
  assert.equal(n.logs.filter((l) => l.fields.event === 'vrrp-vips-mismatch').length, 1, 'other VIPs: warned once per sender');
});

test('instance: a stranger advertising a low priority as master is ignored by the backup, reported once as a second master', () => {
  const { clock, nodes } = bed(200, 100);
  for (const n of nodes) n.inst.start();
  clock.advance(2000);
  assert.equal(states(nodes), 'master backup');
  const [master, backup] = nodes as [ReturnType<typeof node>, ReturnType<typeof node>];
  const before = backup.inst.status().transitions;
  const forged = encodeIpv4({ tos: 0, id: 0, ttl: 255, protocol: 112, src: '10.0.0.7', dst: '224.0.0.18' },
    encodeAdvert({ version: 3, vrid: 51, priority: 1, advertIntervalCs: 10, addresses: ['10.0.0.100'], authPass: '' }, { src: '10.0.0.7', dst: '224.0.0.18' }));
  for (let i = 0; i < 3000; i++) {
    backup.host.receive(forged);
    master.host.receive(forged);
    clock.advance(3); // ~330 forged adverts a second for 9 s
  }
  assert.equal(states(nodes), 'master backup');
  const s = backup.inst.status();
  assert.equal(s.transitions, before, 'the backup never left BACKUP');
  assert.deepEqual(s.master, { address: '10.0.0.1', priority: 200 });
  assert.equal(s.adverts.dropped.second_master, 3000);
  assert.deepEqual(s.adverts.droppedBySource.map((d) => [d.source, d.dropped, d.lastReason]), [['10.0.0.7', 3000, 'second_master']]);
  assert.equal(s.secondMaster.events, 1, 'one episode');
  assert.equal(s.secondMaster.last?.source, '10.0.0.7');
  assert.ok(s.adverts.maxGapMs <= 103, `the master's adverts were measured apart from the stranger's (${s.adverts.maxGapMs} ms)`);
  assert.equal(backup.logs.filter((l) => l.fields.event === 'vrrp-second-master').length, 1);
  assert.ok(backup.logs.filter((l) => l.fields.event === 'vrrp-dropped').length <= 1, 'drops are logged at most once per 10 s');
  // The master answered, but not once per forged advert.
  const sent = master.inst.status().adverts.sent;
  assert.ok(sent < 9000 / 25 + 9000 / 100 + 10, `master sent ${sent} adverts`);
});

test('instance: v2 with PASS and unicast peers; an advert from an address that is not a peer is dropped and reported', () => {
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const v2 = { version: 2, advertInterval: '1s', authPass: 'k8s-ha' };
  const a = node(net, net.host('a', '10.0.0.1'), { ...v2, priority: 150, unicastPeers: ['10.0.0.2'] });
  const b = node(net, net.host('b', '10.0.0.2'), { ...v2, priority: 100, unicastPeers: ['10.0.0.1'] });
  const rogue = node(net, net.host('r', '10.0.0.3'), { ...v2, priority: 200, unicastPeers: ['10.0.0.2'] });
  a.inst.start();
  b.inst.start();
  clock.advance(5000);
  assert.equal(states([a, b]), 'master backup');
  rogue.inst.start();
  clock.advance(5000);
  assert.equal(b.inst.machine.state, 'backup');
  assert.ok((b.inst.status().adverts.dropped.unknown_peer ?? 0) > 0);
  assert.ok(b.inst.status().duplicateVip.events > 0);
  assert.equal(b.inst.status().master?.address, '10.0.0.1', 'the rogue is not followed');
});

test('instance: duplicate VIP — an ARP from another MAC claiming the VIP is counted; stepDown releases it for holdTime', () => {
  const { clock, net, nodes } = bed(150);
  const a = nodes[0]!;
  const other = net.host('x', '10.0.0.77');
  a.inst.start();
  clock.advance(1000);
  assert.equal(a.inst.machine.state, 'master');
  other.sendFrame('eth0', garpFrame(other.mac, '10.0.0.100'));
  other.sendFrame('eth0', garpFrame(other.mac, '10.0.0.100'));
  assert.equal(a.inst.status().duplicateVip.events, 0, 'judged one advert interval later (a preempting peer would have demoted us by then)');
  clock.advance(100);
  assert.equal(a.inst.status().duplicateVip.events, 1, 'one event for the burst');
  assert.equal(a.inst.machine.state, 'master', 'policy warn keeps the VIP');
  assert.ok(a.logs.some((l) => l.fields.event === 'vrrp-duplicate-vip'));

  const clock2 = new FakeClock(0);
  const net2 = new FakeNetwork(clock2);
  const s = node(net2, net2.host('s', '10.0.0.1'), { duplicateVip: { policy: 'stepDown', holdTime: '5s' } });
  const x = net2.host('x', '10.0.0.77');
  s.inst.start();
  clock2.advance(1000);
  x.sendFrame('eth0', garpFrame(x.mac, '10.0.0.100'));
  clock2.advance(100);
  assert.equal(s.inst.machine.state, 'fault');
  assert.deepEqual(s.host.vips, []);
  clock2.advance(5000 + 500);
  assert.equal(s.inst.machine.state, 'master', 'back after the hold time');
});

test('instance: a stale VIP from a killed predecessor is removed at start; a partition heals to exactly one master', () => {
  const { clock, nodes } = bed(150, 100);
  nodes[1]!.host.addAddress('eth0', '10.0.0.100/24');
  for (const n of nodes) n.inst.start();
  assert.deepEqual(nodes[1]!.host.vips, []);
  assert.ok(nodes[1]!.logs.some((l) => l.fields.event === 'vrrp-stale-vip'));
  clock.advance(2000);
  nodes[0]!.host.cut = true; // unplug the master: the backup takes over, two masters
  clock.advance(1000);
  assert.equal(states(nodes), 'master master');
  nodes[0]!.host.cut = false;
  const t0 = clock.now();
  while (states(nodes) !== 'master backup' && clock.now() - t0 < 1000) clock.advance(1);
  assert.equal(states(nodes), 'master backup');
  assert.ok(clock.now() - t0 <= 102, `healed in ${clock.now() - t0} ms (one advert interval)`);
  assert.deepEqual(nodes.map((n) => n.host.vips.length), [1, 0]);
});

test('instance: notify hooks run with instance, state and priority; a weight that cannot move the VIP is warned about', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-notify-'));
  const out = join(dir, 'out');
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const hook = `echo "$KUBEHA_VRRP_INSTANCE $KUBEHA_VRRP_STATE $KUBEHA_VRRP_PRIORITY" >> ${out}`; // keepalived appends: INSTANCE name STATE priority
  const a = node(net, net.host('a', '10.0.0.1'), { priority: 200 });
  const b = node(net, net.host('b', '10.0.0.2'), { priority: 100, notify: { backup: hook, master: hook }, track: { backends: ['api'], backendWeight: -20 } });
  a.inst.start();
  b.inst.start();
  clock.advance(1000);
  a.inst.stop();
  clock.advance(1000);
  for (let i = 0; i < 100 && (readFileSafe(out).match(/\n/g)?.length ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(readFileSafe(out), 'VI_1 backup 100 INSTANCE VI_1 BACKUP 100\nVI_1 master 100 INSTANCE VI_1 MASTER 100\n');
  const warn = b.logs.find((l) => l.fields.event === 'vrrp-weight-gap');
  assert.ok(warn, 'gap 100 with a weight of 20: warned');
  assert.match(warn.msg, /can never move/);
});

test('instance: notify hooks run one at a time in transition order; one that hangs is killed at notify.timeout and the next runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-notify-'));
  const out = join(dir, 'out');
  const lines = () => readFileSafe(out).split('\n').filter(Boolean);
  const waitLines = async (n: number) => {
    for (let i = 0; i < 150 && lines().length < n; i++) await new Promise((r) => setTimeout(r, 20));
  };
  // The backup hook is slow: run at once, the master hook would finish first and its effect be undone.
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const a = node(net, net.host('a', '10.0.0.1'), { priority: 200 });
  const b = node(net, net.host('b', '10.0.0.2'), { priority: 100, notify: { backup: `sleep 0.3; echo backup >> ${out}; :`, master: `echo master >> ${out}; :` } });
  a.inst.start();
  b.inst.start();
  clock.advance(1000);
  a.inst.stop();
  clock.advance(1000);
  assert.equal(b.inst.machine.state, 'master');
  await waitLines(2);
  assert.deepEqual(lines(), ['backup', 'master'], 'the master hook ran after the slow backup hook');

  // A backup hook that never ends: killed at the timeout (on the instance's clock), then the master hook runs.
  const out2 = join(dir, 'out2');
  const clock2 = new FakeClock(0);
  const net2 = new FakeNetwork(clock2);
  const c = node(net2, net2.host('c', '10.0.0.1'), { priority: 200 });
  const d = node(net2, net2.host('d', '10.0.0.2'), { priority: 100, notify: { backup: 'sleep 30; :', master: `echo master >> ${out2}; :`, timeout: '5s' } });
  c.inst.start();
  d.inst.start();
  clock2.advance(1000);
  c.inst.stop();
  clock2.advance(1000);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(readFileSafe(out2), '', 'waits behind the hanging hook');
  clock2.advance(5000);
  for (let i = 0; i < 150 && readFileSafe(out2) === ''; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(readFileSafe(out2), 'master\n');
  assert.ok(d.logs.some((l) => l.fields.event === 'vrrp-notify-failed' && l.fields.code === 'timeout'), 'the kill is logged');
});

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
