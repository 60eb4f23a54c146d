import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BfdDecodeError, type BfdEffect, type BfdPacket, type BfdSession, Diag, SLOW_TX_US, adminDownBfd, bfdDeadline, decodeBfd, detectionTimeMs, encodeBfd, newBfdSession, receiveBfd, tickBfd,
} from '../../src/bgp/bfd.js';

const peer = (over: Partial<BfdPacket> = {}): BfdPacket => ({
  version: 1, diag: 0, state: 'down', poll: false, final: false, controlPlaneIndependent: false, authPresent: false, demand: false, multipoint: false,
  detectMult: 3, myDiscriminator: 77, yourDiscriminator: 0, desiredMinTxUs: 100_000, requiredMinRxUs: 100_000, requiredMinEchoRxUs: 0, ...over,
});
const rng = () => 1;
const sentPackets = (effects: BfdEffect[]) => effects.flatMap((e) => (e.kind === 'send' ? [decodeBfd(e.bytes)] : []));

test('bfd codec: the 24-byte control packet, and the RFC 5880 §6.8.6 checks that drop a packet', () => {
  const p = peer({ state: 'up', poll: true, yourDiscriminator: 5, diag: Diag.neighborDown });
  const bytes = encodeBfd(p);
  // version 1 diag 3 → 0x23; state up (3<<6) | P → 0xe0; mult 3; length 24
  assert.deepEqual([...bytes.subarray(0, 4)], [0x23, 0xe0, 3, 24]);
  assert.deepEqual(decodeBfd(bytes), p);
  const bad: [string, (b: Uint8Array) => void, string][] = [
    ['version 2', (b) => (b[0] = 0x40), 'version'],
    ['length 30', (b) => (b[3] = 30), 'length'],
    ['detect mult 0', (b) => (b[2] = 0), 'detect_mult'],
    ['multipoint', (b) => (b[1]! |= 1), 'multipoint'],
    ['my discriminator 0', (b) => b.fill(0, 4, 8), 'discriminator'],
    ['your discriminator 0 while up', (b) => b.fill(0, 8, 12), 'discriminator'],
    ['auth bit without the auth section', (b) => (b[1]! |= 4), 'length'],
  ];
  for (const [name, mutate, reason] of bad) {
    const b = bytes.slice();
    mutate(b);
    assert.throws(() => decodeBfd(b), (e: unknown) => e instanceof BfdDecodeError && e.reason === reason, name);
  }
  const authed = new Uint8Array(26);
  authed.set(bytes);
  authed[1]! |= 4;
  authed[3] = 26;
  assert.throws(() => decodeBfd(authed), (e: unknown) => e instanceof BfdDecodeError && e.reason === 'auth', 'authenticated, but kubeha configures no key');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
    try {
      decodeBfd(b);
    } catch (e) {
      assert.ok(e instanceof BfdDecodeError);
    }
  }), { numRuns: 2000 });
});

test('bfd codec (property): decode(encode(p)) = p for every valid control packet', () => {
  const packet = fc.record({
    version: fc.constant(1), diag: fc.integer({ min: 0, max: 31 }), state: fc.constantFrom('adminDown' as const, 'down' as const, 'init' as const, 'up' as const),
    poll: fc.boolean(), final: fc.boolean(), controlPlaneIndependent: fc.boolean(), authPresent: fc.constant(false), demand: fc.boolean(), multipoint: fc.constant(false),
    detectMult: fc.integer({ min: 1, max: 255 }), myDiscriminator: fc.integer({ min: 1, max: 0xffffffff }), yourDiscriminator: fc.integer({ min: 1, max: 0xffffffff }),
    desiredMinTxUs: fc.nat(0xffffffff), requiredMinRxUs: fc.nat(0xffffffff), requiredMinEchoRxUs: fc.nat(0xffffffff),
  }, { noNullPrototype: true });
  fc.assert(fc.property(packet, (p) => assert.deepEqual(decodeBfd(encodeBfd(p)), p)), { numRuns: 1000 });
});

test('bfd session: the three-way handshake to Up, a Poll Sequence to the fast pace, and Down after interval × multiplier of silence', () => {
  let s: BfdSession = newBfdSession({ localDiscriminator: 5, intervalMs: 100, multiplier: 3 }, 0);
  const go = (out: { session: BfdSession; effects: BfdEffect[] }) => {
    s = out.session;
    return out.effects;
  };
  // the first packet goes out at once, at the slow pace (§6.8.3: 1 s while not Up)
  const first = sentPackets(go(tickBfd(s, 0, rng)));
  assert.deepEqual(first.map((p) => [p.state, p.desiredMinTxUs, p.yourDiscriminator]), [['down', SLOW_TX_US, 0]]);
  assert.equal(s.txAt, 1000);
  // peer Down → Init (sent at once); peer Init → Up
  let e = go(receiveBfd(s, peer({ state: 'down' }), 10, rng));
  assert.equal(s.state, 'init');
  assert.deepEqual(sentPackets(e).map((p) => [p.state, p.yourDiscriminator]), [['init', 77]]);
  e = go(receiveBfd(s, peer({ state: 'up', yourDiscriminator: 5, desiredMinTxUs: SLOW_TX_US }), 20, rng));
  assert.equal(s.state, 'up');
  assert.deepEqual(e.map((x) => x.kind), ['up', 'send']);
  const announced = sentPackets(e)[0]!;
  assert.deepEqual([announced.state, announced.poll, announced.desiredMinTxUs], ['up', true, 100_000], 'the fast pace, through a Poll');
  assert.equal(s.txAt, 120, 'sending every 100 ms now (rng 1: no jitter)');
  // the peer answers with F and its own fast pace: the poll ends, detection is 3 × 100 ms
  go(receiveBfd(s, peer({ state: 'up', yourDiscriminator: 5, final: true }), 50, rng));
  assert.equal(s.polling, false);
  assert.equal(detectionTimeMs(s), 300);
  assert.equal(s.detectAt, 350);
  // a Poll from the peer is answered at once with F
  e = go(receiveBfd(s, peer({ state: 'up', yourDiscriminator: 5, poll: true }), 60, rng));
  assert.deepEqual(sentPackets(e).map((p) => [p.final, p.poll]), [[true, false]]);
  assert.equal(bfdDeadline(s), 160);
  // silence: Down with diag 1 at 360, not before
  assert.deepEqual(go(tickBfd(s, 359, rng)).map((x) => x.kind), ['send']);
  e = go(tickBfd(s, 360, rng));
  assert.equal(s.state, 'down');
  assert.deepEqual(e.map((x) => x.kind), ['down', 'send']);
  assert.equal(sentPackets(e)[0]!.diag, Diag.detectionExpired);
  assert.equal(s.desiredMinTxUs, SLOW_TX_US);
});

test('bfd session: the peer going Down or AdminDown takes the session Down (diag 3); admin down tells the peer', () => {
  let s = newBfdSession({ localDiscriminator: 5, intervalMs: 100, multiplier: 3 }, 0);
  s = receiveBfd(s, peer({ state: 'init' }), 0, rng).session;
  assert.equal(s.state, 'up', 'Down + peer Init → Up');
  const out = receiveBfd(s, peer({ state: 'down', yourDiscriminator: 5 }), 10, rng);
  assert.deepEqual(out.effects.map((x) => x.kind), ['down', 'send']);
  assert.equal(out.session.localDiag, Diag.neighborDown);
  // a packet for another discriminator is ignored
  assert.equal(receiveBfd(s, peer({ state: 'down', yourDiscriminator: 6 }), 10, rng).session, s);
  const admin = adminDownBfd(s, 20);
  assert.deepEqual(sentPackets(admin.effects).map((p) => [p.state, p.diag]), [['adminDown', Diag.adminDown]]);
  assert.equal(admin.session.txAt, undefined);
});
