// The speaker on loopback against a scripted router made of the codec: announce, withdraw on
// tracking, reconcile on reload (an unchanged peer keeps its session), Cease at stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { SystemClock } from '../../src/clock.js';
import { bgpSchema } from '../../src/config/schema.js';
import { type BgpMessage, decodeMessage, encodeKeepalive, encodeOpen, messageLength } from '../../src/bgp/message.js';
import { BgpSpeaker } from '../../src/bgp/speaker.js';

/** A router on 127.0.0.1 that answers OPEN and KEEPALIVE and records what it is sent. */
async function scriptedRouter(t: { after: (fn: () => unknown) => void }) {
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
        if (m.type === 'open') s.write(Buffer.concat([encodeOpen({ version: 4, asn: 65000, holdTimeS: 90, bgpId: '127.0.0.2', capabilities: [{ code: 65, asn: 65000 }] }), encodeKeepalive()]));
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
