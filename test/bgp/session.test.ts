import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpDecodeError, type BgpMessage, decodeMessage, encodeOpen } from '../../src/bgp/message.js';
import { CONNECT_TIMEOUT_MS, OPEN_HOLD_MS, type RouteIntent, type Session, type SessionConfig, type SessionEffect, type SessionEvent, newSession, nextDeadline, step, tick, withheldReason } from '../../src/bgp/session.js';

const EBGP: SessionConfig = { localAsn: 64512, peerAsn: 65000, routerId: '10.0.0.2', holdTimeS: 9, passive: false, reconnectMinMs: 1000, reconnectMaxMs: 30_000, ipv6: false };
const VIP: RouteIntent = { prefix: '10.8.4.55/32', prepend: 0, communities: [] };
const rngHalf = () => 0.5;

/** A session driven by events on a fake time line; `sent` decodes what it put on the wire. */
class Walk {
  s: Session;
  now = 0;
  effects: SessionEffect[] = [];
  constructor(config: SessionConfig) {
    this.s = newSession(config);
  }
  on(e: SessionEvent): this {
    const out = step(this.s, e, this.now, rngHalf);
    this.s = out.session;
    this.effects = out.effects;
    return this;
  }
  at(ms: number): this {
    this.now = ms;
    const out = tick(this.s, ms, rngHalf);
    this.s = out.session;
    this.effects = out.effects;
    return this;
  }
  sent(): BgpMessage[] {
    return this.effects.flatMap((e) => (e.kind === 'send' ? [decodeMessage(e.bytes, this.s.codec)] : []));
  }
  kinds(): string[] {
    return this.effects.map((e) => (e.kind === 'send' ? `send ${e.message}` : e.kind));
  }
  /** The peer's OPEN. */
  open(over: Partial<{ asn: number; holdTimeS: number; bgpId: string; four: boolean }> = {}): this {
    const asn = over.asn ?? this.s.config.peerAsn;
    const bytes = encodeOpen({ version: 4, asn, holdTimeS: over.holdTimeS ?? 90, bgpId: over.bgpId ?? '10.0.0.1', capabilities: over.four === false ? [{ code: 1, afi: 1, safi: 1 }] : [{ code: 1, afi: 1, safi: 1 }, { code: 2 }, { code: 65, asn }] });
    return this.on({ kind: 'message', message: decodeMessage(bytes, { fourOctetAs: true }) });
  }
  established(): this {
    return this.on({ kind: 'start' }).on({ kind: 'connected', localAddress: '10.0.0.2' }).open().on({ kind: 'message', message: { type: 'keepalive' } });
  }
}

test('session: start, OPEN, KEEPALIVE to Established; the routes go out then, as one UPDATE each, with eBGP attributes', () => {
  const w = new Walk(EBGP).on({ kind: 'routes', routes: [{ ...VIP, med: 155, prepend: 1, communities: ['64512:7'] }] });
  assert.deepEqual(w.kinds(), [], 'nothing is sent before a session exists');
  w.on({ kind: 'start' });
  assert.equal(w.s.state, 'connect');
  assert.deepEqual(w.kinds(), ['connect']);
  w.on({ kind: 'connected', localAddress: '10.0.0.2' });
  assert.equal(w.s.state, 'openSent');
  const [open] = w.sent();
  assert.deepEqual(open, { type: 'open', version: 4, asn: 64512, holdTimeS: 9, bgpId: '10.0.0.2', capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 2 }, { code: 65, asn: 64512 }] });
  assert.equal(w.s.holdAt, OPEN_HOLD_MS);
  w.open({ holdTimeS: 90 });
  assert.equal(w.s.state, 'openConfirm');
  assert.equal(w.s.holdTimeS, 9, 'the smaller hold time (RFC 4271 §4.2)');
  assert.deepEqual(w.kinds(), ['send keepalive']);
  w.on({ kind: 'message', message: { type: 'keepalive' } });
  assert.equal(w.s.state, 'established');
  assert.deepEqual(w.kinds(), ['established', 'send update']);
  assert.deepEqual(w.sent(), [{ type: 'update', withdrawn: [], nlri: ['10.8.4.55/32'], attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [64512, 64512] }], nextHop: '10.0.0.2', med: 155, communities: ['64512:7'] } }]);
  // the same routes again send nothing; a change sends the route again; removing it withdraws it
  assert.deepEqual(w.on({ kind: 'routes', routes: [{ ...VIP, med: 155, prepend: 1, communities: ['64512:7'] }] }).kinds(), []);
  assert.deepEqual(w.on({ kind: 'routes', routes: [{ ...VIP, med: 100, prepend: 0, communities: [] }] }).sent().map((m) => m.type === 'update' && m.attributes.med), [100]);
  assert.deepEqual(w.on({ kind: 'routes', routes: [] }).sent(), [{ type: 'update', withdrawn: ['10.8.4.55/32'], attributes: {}, nlri: [] }]);
  // RFC 2918: a ROUTE-REFRESH gets everything again
  w.on({ kind: 'routes', routes: [VIP] });
  assert.deepEqual(w.on({ kind: 'message', message: { type: 'routeRefresh', afi: 1, safi: 1 } }).kinds(), ['send update']);
});

test('session: iBGP sends an empty AS_PATH and LOCAL_PREF, never prepends', () => {
  const w = new Walk({ ...EBGP, peerAsn: 64512 }).on({ kind: 'routes', routes: [{ ...VIP, localPref: 90, prepend: 2 }] }).established();
  assert.deepEqual(w.sent(), [{ type: 'update', withdrawn: [], nlri: ['10.8.4.55/32'], attributes: { origin: 'igp', asPath: [], nextHop: '10.0.0.2', localPref: 90 } }]);
});

test('session: keepalives every hold/3 (jittered), the hold timer enforced: silence for the hold time sends Hold Timer Expired and reconnects after the backoff', () => {
  const w = new Walk(EBGP).established();
  // 9 s hold: keepalive at 3 s × jitter (0.875 with rng 0.5)
  assert.equal(w.s.keepaliveAt, 2625);
  assert.deepEqual(w.at(2625).kinds(), ['send keepalive']);
  assert.equal(w.s.keepaliveAt, 5250);
  // anything from the peer restarts the hold timer
  w.now = 5000;
  w.on({ kind: 'message', message: { type: 'keepalive' } });
  assert.equal(w.s.holdAt, 14_000);
  w.at(5250).at(7875).at(10_500).at(13_125);
  assert.equal(w.s.state, 'established');
  w.at(14_000);
  assert.deepEqual(w.kinds(), ['send notification', 'close', 'down']);
  assert.deepEqual(w.sent().map((m) => m.type === 'notification' && [m.code, m.subcode]), [[4, 0]]);
  assert.equal(w.s.state, 'idle');
  assert.equal(w.s.idleHoldAt, 14_000 + 875, 'the first backoff: 1 s jittered');
  assert.equal(nextDeadline(w.s), 14_875);
  assert.deepEqual(w.at(14_875).kinds(), ['connect']);
  // a dial that fails doubles the backoff; one that hangs fails at the connect timeout
  w.on({ kind: 'closed', reason: 'ECONNREFUSED' });
  assert.equal(w.s.idleHoldAt, 14_875 + 1750);
  w.at(16_625);
  assert.deepEqual(w.at(16_625 + CONNECT_TIMEOUT_MS).kinds(), ['close']);
  assert.equal(w.s.idleHoldAt, 16_625 + CONNECT_TIMEOUT_MS + 3500);
  assert.match(w.s.lastError ?? '', /no TCP connection/);
  // Established again resets the backoff
  w.at(w.s.idleHoldAt!).on({ kind: 'connected', localAddress: '10.0.0.2' }).open().on({ kind: 'message', message: { type: 'keepalive' } });
  assert.equal(w.s.failures, 0);
  assert.equal(w.s.counters.established, 2);
});

test('session: the peer\'s OPEN is checked: AS, hold time, identifier, the 4-octet capability a large AS needs', () => {
  const refused = (config: SessionConfig, over: Parameters<Walk['open']>[0]) => {
    const w = new Walk(config).on({ kind: 'start' }).on({ kind: 'connected', localAddress: '10.0.0.2' }).open(over);
    assert.equal(w.s.state, 'idle');
    const [n] = w.sent();
    return n?.type === 'notification' ? [n.code, n.subcode] : n;
  };
  assert.deepEqual(refused(EBGP, { asn: 65001 }), [2, 2], 'Bad Peer AS');
  assert.deepEqual(refused(EBGP, { holdTimeS: 2 }), [2, 6], 'Unacceptable Hold Time');
  assert.deepEqual(refused({ ...EBGP, peerAsn: 64512 }, { bgpId: '10.0.0.2' }), [2, 3], 'iBGP with our own identifier');
  assert.deepEqual(refused({ ...EBGP, localAsn: 4_200_000_000 }, { four: false }), [2, 7], 'Unsupported Capability');
  // hold time 0: no keepalives and no hold timer
  const w = new Walk(EBGP).on({ kind: 'start' }).on({ kind: 'connected', localAddress: '10.0.0.2' }).open({ holdTimeS: 0 }).on({ kind: 'message', message: { type: 'keepalive' } });
  assert.equal(w.s.state, 'established');
  assert.deepEqual([w.s.holdAt, w.s.keepaliveAt], [undefined, undefined]);
});

test('session: messages out of order are FSM errors (RFC 6608); a NOTIFICATION ends the session; malformed UPDATEs are treat-as-withdraw', () => {
  const early = new Walk(EBGP).on({ kind: 'start' }).on({ kind: 'connected', localAddress: '10.0.0.2' }).on({ kind: 'message', message: { type: 'keepalive' } });
  assert.deepEqual(early.sent().map((m) => m.type === 'notification' && [m.code, m.subcode]), [[5, 1]]);
  const confirm = new Walk(EBGP).on({ kind: 'start' }).on({ kind: 'connected', localAddress: '10.0.0.2' }).open().on({ kind: 'message', message: { type: 'update', withdrawn: [], attributes: {}, nlri: [] } });
  assert.deepEqual(confirm.sent().map((m) => m.type === 'notification' && [m.code, m.subcode]), [[5, 2]]);
  const w = new Walk(EBGP).established();
  w.on({ kind: 'decodeError', error: new BgpDecodeError(3, 6, 'ORIGIN 7', new Uint8Array(0), true) });
  assert.equal(w.s.state, 'established');
  assert.equal(w.s.counters.treatAsWithdraw, 1);
  w.on({ kind: 'decodeError', error: new BgpDecodeError(1, 2, 'bad length') });
  assert.deepEqual(w.kinds(), ['send notification', 'close', 'down']);
  const n = new Walk(EBGP).established().on({ kind: 'message', message: { type: 'notification', code: 6, subcode: 2, data: new Uint8Array(0) } });
  assert.deepEqual(n.kinds(), ['close', 'down'], 'no answer to a NOTIFICATION');
  assert.match(n.s.lastError ?? '', /received NOTIFICATION Cease \/ Administrative Shutdown/);
});

test('session: stop sends Cease and stays down; passive waits for the peer and refuses a second connection', () => {
  const w = new Walk(EBGP).established().on({ kind: 'stop' });
  assert.deepEqual(w.sent().map((m) => m.type === 'notification' && [m.code, m.subcode]), [[6, 2]]);
  assert.equal(w.s.idleHoldAt, undefined, 'no reconnect');
  const p = new Walk({ ...EBGP, passive: true }).on({ kind: 'start' });
  assert.equal(p.s.state, 'active');
  assert.deepEqual(p.kinds(), []);
  p.on({ kind: 'connected', localAddress: '10.0.0.2' });
  assert.equal(p.s.state, 'openSent');
  assert.deepEqual(p.on({ kind: 'connected', localAddress: '10.0.0.2' }).kinds(), ['close']);
  assert.equal(p.s.state, 'openSent');
});

const VIP6: RouteIntent = { prefix: '2001:db8:55::10/128', prepend: 0, communities: [] };
const DUAL: SessionConfig = { ...EBGP, ipv6: true };

test('session: with an IPv6 VIP the OPEN offers IPv6 unicast too; the /128 goes in MP_REACH_NLRI with the IPv6 next hop, its withdrawal in MP_UNREACH_NLRI (RFC 4760)', () => {
  const w = new Walk(DUAL).on({ kind: 'routes', routes: [VIP, VIP6] }).on({ kind: 'start' }).on({ kind: 'connected', localAddress: '10.0.0.2', nextHop6: '2001:db8::2' });
  const [open] = w.sent();
  assert.deepEqual(open?.type === 'open' && open.capabilities.filter((c) => c.code === 1), [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }]);
  const both = encodeOpen({ version: 4, asn: 65000, holdTimeS: 90, bgpId: '10.0.0.1', capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }, { code: 65, asn: 65000 }] });
  w.on({ kind: 'message', message: decodeMessage(both, { fourOctetAs: true }) }).on({ kind: 'message', message: { type: 'keepalive' } });
  assert.deepEqual(w.s.families, { ipv4: true, ipv6: true });
  assert.deepEqual(w.sent(), [
    { type: 'update', withdrawn: [], nlri: ['10.8.4.55/32'], attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [64512] }], nextHop: '10.0.0.2' } },
    { type: 'update', withdrawn: [], nlri: [], attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [64512] }], mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::2'], nlri: ['2001:db8:55::10/128'] } } },
  ]);
  assert.deepEqual([...w.s.sent.keys()], ['10.8.4.55/32', '2001:db8:55::10/128']);
  // both withdrawn: IPv4 in the UPDATE's own field, IPv6 in MP_UNREACH_NLRI
  assert.deepEqual(w.on({ kind: 'routes', routes: [] }).sent(), [
    { type: 'update', withdrawn: ['10.8.4.55/32'], attributes: {}, nlri: [] },
    { type: 'update', withdrawn: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: ['2001:db8:55::10/128'] } }, nlri: [] },
  ]);
  assert.equal(w.s.sent.size, 0);
});

test('session: a family the peer did not offer, or an IPv6 route without a next hop, is withheld with the reason; a peer that offers no families speaks IPv4 only', () => {
  const openWith = (capabilities: Parameters<typeof encodeOpen>[0]['capabilities']) => decodeMessage(encodeOpen({ version: 4, asn: 65000, holdTimeS: 90, bgpId: '10.0.0.1', capabilities }), { fourOctetAs: false });
  const walk = (nextHop6: string | undefined, capabilities: Parameters<typeof encodeOpen>[0]['capabilities']) =>
    new Walk(DUAL).on({ kind: 'routes', routes: [VIP, VIP6] }).on({ kind: 'start' }).on({ kind: 'connected', localAddress: '10.0.0.2', nextHop6 }).on({ kind: 'message', message: openWith(capabilities) }).on({ kind: 'message', message: { type: 'keepalive' } });
  const v4only = walk('2001:db8::2', [{ code: 1, afi: 1, safi: 1 }]);
  assert.deepEqual([...v4only.s.sent.keys()], ['10.8.4.55/32']);
  assert.match(withheldReason(v4only.s, VIP6) ?? '', /did not offer IPv6 unicast/);
  const v6only = walk('2001:db8::2', [{ code: 1, afi: 2, safi: 1 }]);
  assert.deepEqual([...v6only.s.sent.keys()], ['2001:db8:55::10/128'], 'an IPv6-only neighbour (FRR without `bgp default ipv4-unicast`) gets no IPv4 route');
  assert.match(withheldReason(v6only.s, VIP) ?? '', /did not offer IPv4 unicast/);
  const noHop = walk(undefined, [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }]);
  assert.deepEqual([...noHop.s.sent.keys()], ['10.8.4.55/32']);
  assert.match(withheldReason(noHop.s, VIP6) ?? '', /set bgp\.peers\[\]\.nextHop6/);
  // RFC 4760 §8: no Multiprotocol capability at all means IPv4 unicast
  const legacy = walk('2001:db8::2', [{ code: 2 }]);
  assert.deepEqual(legacy.s.families, { ipv4: true, ipv6: false });
  // an IPv4-only speaker does not take IPv6 even when the peer offers it
  const plain = new Walk(EBGP).on({ kind: 'start' }).on({ kind: 'connected', localAddress: '10.0.0.2' }).on({ kind: 'message', message: openWith([{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }]) });
  assert.deepEqual(plain.s.families, { ipv4: true, ipv6: false });
});
