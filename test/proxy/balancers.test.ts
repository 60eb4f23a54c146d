import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundRobin } from '../../src/proxy/round-robin.js';
import { LeastConn } from '../../src/proxy/least-conn.js';
import { SourceHash } from '../../src/proxy/source-hash.js';

interface T { id: string; effectiveWeight: number; active: number }
const srv = (id: string, effectiveWeight = 100, active = 0): T => ({ id, effectiveWeight, active });

test('roundrobin: smooth weighted order (nginx sequence for 5:1:1)', () => {
  const rr = new RoundRobin();
  const servers = [srv('a', 5), srv('b', 1), srv('c', 1)];
  const order = Array.from({ length: 7 }, () => rr.pick(servers)?.id).join('');
  assert.equal(order, 'aabacaa');
});

test('roundrobin: shares follow weights over many picks; equal weights alternate', () => {
  const rr = new RoundRobin();
  const servers = [srv('a', 100), srv('b', 50), srv('c', 25)];
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 700; i++) counts[rr.pick(servers)!.id]!++;
  assert.deepEqual(counts, { a: 400, b: 200, c: 100 });
  const eq = new RoundRobin();
  const two = [srv('x'), srv('y')];
  assert.equal(Array.from({ length: 4 }, () => eq.pick(two)?.id).join(''), 'xyxy');
});

test('roundrobin: a server leaving and coming back is not flooded; reconcile forgets removed ones', () => {
  const rr = new RoundRobin();
  const a = srv('a'), b = srv('b'), c = srv('c');
  for (let i = 0; i < 10; i++) rr.pick([a, b, c]);
  const seq = Array.from({ length: 6 }, () => rr.pick([a, c])?.id).join('');
  assert.equal(seq.length, 6);
  assert.ok(!seq.includes('b'));
  rr.reconcile(['a', 'c']);
  const back = Array.from({ length: 3 }, () => rr.pick([a, b, c])?.id).sort().join('');
  assert.equal(back, 'abc', 'after coming back each server gets one of the next three');
});

test('leastconn: fewest sessions per weight; ties rotate', () => {
  const lc = new LeastConn();
  const table: [T[], string][] = [
    [[srv('a', 100, 5), srv('b', 100, 2), srv('c', 100, 9)], 'b'],
    [[srv('a', 100, 4), srv('b', 50, 3)], 'a'],
    [[srv('a', 200, 9), srv('b', 100, 5)], 'a'],
  ];
  for (const [servers, want] of table) assert.equal(lc.pick(servers)?.id, want);
  const ties = [srv('a'), srv('b'), srv('c')];
  const picks = new Set(Array.from({ length: 3 }, () => lc.pick(ties)?.id));
  assert.equal(picks.size, 3, 'equal servers take turns');
});

test('source: the same client always lands on the same server', () => {
  const sh = new SourceHash();
  const servers = [srv('m1'), srv('m2'), srv('m3')];
  for (const client of ['10.0.0.1', '10.0.0.2', '192.168.1.77', '::1']) {
    const first = sh.pick(servers, client)?.id;
    for (let i = 0; i < 5; i++) assert.equal(sh.pick(servers, client)?.id, first);
  }
});

test('source: removing a server moves only its clients; adding one takes about 1/n', () => {
  const sh = new SourceHash();
  const three = [srv('m1'), srv('m2'), srv('m3')];
  const clients = Array.from({ length: 3000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const before = new Map(clients.map((c) => [c, sh.pick(three, c)!.id]));
  const counts = [...before.values()].reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());
  for (const n of counts.values()) assert.ok(n > 850 && n < 1150, `balanced: ${[...counts.values()]}`);
  const two = three.filter((s) => s.id !== 'm2');
  for (const c of clients) {
    if (before.get(c) !== 'm2') assert.equal(sh.pick(two, c)?.id, before.get(c), 'clients of m1/m3 stay');
  }
  const four = [...three, srv('m4')];
  const moved = clients.filter((c) => sh.pick(four, c)!.id !== before.get(c));
  for (const c of moved) assert.equal(sh.pick(four, c)?.id, 'm4', 'only moves to the new server');
  assert.ok(moved.length > 600 && moved.length < 900, `about a quarter moved: ${moved.length}`);
});

test('source: weights set the shares', () => {
  const sh = new SourceHash();
  const servers = [srv('a', 300), srv('b', 100)];
  let a = 0;
  for (let i = 0; i < 4000; i++) if (sh.pick(servers, `client-${i}`)?.id === 'a') a++;
  assert.ok(a > 2800 && a < 3200, `a got ${a} of 4000`);
});
