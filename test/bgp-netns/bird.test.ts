// kubeha announcing a VIP to BIRD 2 in network namespaces: ECMP in the router's kernel FIB, a client
// through it, and the route gone after a node's SIGKILL (BFD) or its tracked backend's death.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { birdConfig, clientEcho, createBgpBed, fibNextHops, ROUTER_ASN, startBgpNode, startBird, untilFib } from '../support/bgp-bed.js';
import { nsFetchJson } from '../support/netns.js';

test('BIRD 2, eBGP with BFD: both nodes in the FIB (ECMP), the client reaches the VIP; an unplugged node leaves within BFD time, a SIGKILLed one at once, one whose backend died withdraws', async (t) => {
  const bb = createBgpBed(t, 2);
  const [n1, n2] = bb.nodes as [typeof bb.nodes[0], typeof bb.nodes[0]];
  const bird = startBird(bb, birdConfig(bb, { bfd: true }));
  const peer = { address: bb.router.ip, asn: ROUTER_ASN, bfd: { interval: '100ms', multiplier: 3 } };
  const a = startBgpNode(bb, n1, { peers: [peer] });
  const b = startBgpNode(bb, n2, { peers: [peer] });
  const both = await untilFib(bb.router, (h) => h.length === 2, 30_000);
  assert.ok(both, `one next hop per node: ${fibNextHops(bb.router).join(', ')}\n${bird.output()}\n${a.kubeha.output()}`);
  assert.deepEqual(fibNextHops(bb.router), [n1.ip, n2.ip].sort());
  assert.ok(await clientEcho(bb), 'the client reaches the VIP through the router');
  const state = nsFetchJson(n1, 'http://127.0.0.1:9000/api/v1/state') as { bgp: { peers: { state: string; bfd: { state: string } | null; advertised: string[] }[]; announcements: { announced: boolean; onInterface: boolean }[] } };
  assert.equal(state.bgp.peers[0]?.state, 'established');
  assert.deepEqual(state.bgp.peers[0]?.advertised, ['198.51.100.10/32']);
  assert.deepEqual(state.bgp.announcements.map((x) => [x.announced, x.onInterface]), [[true, true]]);
  // BFD must be Up on both ends before the kill is timed
  const bfdUp = async () => {
    for (const n of [n1, n2]) {
      const end = Date.now() + 20_000;
      for (;;) {
        const s = nsFetchJson(n, 'http://127.0.0.1:9000/api/v1/state') as typeof state;
        if (s.bgp.peers[0]?.bfd?.state === 'up') break;
        assert.ok(Date.now() < end, `BFD up on ${n.ip}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  await bfdUp();

  // the node dies without a word (unplugged: no FIN, no NOTIFICATION): only BFD can tell the router before the hold time
  const cutAt = Date.now();
  bb.bed.plug(1, false);
  const gone = await untilFib(bb.router, (h) => h.length === 1 && h[0] === n2.ip, 12_000);
  assert.ok(gone, `n1's next hop left the FIB: ${fibNextHops(bb.router).join(', ')}`);
  t.diagnostic(`n1 unplugged → its next hop gone from BIRD's FIB: ${gone - cutAt} ms (BFD 100 ms × 3; the hold time is 9 s)`);
  // BFD detects in 300 ms; the bound leaves a loaded machine room and still fails at the hold time
  assert.ok(gone - cutAt < 3000, `took ${gone - cutAt} ms`);
  assert.ok(await clientEcho(bb), 'the client still reaches the VIP, through n2');
  // back: the session and the route return; a SIGKILLed kubeha's kernel closes the session at once
  bb.bed.plug(1, true);
  assert.ok(await untilFib(bb.router, (h) => h.length === 2, 60_000), 'n1 back in the FIB after the partition healed');
  const killedAt = Date.now();
  a.kubeha.child.kill('SIGKILL');
  const closed = await untilFib(bb.router, (h) => h.length === 1 && h[0] === n2.ip, 12_000);
  assert.ok(closed, 'a SIGKILLed node left the FIB');
  t.diagnostic(`n1's kubeha SIGKILLed → gone from the FIB: ${closed - killedAt} ms`);

  const diedAt = Date.now();
  b.echo.child.kill('SIGKILL');
  const withdrawn = await untilFib(bb.router, (h) => h.length === 0, 5000);
  assert.ok(withdrawn, 'n2 withdrew when its only tracked backend died');
  t.diagnostic(`tracked backend killed → route withdrawn: ${withdrawn - diedAt} ms (checks every 100 ms, fall 2)`);
  const after = nsFetchJson(n2, 'http://127.0.0.1:9000/api/v1/state') as typeof state & { bgp: { announcements: { reason: string }[] } };
  assert.match(after.bgp.announcements[0]?.reason ?? '', /no tracked backend can serve/);
  assert.equal(after.bgp.peers[0]?.state, 'established', 'the session stays up: only the route went');
});
