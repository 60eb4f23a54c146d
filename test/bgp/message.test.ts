import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AS_TRANS, type AsPathSegment, BgpDecodeError, type BgpMessage, type CodecContext, ErrorCode, HeaderSubcode, OpenSubcode, UpdateSubcode,
  decodeMessage, describeNotification, encodeKeepalive, encodeMessage, encodeOpen, encodeUpdate, messageLength,
} from '../../src/bgp/message.js';
import { bytesToIpv6 } from '../../src/vrrp/packet.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const MARKER = 'ff'.repeat(16);
const four: CodecContext = { fourOctetAs: true };
const two: CodecContext = { fourOctetAs: false };

test('codec: a KEEPALIVE is the 19-byte header; an OPEN carries AS_TRANS and the 4-octet AS in its capability (RFC 6793)', () => {
  assert.equal(Buffer.from(encodeKeepalive()).toString('hex'), `${MARKER}001304`);
  const open = encodeOpen({ version: 4, asn: 4_200_000_001, holdTimeS: 9, bgpId: '10.0.0.1', capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 2 }, { code: 65, asn: 4_200_000_001 }] });
  // version 4, My AS 23456 (AS_TRANS), hold 9, id 10.0.0.1, one Capabilities parameter of 14 bytes
  assert.equal(Buffer.from(open).toString('hex'), `${MARKER}002d01 04 5ba0 0009 0a000001 10 020e 0104 00010001 0200 4104 fa56ea01`.replace(/\s/g, ''));
  const back = decodeMessage(open, two);
  assert.equal(back.type === 'open' && back.asn, 4_200_000_001);
  assert.equal(AS_TRANS, 0x5ba0);
});

test('codec: an UPDATE announcing a /32 with ORIGIN, AS_PATH, NEXT_HOP, MED and communities, byte for byte', () => {
  const bytes = encodeUpdate({ withdrawn: [], attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [64512, 64512] }], nextHop: '10.0.0.1', med: 155, communities: ['64512:100'] }, nlri: ['10.8.4.55/32'] }, four);
  const attrs = '400101 00' + '40020a 0202 0000fc00 0000fc00' + '400304 0a000001' + '800404 0000009b' + 'c00804 fc000064';
  const body = `0000 ${(attrs.replace(/\s/g, '').length / 2).toString(16).padStart(4, '0')} ${attrs} 20 0a080437`;
  const len = 19 + body.replace(/\s/g, '').length / 2;
  assert.equal(Buffer.from(bytes).toString('hex'), `${MARKER}${len.toString(16).padStart(4, '0')}02${body.replace(/\s/g, '')}`);
  assert.equal(messageLength(bytes), len);
  // 2-octet AS_PATH when the 4-octet capability was not negotiated
  const old = decodeMessage(encodeUpdate({ withdrawn: ['10.8.4.0/24'], attributes: {}, nlri: [] }, two), two);
  assert.deepEqual(old, { type: 'update', withdrawn: ['10.8.4.0/24'], attributes: {}, nlri: [] });
});

test('codec: every malformed message gets the NOTIFICATION code RFC 4271 §6 names', () => {
  const update = (attrs: string, nlri = '200a080437') => hex(`${MARKER}${(19 + 4 + attrs.length / 2 + nlri.length / 2).toString(16).padStart(4, '0')}02 0000 ${(attrs.length / 2).toString(16).padStart(4, '0')} ${attrs} ${nlri}`.replace(/\s/g, ''));
  const good = '40010100' + '400200' + '4003040a000001';
  const table: [string, Uint8Array, number, number, boolean][] = [
    ['marker', hex(`${'ff'.repeat(15)}00 0013 04`), ErrorCode.header, HeaderSubcode.notSynchronized, false],
    ['keepalive with a body', hex(`${MARKER}0014 04 00`), ErrorCode.header, HeaderSubcode.badLength, false],
    ['length field disagrees', hex(`${MARKER}0020 04`), ErrorCode.header, HeaderSubcode.badLength, false],
    ['unknown type', hex(`${MARKER}0013 09`), ErrorCode.header, HeaderSubcode.badType, false],
    ['version 3', hex(`${MARKER}001d 01 03 fc00 0009 0a000001 00`), ErrorCode.open, OpenSubcode.unsupportedVersion, false],
    ['optional parameter 1', hex(`${MARKER}001f 01 04 fc00 0009 0a000001 02 0100`), ErrorCode.open, OpenSubcode.unsupportedOptionalParameter, false],
    ['withdrawn runs past', hex(`${MARKER}0017 02 0009 0000`), ErrorCode.update, UpdateSubcode.malformedAttributeList, false],
    ['missing NEXT_HOP', update('40010100' + '400200'), ErrorCode.update, UpdateSubcode.missingWellKnown, true],
    ['ORIGIN 7', update('40010107' + '400200' + '4003040a000001'), ErrorCode.update, UpdateSubcode.invalidOrigin, true],
    ['ORIGIN flagged optional', update('c0010100' + '400200' + '4003040a000001'), ErrorCode.update, UpdateSubcode.attributeFlags, true],
    ['NEXT_HOP of 3 bytes', update('40010100' + '400200' + '4003030a0000'), ErrorCode.update, UpdateSubcode.attributeLength, true],
    ['AS_PATH segment type 9', update('40010100' + '40020609010000fc00' + '4003040a000001'), ErrorCode.update, UpdateSubcode.malformedAsPath, true],
    ['ORIGIN twice', update('40010100' + good), ErrorCode.update, UpdateSubcode.malformedAttributeList, true],
    ['unknown well-known attribute', update(good + '4063020000'), ErrorCode.update, UpdateSubcode.unrecognizedWellKnown, true],
    ['NLRI /33', update(good, '210a08043700'), ErrorCode.update, UpdateSubcode.invalidNetwork, false],
    ['route refresh of 5 bytes', hex(`${MARKER}0018 05 0001000100`), ErrorCode.routeRefresh, 1, false],
  ];
  for (const [name, bytes, code, subcode, treatAsWithdraw] of table) {
    assert.throws(() => decodeMessage(bytes, four), (e: unknown) => {
      assert.ok(e instanceof BgpDecodeError, name);
      assert.deepEqual([e.code, e.subcode, e.treatAsWithdraw], [code, subcode, treatAsWithdraw], `${name}: ${e.message}`);
      return true;
    });
  }
  // an unknown optional attribute passes, kept raw
  const kept = decodeMessage(update(good + 'c06302beef'), four);
  assert.deepEqual(kept.type === 'update' && kept.attributes.other, [{ flags: 0xc0, code: 0x63, value: Uint8Array.of(0xbe, 0xef) }]);
  assert.equal(describeNotification(4, 0), 'Hold Timer Expired');
  assert.equal(describeNotification(6, 2), 'Cease / Administrative Shutdown');
});

test('codec: an IPv6 /128 in MP_REACH_NLRI (RFC 4760 §3) with no NEXT_HOP attribute, and its withdrawal in MP_UNREACH_NLRI, byte for byte', () => {
  const attributes = { origin: 'igp' as const, asPath: [{ type: 'sequence' as const, asns: [64512] }], mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::11'], nlri: ['2001:db8:55::10/128'] } };
  const bytes = encodeUpdate({ withdrawn: [], attributes, nlri: [] }, four);
  // optional non-transitive 14: AFI 2, SAFI 1, next hop of 16, Reserved, then /128 and its 16 bytes
  const mp = '800e 26 0002 01 10 20010db8000000000000000000000011 00 80 20010db8005500000000000000000010';
  const attrs = '400101 00' + '400206 0201 0000fc00' + mp;
  const body = `0000 ${(attrs.replace(/\s/g, '').length / 2).toString(16).padStart(4, '0')} ${attrs}`.replace(/\s/g, '');
  assert.equal(Buffer.from(bytes).toString('hex'), `${MARKER}${(19 + body.length / 2).toString(16).padStart(4, '0')}02${body}`);
  assert.deepEqual(decodeMessage(bytes, four), { type: 'update', withdrawn: [], attributes, nlri: [] });
  // withdrawal: MP_UNREACH_NLRI alone, no mandatory attributes (RFC 4760 §4)
  const gone = encodeUpdate({ withdrawn: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: ['2001:db8:55::10/128'] } }, nlri: [] }, four);
  assert.equal(Buffer.from(gone).toString('hex').slice(38), '0000 0017 800f 14 0002 01 80 20010db8005500000000000000000010'.replace(/\s/g, ''));
  assert.deepEqual(decodeMessage(gone, four), { type: 'update', withdrawn: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: ['2001:db8:55::10/128'] } }, nlri: [] });
  // a router's own IPv6 routes: a global and a link-local next hop (RFC 2545 §3), a shorter prefix, host bits cleared
  const router = hex(`${MARKER}004d 02 0000 0036 40010100 400200 800e 2c 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 30 20010db800ff`.replace(/\s/g, ''));
  const got = decodeMessage(router, four);
  assert.deepEqual(got.type === 'update' && got.attributes.mpReach, { afi: 2, safi: 1, nextHops: ['2001:db8::1', 'fe80::1'], nlri: ['2001:db8:ff::/48'] });
  // another family (here L2VPN EVPN, AFI 25 SAFI 70) is kept raw, not refused
  const evpn = hex(`${MARKER}002b 02 0000 0014 40010100 400200 800e 0a 0019 46 04 0a000001 00 00`.replace(/\s/g, ''));
  const other = decodeMessage(evpn, four);
  assert.deepEqual(other.type === 'update' && other.attributes.other?.map((o) => o.code), [14]);
});

test('codec: a malformed MP_REACH_NLRI or MP_UNREACH_NLRI resets the session (RFC 7606 §7.11); one with routes still needs ORIGIN and AS_PATH', () => {
  const update = (attrs: string) => hex(`${MARKER}${(19 + 4 + attrs.length / 2).toString(16).padStart(4, '0')}02 0000 ${(attrs.length / 2).toString(16).padStart(4, '0')} ${attrs}`.replace(/\s/g, ''));
  const mp = (nh: string, nlri: string) => { const v = `000201${(nh.length / 2).toString(16).padStart(2, '0')}${nh}00${nlri}`; return `800e${(v.length / 2).toString(16).padStart(2, '0')}${v}`; };
  const nh = '20010db8000000000000000000000011';
  const host = '8020010db8005500000000000000000010';
  const table: [string, Uint8Array, number, boolean][] = [
    ['next hop of 5 bytes', update('40010100400200' + mp('0a00000101', host)), UpdateSubcode.optionalAttribute, false],
    ['prefix /129', update('40010100400200' + mp(nh, '81' + '00'.repeat(17))), UpdateSubcode.optionalAttribute, false],
    ['prefix runs past the attribute', update('40010100400200' + mp(nh, '80' + '20010db8')), UpdateSubcode.optionalAttribute, false],
    ['MP_REACH flagged transitive', update('40010100400200' + 'c' + mp(nh, host).slice(1)), UpdateSubcode.attributeFlags, false],
    ['MP_UNREACH of 2 bytes', update('800f020002'), UpdateSubcode.optionalAttribute, false],
    ['MP routes without AS_PATH', update('40010100' + mp(nh, host)), UpdateSubcode.missingWellKnown, true],
  ];
  for (const [name, bytes, subcode, treatAsWithdraw] of table) {
    assert.throws(() => decodeMessage(bytes, four), (e: unknown) => {
      assert.ok(e instanceof BgpDecodeError, name);
      assert.deepEqual([e.code, e.subcode, e.treatAsWithdraw], [ErrorCode.update, subcode, treatAsWithdraw], `${name}: ${e.message}`);
      return true;
    });
  }
  // NEXT_HOP is not needed with the routes in MP_REACH_NLRI only
  assert.doesNotThrow(() => decodeMessage(update('40010100400200' + mp(nh, host)), four));
});

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const prefix = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 })).map(([n, len]) => {
  const masked = len === 0 ? 0 : (n & (0xffffffff << (32 - len))) >>> 0;
  return `${masked >>> 24}.${(masked >> 16) & 0xff}.${(masked >> 8) & 0xff}.${masked & 0xff}/${len}`;
});
const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const ipv6 = bytes16.map((b) => bytesToIpv6(b));
const prefix6 = fc.tuple(bytes16, fc.integer({ min: 0, max: 128 })).map(([b, len]) => {
  const masked = b.slice();
  for (let bit = len; bit < 128; bit++) masked[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${bytesToIpv6(masked)}/${len}`;
});
const asn = fc.integer({ min: 1, max: 0xffffffff });
const message = (ctx: CodecContext): fc.Arbitrary<BgpMessage> =>
  fc.oneof(
    fc.constant({ type: 'keepalive' as const }),
    fc.record({ type: fc.constant('notification' as const), code: fc.integer({ min: 1, max: 7 }), subcode: fc.nat(255), data: fc.uint8Array({ maxLength: 40 }) }, { noNullPrototype: true }),
    fc.record({ type: fc.constant('routeRefresh' as const), afi: fc.integer({ min: 1, max: 2 }), safi: fc.constant(1) }, { noNullPrototype: true }),
    asn.chain((a) =>
      fc.record({
        type: fc.constant('open' as const), version: fc.constant(4), asn: fc.constant(a), holdTimeS: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 65535 })), bgpId: ipv4,
        capabilities: fc.constant([{ code: 1, afi: 1, safi: 1 }, { code: 2 }, { code: 65, asn: a }] as const).map((c) => c.map((x) => ({ ...x }))),
      }, { noNullPrototype: true })),
    // IPv6 routes and withdrawals in the multiprotocol attributes (RFC 4760)
    fc.record({
      type: fc.constant('update' as const),
      withdrawn: fc.constant<string[]>([]),
      nlri: fc.constant<string[]>([]),
      attributes: fc.record({
        origin: fc.constantFrom('igp' as const, 'egp' as const),
        asPath: fc.constant<AsPathSegment[]>([]),
        mpReach: fc.record({ afi: fc.constant(2), safi: fc.constant(1), nextHops: fc.oneof(fc.tuple(ipv6), fc.tuple(ipv6, ipv6)), nlri: fc.array(prefix6, { minLength: 1, maxLength: 4 }) }, { noNullPrototype: true }),
        mpUnreach: fc.record({ afi: fc.constant(2), safi: fc.constant(1), withdrawn: fc.array(prefix6, { maxLength: 4 }) }, { noNullPrototype: true }),
      }, { requiredKeys: ['origin', 'asPath', 'mpReach'], noNullPrototype: true }),
    }, { noNullPrototype: true }),
    fc.record({
      type: fc.constant('update' as const),
      withdrawn: fc.array(prefix, { maxLength: 5 }),
      nlri: fc.array(prefix, { minLength: 1, maxLength: 5 }),
      attributes: fc.record(
        {
          origin: fc.constantFrom('igp' as const, 'egp' as const, 'incomplete' as const),
          asPath: fc.array(fc.record({ type: fc.constantFrom('set' as const, 'sequence' as const), asns: fc.array(ctx.fourOctetAs ? asn : fc.integer({ min: 1, max: 0xffff }), { minLength: 1, maxLength: 6 }) }, { noNullPrototype: true }), { maxLength: 3 }),
          nextHop: ipv4,
          med: fc.integer({ min: 0, max: 0xffffffff }),
          localPref: fc.integer({ min: 0, max: 0xffffffff }),
          communities: fc.array(fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([a, b]) => `${a}:${b}`), { minLength: 1, maxLength: 4 }),
          other: fc.array(fc.record({ flags: fc.constant(0xc0), code: fc.integer({ min: 20, max: 250 }), value: fc.uint8Array({ maxLength: 300 }) }, { noNullPrototype: true }), { minLength: 1, maxLength: 2 }).map((os) => os.filter((o, i) => os.findIndex((x) => x.code === o.code) === i)),
        },
        { requiredKeys: ['origin', 'asPath', 'nextHop'], noNullPrototype: true },
      ),
    }, { noNullPrototype: true }),
  );

test('codec (property): decode(encode(m)) = m for every message type, with 2- and 4-octet AS paths', () => {
  for (const ctx of [four, two]) {
    fc.assert(fc.property(message(ctx), (m) => {
      assert.deepEqual(decodeMessage(encodeMessage(m, ctx), ctx), m);
    }), { numRuns: 500 });
  }
});

test('codec (property): random bytes, and mutations of valid messages, never throw anything but a BgpDecodeError', () => {
  const typed = (bytes: Uint8Array) => {
    try {
      decodeMessage(bytes, four);
    } catch (e) {
      if (!(e instanceof BgpDecodeError)) throw e;
      assert.ok(e.code >= 1 && e.code <= 7);
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => typed(b)), { numRuns: 2000 });
  // a valid header with a random body reaches the body decoders
  fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 120 }), (type, body) => {
    const b = new Uint8Array(19 + body.length);
    b.fill(0xff, 0, 16);
    b[16] = b.length >> 8;
    b[17] = b.length & 0xff;
    b[18] = type;
    b.set(body, 19);
    typed(b);
  }), { numRuns: 3000 });
  fc.assert(fc.property(message(four), fc.nat(), fc.nat(255), (m, at, v) => {
    const b = encodeMessage(m, four).slice();
    b[19 + (at % Math.max(1, b.length - 19))] = v;
    typed(b);
  }), { numRuns: 2000 });
});
