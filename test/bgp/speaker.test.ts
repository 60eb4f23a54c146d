// The speaker on loopback against a scripted router made of the codec: announce, withdraw on
// tracking, reconcile on reload (an unchanged peer keeps its session), Cease at stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { SystemClock } from '../../src/clock.js';
import { bgpSchema } from '../../src/config/schema.js';
import { type BgpMessage, type Capability, decodeMessage, encodeKeepalive, encodeOpen, messageLength } from '../../src/bgp/message.js';
import { BgpSpeaker } from '../../src/bgp/speaker.js';
import { ipv6Beside } from '../../src/bgp/bgp-peer.js';

/** A router on 127.0.0.1 that answers OPEN and KEEPALIVE and records what it is sent. */
async function scriptedRouter(t: { after: (fn: () => unknown) => void }, capabilities: Capability[] = [{ code: 65, asn: 65000 }]) {
  const received: BgpMessage[] = [];
  const waiters: { pred: () => boolean; resolve: () => void }[] = [];
  const connections: Socket[] = [];
  const check = () => {
    for (const w of [...waiters]) if (w.pred()) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const server = createServer((s) => {
    connections.push(s);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let len = messageLength(buf); len !== undefined && buf.length >= len; len = messageLength(buf)) {
        const m = decodeMessage(buf.subarray(0, len), { fourOctetAs: true });
        buf = buf.subarray(len);
        received.push(m);
        if (m.type === 'open') s.write(Buffer.concat([encodeOpen({ version: 4, asn: 65000, holdTimeS: 90, bgpId: '127.0.0.2', capabilities }), encodeKeepalive()]));
      }
      check();
    });
    s.on('close', check);
    s.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const c of connections) c.destroy();
    server.close();
  });
  return {
    port: (server.address() as { port: number }).port,
    received,
    connections,
    until: (pred: () => boolean) => new Promise<void>((resolve) => {
      waiters.push({ pred, resolve });
      check();
    }),
  };
}

const updates = (ms: BgpMessage[]) => ms.filter((m): m is Extract<BgpMessage, { type: 'update' }> => m.type === 'update');

test('speaker: announces a tracked VIP once its backend serves, withdraws it when it cannot, keeps the session over a reload that does not change the peer, and ends with a withdrawal and Cease', async (t) => {
  const router = await scriptedRouter(t);
  const addresses: string[] = [];
  const host = { addAddress: (_i: string, c: string) => void addresses.push(`+${c}`), removeAddress: (_i: string, c: string) => (addresses.push(`-${c}`), true) };
  const logs: string[] = [];
  const speaker = new BgpSpeaker(host, new SystemClock(), Math.random, (_l, _f, msg) => void logs.push(msg), () => {});
  const config = (over: Record<string, unknown> = {}) => bgpSchema.parse({
    localAsn: 65001, routerId: '127.0.0.1', interface: 'lo',
    peers: [{ address: '127.0.0.1', asn: 65000, port: router.port }],
    announce: [{ vip: '10.99.0.10/32', track: { backends: ['apiservers'] } }], ...over,
  });
  assert.deepEqual(await speaker.apply(config()), []);
  assert.deepEqual(addresses, ['-10.99.0.10/32'], 'a stale VIP from an earlier run is removed at start');
  await router.until(() => router.received.some((m) => m.type === 'keepalive'));
  assert.equal(updates(router.received).length, 0, 'nothing announced before the backend serves');

  speaker.setBackend('apiservers', true);
  await router.until(() => updates(router.received).some((u) => u.nlri.includes('10.99.0.10/32')));
  const announced = updates(router.received).at(-1)!;
  assert.deepEqual(announced.attributes, { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001] }], nextHop: '127.0.0.1' });
  assert.deepEqual(addresses.slice(1), ['+10.99.0.10/32'], 'on lo before it is announced');
  assert.equal(speaker.status().peers[0]?.state, 'established');

  speaker.setBackend('apiservers', false);
  await router.until(() => updates(router.received).some((u) => u.withdrawn.includes('10.99.0.10/32')));
  assert.deepEqual(addresses.slice(2), ['-10.99.0.10/32'], 'off lo once withdrawn');
  assert.match(speaker.status().announcements[0]?.reason ?? '', /no tracked backend can serve/);

  // a reload with another announcement but the same peer: same connection, the new VIP sent on it
  speaker.setBackend('apiservers', true);
  assert.deepEqual(await speaker.apply(config({ announce: [{ vip: '10.99.0.10/32', track: { backends: ['apiservers'] } }, { vip: '10.99.0.11/32' }] })), []);
  await router.until(() => updates(router.received).some((u) => u.nlri.includes('10.99.0.11/32')));
  assert.equal(router.connections.length, 1, 'the session was kept');
  // a changed peer (hold time) restarts its session
  assert.deepEqual(await speaker.apply(config({ peers: [{ address: '127.0.0.1', asn: 65000, port: router.port, holdTime: '30s' }] })), []);
  await router.until(() => router.connections.length === 2 && router.received.filter((m) => m.type === 'open').length === 2);
  assert.equal(router.received.filter((m) => m.type === 'notification').length, 1, 'the old session ended with a NOTIFICATION');
  const secondOpen = router.received.map((m) => m.type).lastIndexOf('open');
  // that reload also dropped 10.99.0.11 from the config: the new session gets 10.99.0.10 only, and .11 leaves lo
  await router.until(() => updates(router.received.slice(secondOpen)).flatMap((u) => u.nlri).join() === '10.99.0.10/32');
  assert.ok(addresses.includes('-10.99.0.11/32'));

  const before = router.received.length;
  await speaker.stop();
  await router.until(() => router.received.slice(before).some((m) => m.type === 'notification'));
  const tail = router.received.slice(before);
  const withdrawAt = tail.findIndex((m) => m.type === 'update' && m.withdrawn.length > 0);
  const ceaseAt = tail.findIndex((m) => m.type === 'notification' && m.code === 6 && m.subcode === 2);
  assert.ok(withdrawAt >= 0 && ceaseAt > withdrawAt, `withdrawn, then Cease / Administrative Shutdown: ${JSON.stringify(tail.map((m) => m.type))}`);
});

test('speaker: an IPv6 VIP is announced over the IPv4 session in MP_REACH_NLRI with the configured next hop; adding or removing the first IPv6 VIP renegotiates the families', async (t) => {
  const router = await scriptedRouter(t, [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }, { code: 65, asn: 65000 }]);
  const addresses: string[] = [];
  const host = { addAddress: (_i: string, c: string) => void addresses.push(`+${c}`), removeAddress: () => true };
  const speaker = new BgpSpeaker(host, new SystemClock(), Math.random, () => {}, () => {});
  const config = (vips: string[]) => bgpSchema.parse({
    localAsn: 65001, routerId: '127.0.0.1', interface: 'lo',
    peers: [{ address: '127.0.0.1', asn: 65000, port: router.port, nextHop6: '2001:db8::11' }],
    announce: vips.map((vip) => ({ vip })),
  });
  assert.deepEqual(await speaker.apply(config(['10.99.0.10/32'])), []);
  await router.until(() => updates(router.received).some((u) => u.nlri.includes('10.99.0.10/32')));
  const opens = () => router.received.filter((m): m is Extract<BgpMessage, { type: 'open' }> => m.type === 'open');
  assert.deepEqual(opens()[0]!.capabilities.filter((c) => c.code === 1), [{ code: 1, afi: 1, safi: 1 }], 'IPv4 only while no VIP is IPv6');

  assert.deepEqual(await speaker.apply(config(['10.99.0.10/32', '2001:db8:99::10/128'])), []);
  await router.until(() => updates(router.received).some((u) => u.attributes.mpReach?.nlri.includes('2001:db8:99::10/128') === true));
  assert.equal(router.connections.length, 2, 'the session restarted to offer IPv6 unicast');
  assert.deepEqual(opens()[1]!.capabilities.filter((c) => c.code === 1), [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }]);
  const v6 = updates(router.received).find((u) => u.attributes.mpReach)!;
  assert.deepEqual(v6.attributes.mpReach, { afi: 2, safi: 1, nextHops: ['2001:db8::11'], nlri: ['2001:db8:99::10/128'] });
  assert.equal(v6.attributes.nextHop, undefined, 'no NEXT_HOP attribute with the routes in MP_REACH_NLRI');
  assert.ok(addresses.includes('+2001:db8:99::10/128'), 'the IPv6 VIP is on lo');
  const peer = speaker.status().peers[0]!;
  assert.deepEqual([peer.families, peer.nextHop6, peer.withheld, peer.advertised.sort()], [['ipv4', 'ipv6'], '2001:db8::11', [], ['10.99.0.10/32', '2001:db8:99::10/128']]);

  assert.deepEqual(await speaker.apply(config(['10.99.0.10/32'])), []);
  await router.until(() => opens().length === 3);
  assert.deepEqual(opens()[2]!.capabilities.filter((c) => c.code === 1), [{ code: 1, afi: 1, safi: 1 }], 'back to IPv4 only');
  await speaker.stop();
});

test('speaker: the default IPv6 next hop is a global address on the interface the session leaves by, never link-local, loopback or a /128 VIP', () => {
  const a = (address: string, family: 'IPv4' | 'IPv6', cidr: string) => ({ address, family, cidr, netmask: '', mac: '00:00:00:00:00:00', internal: false, scopeid: 0 });
  const interfaces = {
    lo: [a('127.0.0.1', 'IPv4', '127.0.0.1/8'), a('::1', 'IPv6', '::1/128'), a('2001:db8:99::10', 'IPv6', '2001:db8:99::10/128')],
    eth0: [a('192.0.2.11', 'IPv4', '192.0.2.11/24'), a('fe80::1', 'IPv6', 'fe80::1/64'), a('2001:db8:99::20', 'IPv6', '2001:db8:99::20/128'), a('2001:db8::11', 'IPv6', '2001:db8::11/64')],
    eth1: [a('198.51.100.11', 'IPv4', '198.51.100.11/24'), a('fe80::2', 'IPv6', 'fe80::2/64')],
  };
  assert.equal(ipv6Beside('192.0.2.11', interfaces), '2001:db8::11');
  assert.equal(ipv6Beside('198.51.100.11', interfaces), undefined, 'only link-local there');
  assert.equal(ipv6Beside('127.0.0.1', interfaces), undefined, 'loopback and a VIP are no next hop');
});
