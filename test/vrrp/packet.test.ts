import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  decodeAdvert, decodeIpv4, decodePacket, encodeAdvert, encodeIpv4, internetChecksum, ipv4ToNumber, VrrpDecodeError, type Advert,
} from '../../src/vrrp/packet.js';
import { garpFrame, parseArp } from '../../src/vrrp/arp.js';

/** Packets sent by Debian keepalived 2.2.7, captured in a network-namespace test bed (see the file's `source`). */
const fixtures = JSON.parse(readFileSync(new URL('../../../test/vrrp/fixtures/keepalived-2.2.7.json', import.meta.url), 'utf8')) as Record<string, string>;
const hex = (name: string) => new Uint8Array(Buffer.from(fixtures[name]!, 'hex'));

test('codec: keepalived packets decode to what keepalived was configured with', () => {
  const table: [string, string, Partial<Advert> & { src: string; dst: string }][] = [
    ['v2PassMulticast', 's3cret', { version: 2, vrid: 51, priority: 150, advertIntervalCs: 100, addresses: ['192.0.2.55'], authPass: 's3cret', src: '192.0.2.1', dst: '224.0.0.18' }],
    ['v2PassPriorityZero', 's3cret', { version: 2, vrid: 51, priority: 0, src: '192.0.2.1', dst: '224.0.0.18' }],
    ['v3Multicast100ms', '', { version: 3, vrid: 52, priority: 120, advertIntervalCs: 10, addresses: ['192.0.2.56', '192.0.2.57'], src: '192.0.2.1', dst: '224.0.0.18' }],
    ['v3Unicast500ms', '', { version: 3, vrid: 53, priority: 110, advertIntervalCs: 50, addresses: ['192.0.2.58'], src: '192.0.2.1', dst: '192.0.2.2' }],
  ];
  for (const [name, authPass, want] of table) {
    const { ip, advert } = decodePacket(hex(name), { authPass });
    const { src, dst, ...fields } = want;
    assert.equal(ip.src, src, name);
    assert.equal(ip.dst, dst, name);
    assert.equal(ip.ttl, 255, name);
    for (const [k, v] of Object.entries(fields)) assert.deepEqual(advert[k as keyof Advert], v, `${name}.${k}`);
  }
});

test('codec: a captured keepalived packet re-encodes byte for byte (v2 PASS, v3 multicast and unicast)', () => {
  for (const name of ['v2PassMulticast', 'v2PassPriorityZero', 'v3Multicast100ms', 'v3Unicast500ms']) {
    const bytes = hex(name);
    const { ip, advert } = decodePacket(bytes, { authPass: name.startsWith('v2') ? 's3cret' : '' });
    const again = encodeIpv4(decodeIpv4(bytes), encodeAdvert(advert, ip));
    assert.equal(Buffer.from(again).toString('hex'), Buffer.from(bytes).toString('hex'), name);
  }
});

test('codec: drops with a reason, table', () => {
  const v3 = hex('v3Multicast100ms');
  const mutate = (bytes: Uint8Array, at: number, value: number) => {
    const c = new Uint8Array(bytes);
    c[at] = value;
    return c;
  };
  const table: [string, Uint8Array, string, string][] = [
    ['TTL 254 (crossed a router)', mutate(v3, 8, 254), '', 'ttl'],
    ['flipped address bit', mutate(v3, 28, v3[28]! ^ 1), '', 'checksum'],
    ['version 4', mutate(v3, 20, 0x41), '', 'version'],
    ['type 2', mutate(v3, 20, 0x32), '', 'type'],
    ['count larger than the packet', mutate(v3, 23, 9), '', 'length'],
    ['not VRRP', mutate(v3, 9, 17), '', 'not_vrrp'],
    ['IP version 5', mutate(v3, 0, 0x55), '', 'not_ipv4'],
    ['IPv6 version nibble on 36 bytes', mutate(v3, 0, 0x60), '', 'truncated'],
    ['truncated', v3.subarray(0, 24), '', 'truncated'],
    ['wrong password', hex('v2PassMulticast'), 'other', 'auth'],
    ['password expected, none sent', encodeIpv4({ tos: 0, id: 0, ttl: 255, protocol: 112, src: '10.0.0.1', dst: '224.0.0.18' },
      encodeAdvert({ version: 2, vrid: 1, priority: 100, advertIntervalCs: 100, addresses: ['10.0.0.9'], authPass: '' })), 'pw', 'auth'],
  ];
  for (const [what, bytes, authPass, reason] of table) {
    assert.throws(() => decodePacket(bytes, { authPass }), (e: unknown) => e instanceof VrrpDecodeError && e.reason === reason, what);
  }
});

test('codec: v2 interval is whole seconds, v3 centiseconds in 12 bits; a v3 checksum depends on the destination', () => {
  const a: Advert = { version: 2, vrid: 7, priority: 100, advertIntervalCs: 10, addresses: ['10.0.0.9'], authPass: 'longerthan8' };
  const m2 = encodeAdvert(a);
  assert.equal(m2[5], 1, '100 ms rounds up to 1 s in v2');
  assert.equal(m2.length, 8 + 4 + 8);
  assert.equal(decodeAdvert(m2, { src: '0.0.0.0', dst: '0.0.0.0' }, { authPass: 'longerthan8' }).authPass, 'longerth', 'PASS is truncated to 8 bytes, as keepalived does');
  const m3 = encodeAdvert({ ...a, version: 3, advertIntervalCs: 4095, authPass: '' }, { src: '10.0.0.1', dst: '224.0.0.18' });
  assert.equal(((m3[4]! & 0xf) << 8) | m3[5]!, 4095);
  assert.throws(() => decodeAdvert(m3, { src: '10.0.0.1', dst: '10.0.0.2' }), /checksum/);
  assert.equal(internetChecksum(new Uint8Array([0x45, 0x00, 0x00])), 0xbaff, 'an odd byte is padded with zero');
  assert.ok(ipv4ToNumber('10.0.0.2') > ipv4ToNumber('10.0.0.1'));
  assert.ok(ipv4ToNumber('192.0.2.1') > ipv4ToNumber('10.255.255.255'), 'compared unsigned');
});

const ipArb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const advertArb: fc.Arbitrary<Advert> = fc.oneof(
  fc.record({
    version: fc.constant(2 as const),
    vrid: fc.integer({ min: 1, max: 255 }),
    priority: fc.nat(255),
    advertIntervalCs: fc.integer({ min: 1, max: 255 }).map((s) => s * 100),
    addresses: fc.array(ipArb, { minLength: 1, maxLength: 20 }),
    authPass: fc.stringMatching(/^[!-~]{0,8}$/),
  }),
  fc.record({
    version: fc.constant(3 as const),
    vrid: fc.integer({ min: 1, max: 255 }),
    priority: fc.nat(255),
    advertIntervalCs: fc.integer({ min: 1, max: 4095 }),
    addresses: fc.array(ipArb, { minLength: 1, maxLength: 20 }),
    authPass: fc.constant(''),
  }),
);

test('codec property: decode(encode(x)) = x, through a whole IPv4 packet', () => {
  fc.assert(
    fc.property(advertArb, ipArb, ipArb, (a, src, dst) => {
      const packet = encodeIpv4({ tos: 0xc0, id: 1, ttl: 255, protocol: 112, src, dst }, encodeAdvert(a, { src, dst }));
      assert.deepEqual(decodePacket(packet, { authPass: a.authPass }).advert, { ...a });
    }),
    { numRuns: 2000 },
  );
});

test('codec property: random bytes never throw anything but VrrpDecodeError', () => {
  const header = fc.uint8Array({ minLength: 0, maxLength: 80 });
  // Half of the inputs start like a real VRRP packet so the fuzzing reaches past the IP header.
  const looksReal = fc.tuple(fc.uint8Array({ minLength: 0, maxLength: 60 }), fc.nat(255)).map(([tail, n]) => {
    const p = new Uint8Array(20 + tail.length);
    p.set([0x45, 0, 0, p.length, 0, 0, 0, 0, 255, 112], 0);
    p.set(tail, 20);
    if (tail.length > 3) p[23] = n % 8;
    return p;
  });
  fc.assert(
    fc.property(fc.oneof(header, looksReal), fc.stringMatching(/^[a-z]{0,8}$/), (bytes, authPass) => {
      try {
        decodePacket(bytes, { authPass });
      } catch (e) {
        if (!(e instanceof VrrpDecodeError)) throw e;
      }
    }),
    { numRuns: 5000 },
  );
});

test('ARP: kubeha\'s gratuitous ARP is byte for byte the frame keepalived sends; random bytes never throw', () => {
  const captured = hex('garpFrame');
  const claim = parseArp(captured);
  assert.deepEqual(claim, { op: 'request', senderMac: '12:f3:0b:59:57:58', senderIp: '192.0.2.55', targetIp: '192.0.2.55' });
  const mac = new Uint8Array(Buffer.from('12f30b595758', 'hex'));
  assert.equal(Buffer.from(garpFrame(mac, '192.0.2.55')).toString('hex'), fixtures.garpFrame);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
    const r = parseArp(bytes);
    assert.ok(r === undefined || typeof r.senderIp === 'string');
  }), { numRuns: 2000 });
});
