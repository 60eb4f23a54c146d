import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { FakeClock } from '../../src/clock.js';
import { analyzeConfigText } from '../../src/config/load.js';
import { vrrpInstanceSchema } from '../../src/config/schema.js';
import { parseNdiscClaim, unsolicitedNaFrame } from '../../src/vrrp/ndisc.js';
import {
  addressRank, bytesToIpv6, canonicalIp, decodePacket, encodeAdvert, encodeIpv6, ipv6ToBytes, isRejected, parsePacket, parseIpv6, type Advert,
} from '../../src/vrrp/packet.js';
import { VrrpEngine } from '../../src/vrrp/vrrp-engine.js';
import { VrrpInstance } from '../../src/vrrp/vrrp-instance.js';
import { FakeNetwork, type FakeHost } from '../support/fake-vrrp-network.js';

const fixtures = JSON.parse(readFileSync(new URL('../../../test/vrrp/fixtures/keepalived-2.2.7-ipv6.json', import.meta.url), 'utf8')) as Record<string, string>;
const hex = (name: string) => new Uint8Array(Buffer.from(fixtures[name]!, 'hex'));

test('ipv6 codec: captured keepalived 2.2.7 IPv6 adverts decode (multicast from the link-local address, unicast, priority 0)', () => {
  const table: [string, Partial<Advert> & { src: string; dst: string; ttl: number }][] = [
    ['v3Ipv6Multicast100ms', { src: 'fe80::ff:fe00:1', dst: 'ff02::12', ttl: 255, version: 3, vrid: 52, priority: 200, advertIntervalCs: 10, addresses: ['fd00:db8::55', 'fd00:db8::56'] }],
    ['v3Ipv6Multicast100msPriorityZero', { src: 'fe80::ff:fe00:1', dst: 'ff02::12', ttl: 255, priority: 0 }],
    ['v3Ipv6Unicast500ms', { src: 'fd00:db8::1', dst: 'fd00:db8::2', ttl: 64, vrid: 53, priority: 150, advertIntervalCs: 50, addresses: ['fd00:db8::57'] }],
  ];
  for (const [name, want] of table) {
    const { ip, advert } = decodePacket(hex(name), { anyUnicastHopLimit: true });
    const { src, dst, ttl, ...fields } = want;
    assert.deepEqual({ family: ip.family, src: ip.src, dst: ip.dst, ttl: ip.ttl }, { family: 6, src, dst, ttl }, name);
    for (const [k, v] of Object.entries(fields)) assert.deepEqual(advert[k as keyof Advert], v, `${name}.${k}`);
  }
});

test('ipv6 codec: a captured keepalived IPv6 advert re-encodes byte for byte (the IPv6 pseudo-header checksum)', () => {
  for (const name of ['v3Ipv6Multicast100ms', 'v3Ipv6Multicast100msPriorityZero', 'v3Ipv6Unicast500ms', 'v3Ipv6Unicast500msPriorityZero']) {
    const bytes = hex(name);
    const { ip, advert } = decodePacket(bytes, { anyUnicastHopLimit: true });
    const h = parseIpv6(bytes);
    assert.ok(!isRejected(h));
    const again = encodeIpv6(h, encodeAdvert(advert, ip));
    assert.equal(Buffer.from(again).toString('hex'), fixtures[name], name);
  }
});

test('ipv6 codec: hop limit 255 is required for multicast; unicast below 255 only with anyUnicastHopLimit (keepalived sends 64); v2 over IPv6 is refused', () => {
  const mc = hex('v3Ipv6Multicast100ms');
  const lowered = new Uint8Array(mc);
  lowered[7] = 254;
  const reason = (p: Uint8Array, anyUnicastHopLimit: boolean) => {
    const r = parsePacket(p, { anyUnicastHopLimit });
    return isRejected(r) ? r.rejected : 'ok';
  };
  assert.equal(reason(lowered, true), 'ttl', 'multicast that crossed a router');
  assert.equal(reason(hex('v3Ipv6Unicast500ms'), false), 'ttl');
  assert.equal(reason(hex('v3Ipv6Unicast500ms'), true), 'ok');
  const v2 = new Uint8Array(mc);
  v2[40] = 0x21;
  assert.equal(reason(v2, false), 'version');
  const flipped = new Uint8Array(mc);
  flipped[60] = flipped[60]! ^ 1;
  assert.equal(reason(flipped, false), 'checksum');
  assert.equal(reason(mc.subarray(0, 39), false), 'truncated');
  const other = new Uint8Array(mc);
  other[6] = 17;
  assert.equal(reason(other, false), 'not_vrrp', 'an extension header or another protocol is not ours');
  assert.throws(() => encodeAdvert({ version: 2, vrid: 1, priority: 1, advertIntervalCs: 100, addresses: ['fd00::1'], authPass: '' }, { src: 'fe80::1', dst: 'ff02::12' }), /IPv4 only/);
});

test('ipv6 codec: address text round-trips and prints as RFC 5952 (the WHATWG URL serializer agrees); the tie-break ranks 128 bits', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), (raw, sparse) => {
    const bytes = sparse ? raw.map((b, i) => (i % 4 < 2 ? 0 : b)) : raw;
    const text = bytesToIpv6(bytes);
    assert.deepEqual([...ipv6ToBytes(text)], [...bytes]);
    assert.equal(`[${text}]`, new URL(`http://[${text}]/`).hostname);
  }));
  assert.equal(bytesToIpv6(ipv6ToBytes('FD00:0:0:1::0:1')), 'fd00:0:0:1::1');
  assert.equal(bytesToIpv6(ipv6ToBytes('::ffff:192.0.2.1')), '::ffff:c000:201');
  assert.throws(() => ipv6ToBytes('fe80::1%eth0'));
  assert.deepEqual(['FD00::0:1', 'fe80::1%eth0', 'localhost', '10.0.0.1'].map(canonicalIp), ['fd00::1', 'fe80::1%eth0', 'localhost', '10.0.0.1'], 'total: what is not plain IPv6 comes back as it was');
  assert.ok(addressRank('fe80::2') > addressRank('fe80::1'));
  assert.ok(addressRank('fe80::1:0:0:0') > addressRank('fe80::ffff:ffff'), 'beyond 32 bits');
});

test('ipv6 codec: random bytes after an IPv6 header never throw, only reject', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 120 }), fc.integer({ min: 0, max: 255 }), (tail, hop) => {
    const p = new Uint8Array(40 + tail.length);
    p.set(hex('v3Ipv6Multicast100ms').subarray(0, 40));
    p[7] = hop;
    p.set(tail, 40);
    const r = parsePacket(p, { anyUnicastHopLimit: true });
    assert.ok(isRejected(r) || r.advert.version === 3);
  }));
});

test('ndisc: the unsolicited NA matches keepalived\'s byte for byte; NS/NA claims parse, a DAD probe and a bad hop limit do not', () => {
  const mac = new Uint8Array([2, 0, 0, 0, 0, 1]);
  const na = unsolicitedNaFrame(mac, 'fd00:db8::55');
  assert.equal(Buffer.from(na).toString('hex'), fixtures.naFrame);
  assert.deepEqual(parseNdiscClaim(na), { op: 'advertisement', senderMac: '02:00:00:00:00:01', senderIp: 'fd00:db8::55' });
  // A neighbour solicitation from fd00:db8::55 (someone using the VIP as its source) with a source link-layer option.
  const ns = new Uint8Array(na);
  ns[54] = 135;
  ns[78] = 1;
  ns.set([2, 0, 0, 0, 0, 9], 80);
  assert.deepEqual(parseNdiscClaim(ns), { op: 'solicitation', senderMac: '02:00:00:00:00:09', senderIp: 'fd00:db8::55' });
  const dad = new Uint8Array(ns);
  dad.fill(0, 22, 38);
  assert.equal(parseNdiscClaim(dad), undefined, 'DAD probe from ::');
  const routed = new Uint8Array(na);
  routed[21] = 64;
  assert.equal(parseNdiscClaim(routed), undefined, 'hop limit not 255');
  assert.equal(parseNdiscClaim(na.subarray(0, 60)), undefined);
});

/** A parsed IPv6 instance config with test defaults (v3, 100 ms, one IPv6 VIP). */
const config6 = (over: Record<string, unknown> = {}) =>
  vrrpInstanceSchema.parse({ name: 'VI_6', interface: 'eth0', virtualRouterId: 61, advertInterval: '100ms', vips: ['fd00::100/64'], ...over });

function node6(net: FakeNetwork, host: FakeHost, over: Record<string, unknown> = {}) {
  return new VrrpInstance(config6(over), host, net.clock, { log: () => {}, changed: () => {} });
}

test('ipv6 instance: multicast from the link-local address; the higher priority wins, adds the VIP and sends unsolicited NAs; a tie goes to the higher address', () => {
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const hosts = [net.host('a', '10.0.0.1', 'fd00::1'), net.host('b', '10.0.0.2', 'fd00::2')];
  const [a, b] = [node6(net, hosts[0]!, { priority: 100 }), node6(net, hosts[1]!, { priority: 150 })];
  assert.equal(a.sourceAddress, 'fe80::1', 'RFC 5798 §5.1.2.1: the link-local address');
  a.start();
  b.start();
  clock.advance(2000);
  assert.deepEqual([a.machine.state, b.machine.state], ['backup', 'master']);
  assert.deepEqual(hosts.map((h) => h.vips), [[], ['fd00::100']]);
  assert.deepEqual(a.status().master, { address: 'fe80::2', priority: 150 });
  const nas = net.garps.map((g) => parseNdiscClaim(g.frame));
  assert.equal(nas.length, 5, 'garpRepeat applies to NAs');
  assert.deepEqual(nas[0], { op: 'advertisement', senderMac: '02:00:00:00:00:02', senderIp: 'fd00::100' });

  const tie = new FakeNetwork(new FakeClock(0));
  const t = [tie.host('x', '10.0.0.1', 'fd00::1'), tie.host('y', '10.0.0.2', 'fd00::2')].map((h) => node6(tie, h, { priority: 100 }));
  for (const n of t) n.start();
  tie.clock.advance(3000);
  assert.deepEqual(t.map((n) => n.machine.state), ['backup', 'master'], 'fe80::2 outranks fe80::1 at one priority');
});

test('ipv6 instance: unicast peers send from the global address; an advert from an unknown source is dropped; another MAC\'s NA for the VIP is a duplicate', () => {
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const hosts = [net.host('a', '10.0.0.1', 'fd00::1'), net.host('b', '10.0.0.2', 'fd00::2'), net.host('c', '10.0.0.3', 'fd00::3')];
  const a = node6(net, hosts[0]!, { priority: 200, unicastPeers: ['fd00:0::2'] });
  const b = node6(net, hosts[1]!, { priority: 100, unicastPeers: ['fd00::1'] });
  const c = node6(net, hosts[2]!, { priority: 50, unicastPeers: ['fd00::2'] });
  assert.equal(a.sourceAddress, 'fd00::1');
  for (const n of [a, b, c]) n.start();
  clock.advance(2000);
  assert.deepEqual([a.machine.state, b.machine.state], ['master', 'backup']);
  assert.ok((b.status().adverts.dropped.unknown_peer ?? 0) > 0, 'c is not one of b\'s peers');
  assert.equal(b.status().master?.address, 'fd00::1');
  // c hears nobody (its one peer, b, sends only to a), so it made itself master too and claimed the VIP.
  assert.equal(c.machine.state, 'master');
  assert.ok(a.status().duplicateVip.events >= 1, 'c\'s own NAs were seen as a claim');
  c.stop();
  clock.advance(500);
  const before = a.status().duplicateVip.events;
  hosts[2]!.sendFrame('eth0', unsolicitedNaFrame(hosts[2]!.mac, 'fd00::100'));
  clock.advance(500);
  assert.equal(a.status().duplicateVip.events, before + 1);
  assert.equal(a.status().duplicateVip.last?.kind, 'ndisc');
  assert.match(a.status().duplicateVip.last?.detail ?? '', /neighbour advertisement from 02:00:00:00:00:03 claims fd00::100/);
});

test('sync group: an IPv4 and an IPv6 instance move together; one member in fault takes the other with it, and both come back', () => {
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const engines = [net.host('a', '10.0.0.1', 'fd00::1'), net.host('b', '10.0.0.2', 'fd00::2')].map((h) => new VrrpEngine(h, clock, { log: () => {}, changed: () => {} }));
  const instances = (priority: number) => [
    vrrpInstanceSchema.parse({ name: 'VI_4', interface: 'eth0', virtualRouterId: 51, priority, advertInterval: '100ms', vips: ['10.0.0.100/24'], syncGroup: 'G' }),
    config6({ priority, syncGroup: 'G' }),
  ];
  assert.deepEqual(engines[0]!.apply(instances(200)), []);
  assert.deepEqual(engines[1]!.apply(instances(100)), []);
  clock.advance(2000);
  const view = () => engines.map((e) => e.status().map((s) => `${s.name}:${s.state}`).join(' '));
  assert.deepEqual(view(), ['VI_4:master VI_6:master', 'VI_4:backup VI_6:backup']);

  engines[0]!.setMaintenance('VI_4', true); // only the IPv4 instance
  clock.advance(1000);
  assert.deepEqual(view(), ['VI_4:fault VI_6:fault', 'VI_4:master VI_6:master'], 'the IPv6 VIP left with the IPv4 one');
  assert.match(engines[0]!.status().find((s) => s.name === 'VI_6')!.fault ?? '', /sync group G: VI_4 in fault \(maintenance\)/);

  engines[0]!.setMaintenance('VI_4', false);
  clock.advance(2000);
  assert.deepEqual(view(), ['VI_4:master VI_6:master', 'VI_4:backup VI_6:backup'], 'both rejoin and preempt');
  assert.equal(engines[0]!.status().find((s) => s.name === 'VI_6')!.fault, null);
});

test('config: IPv6 VIPs need version 3 and one family per instance; peers and source of the VIPs\' family; VRIDs are per family', () => {
  const load = (instances: Record<string, unknown>[]) => analyzeConfigText(JSON.stringify({ vrrp: { instances } }), 'kubeha.yaml');
  const base = { interface: 'eth0', virtualRouterId: 51 };
  const ok = load([{ ...base, name: 'VI_4', vips: ['10.0.0.100/24'] }, { ...base, name: 'VI_6', vips: ['fd00::100/64'], unicastPeers: ['fd00::2'], unicastSrcIp: 'fd00::1', syncGroup: 'G' }]);
  assert.deepEqual(ok.problems, [], 'one VRID for IPv4 and IPv6 on one interface');
  const messages = (instances: Record<string, unknown>[]) => load(instances).problems.map((p) => p.message).join('\n');
  assert.match(messages([{ ...base, name: 'VI_6', version: 2, vips: ['fd00::100/64'] }]), /VRRPv2 is IPv4 only/);
  assert.match(messages([{ ...base, name: 'VI_6', vips: ['fd00::100/64', '10.0.0.1/24'] }]), /one instance carries one address family/);
  assert.match(messages([{ ...base, name: 'VI_6', vips: ['fd00::100/64'], unicastPeers: ['10.0.0.2'] }]), /not an IPv6 address/);
  assert.match(messages([{ ...base, name: 'VI_6', vips: ['fd00::100/129'] }]), /not an address with a prefix length/);
  assert.match(messages([{ ...base, name: 'A', vips: ['fd00::100/64'] }, { ...base, name: 'B', vips: ['fd00::101/64'] }]), /already used by IPv6 instance "A"/);
});
