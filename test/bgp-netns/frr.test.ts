// kubeha announcing a VIP to FRR 8 (zebra, bgpd, bfdd) in network namespaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BGP_VIP, clientVersion, createBgpBed, FRONTEND_PORT, fibNextHops, frrConfig, ROUTER_ASN, startBgpNode, startFrr, untilBgp, untilFib } from '../support/bgp-bed.js';

test('FRR 8, eBGP with TCP MD5 and BFD: both nodes in zebra\'s FIB (ECMP), the client through it; an unplugged node gone within BFD time; a wrong MD5 key never gets a session; frontends bound to the VIP itself, stand-in apiservers behind them', async (t) => {
  const bb = createBgpBed(t, 3);
  const [n1, n2, n3] = bb.nodes as [typeof bb.nodes[0], typeof bb.nodes[0], typeof bb.nodes[0]];
  const conf = frrConfig(bb, { bfd: true, password: 's3cret' });
  const frr = await startFrr(bb, conf, true);
  const peer = (password: string) => ({ address: bb.router.ip, asn: ROUTER_ASN, password, bfd: { interval: '100ms', multiplier: 3 } });
  // the frontends bind the VIP itself: it is on lo only while announced, and they bind as it arrives
  const onVip = `${BGP_VIP}:${FRONTEND_PORT}`;
  startBgpNode(bb, n1, { peers: [peer('s3cret')] }, { bind: onVip, backend: 'apiserver' });
  startBgpNode(bb, n2, { peers: [peer('s3cret')] }, { bind: onVip, backend: 'apiserver' });
  startBgpNode(bb, n3, { peers: [peer('wrong')] });
  const both = await untilFib(bb.router, (h) => h.length === 2, 30_000);
  assert.ok(both, `one next hop per node: ${fibNextHops(bb.router).join(', ')}\n${frr.map((p) => p.output()).join('\n')}`);
  assert.deepEqual(fibNextHops(bb.router), [n1.ip, n2.ip].sort(), 'n3 (wrong key) is not among them');
  // the client's connections through the VIP reach both nodes' stand-in apiservers (ECMP, hashed per connection)
  const servedBy = new Set<string>();
  for (let i = 0; i < 40 && servedBy.size < 2; i++) {
    const by = await clientVersion(bb);
    assert.ok(by, 'GET /version through the VIP');
    servedBy.add(by);
  }
  assert.deepEqual([...servedBy].sort(), [n1.ip, n2.ip].sort(), 'both nodes serve');
  for (const n of [n1, n2]) await untilBgp(n, (x) => x.peers[0]?.bfd?.state === 'up', 'BFD up with bfdd');
  const n3State = await untilBgp(n3, (x) => x.peers[0]?.counters.established === 0 && (x.peers[0]?.lastError ?? '') !== '', 'n3 tried and failed');
  assert.equal(n3State.peers[0]?.state === 'established', false, 'a wrong MD5 key gets no session');

  const cutAt = Date.now();
  bb.bed.plug(1, false);
  const gone = await untilFib(bb.router, (h) => h.length === 1 && h[0] === n2.ip, 12_000);
  assert.ok(gone, `n1 left zebra's FIB: ${fibNextHops(bb.router).join(', ')}`);
  t.diagnostic(`n1 unplugged → gone from FRR's FIB: ${gone - cutAt} ms (BFD 100 ms × 3; hold 9 s)`);
  assert.ok(gone - cutAt < 3000, `took ${gone - cutAt} ms`);
  for (let i = 0; i < 5; i++) assert.equal(await clientVersion(bb), n2.ip, 'every connection through n2 now');
});
