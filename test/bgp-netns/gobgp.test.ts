// kubeha announcing a VIP to GoBGP (gobgpd) in network namespaces: 4-octet ASNs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBgpBed, gobgpConfig, gobgpPaths, ROUTER_ASN, startBgpNode, untilBgp } from '../support/bgp-bed.js';

/** Polls GoBGP's RIB (every 20 ms, bounded) until `pred` holds; false when it never did. */
async function untilRib(bb: ReturnType<typeof createBgpBed>, pred: (p: ReturnType<typeof gobgpPaths>) => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (pred(gobgpPaths(bb))) return true;
    } catch {
      // the API is not up yet
    }
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('GoBGP: eBGP from a 4-octet AS — both paths in its RIB with the full AS number, a dead tracked backend withdrawn, SIGTERM withdraws and sends Cease', async (t) => {
  const bb = createBgpBed(t, 2);
  const [n1, n2] = bb.nodes as [typeof bb.nodes[0], typeof bb.nodes[0]];
  const asn = 4_200_000_001;
  const gobgp = bb.router.spawn('gobgpd', ['-f', gobgpConfig(bb, { nodeAsn: asn }), '-p', '--pprof-disable', '--api-hosts', '127.0.0.1:50051']);
  const a = startBgpNode(bb, n1, { localAsn: asn, peers: [{ address: bb.router.ip, asn: ROUTER_ASN }] });
  const b = startBgpNode(bb, n2, { localAsn: asn, peers: [{ address: bb.router.ip, asn: ROUTER_ASN }] });
  assert.ok(await untilRib(bb, (p) => p.length === 2, 30_000), `both nodes' paths: ${JSON.stringify(gobgpPaths(bb))}\n${gobgp.output().slice(-3000)}`);
  assert.deepEqual(gobgpPaths(bb), [{ nextHop: n1.ip, asPath: [asn] }, { nextHop: n2.ip, asPath: [asn] }], 'the 4-octet AS on the path (RFC 6793), each node its own next hop');

  const up = await untilBgp(n1, (x) => x.peers[0]?.state === 'established', 'established');
  assert.equal(up.peers[0]?.routerId, bb.router.ip);

  a.backend.child.kill('SIGKILL');
  assert.ok(await untilRib(bb, (p) => p.length === 1 && p[0]!.nextHop === n2.ip, 5000), `n1 withdrew: ${JSON.stringify(gobgpPaths(bb))}`);
  t.diagnostic(`GoBGP RIB after n1's backend died: ${JSON.stringify(gobgpPaths(bb))}`);
  // SIGTERM: the route is withdrawn and the session ended with Cease / Administrative Shutdown, then the process exits
  const logged = gobgp.lines.length;
  b.kubeha.child.kill('SIGTERM');
  assert.equal(await b.kubeha.exited, 0);
  assert.ok(await untilRib(bb, (p) => p.length === 0, 5000), 'n2 withdrew at SIGTERM');
  await gobgp.waitLine(/[Cc]ease|[Aa]dministrative/, 5000, logged);
});
