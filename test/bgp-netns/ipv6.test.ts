// IPv6 VIPs announced over the nodes' IPv4 sessions with MP-BGP (RFC 4760), to BIRD 2 and FRR 8:
// the /128 in the router's kernel FIB through every node's IPv6 address, a client reaching the VIP
// over IPv6 through it, and MP_UNREACH_NLRI taking a node's route away when its backend dies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BGP_VIP, BGP_VIP6, birdConfig, clientEcho, createBgpBed, FRONTEND_PORT, fibNextHops, frrConfig, type NodeBgp, ROUTER_ASN, startBgpNode, startBird, startFrr, untilBgp, untilFib } from '../support/bgp-bed.js';
import { nsFetchTextAsync } from '../support/netns.js';

const announce = [{ vip: `${BGP_VIP}/32`, track: { backends: ['be'] } }, { vip: `${BGP_VIP6}/128`, track: { backends: ['be'] } }];

test('BIRD 2, an IPv6 channel on the IPv4 sessions: the /128 in the FIB through both nodes\' IPv6 addresses (ECMP), the client reaches it over IPv6; a dead backend withdraws the IPv6 route too', async (t) => {
  const bb = createBgpBed(t, 2);
  const [n1, n2] = bb.nodes as [typeof bb.nodes[0], typeof bb.nodes[0]];
  const bird = startBird(bb, birdConfig(bb, { ipv6: true }));
  const peer = { address: bb.router.ip, asn: ROUTER_ASN };
  // frontends on [::] take both families; the IPv6 next hop is left to the default (eth0's global address)
  const a = startBgpNode(bb, n1, { peers: [peer], announce }, { bind: `[::]:${FRONTEND_PORT}` });
  startBgpNode(bb, n2, { peers: [peer], announce }, { bind: `[::]:${FRONTEND_PORT}` });
  const both6 = await untilFib(bb.router, (h) => h.length === 2, 30_000, BGP_VIP6);
  assert.ok(both6, `one IPv6 next hop per node: ${fibNextHops(bb.router, BGP_VIP6).join(', ')}\n${bird.output().slice(-3000)}\n${a.kubeha.output().slice(-2000)}`);
  assert.deepEqual(fibNextHops(bb.router, BGP_VIP6), [n1.ip6, n2.ip6].sort());
  assert.ok(await untilFib(bb.router, (h) => h.length === 2, 10_000), 'the IPv4 VIP rides the same sessions');
  const state = await untilBgp(n1, (x) => x.peers[0]?.advertised.length === 2, 'both VIPs advertised');
  assert.deepEqual([state.peers[0]?.families, state.peers[0]?.nextHop6, state.peers[0]?.withheld], [['ipv4', 'ipv6'], n1.ip6, []]);
  assert.ok(await clientEcho(bb, BGP_VIP6), 'the client reaches the IPv6 VIP through the router');
  assert.ok(await clientEcho(bb), 'and the IPv4 VIP');
  assert.match(execFileSync('ip', ['-n', n1.ns, '-o', '-6', 'addr', 'show', 'dev', 'lo']).toString(), new RegExp(`inet6 ${BGP_VIP6}/128`), 'the IPv6 VIP is on lo');
  const metrics = (await nsFetchTextAsync(n1, 'http://127.0.0.1:9000/metrics')) ?? '';
  assert.match(metrics, new RegExp(`^kubeha_bgp_vip_announced\\{vip="${BGP_VIP6}/128"\\} 1$`, 'm'));

  const diedAt = Date.now();
  a.backend.child.kill('SIGKILL');
  const withdrawn = await untilFib(bb.router, (h) => h.length === 1 && h[0] === n2.ip6, 5000, BGP_VIP6);
  assert.ok(withdrawn, `n1's IPv6 route withdrawn (MP_UNREACH_NLRI): ${fibNextHops(bb.router, BGP_VIP6).join(', ')}`);
  t.diagnostic(`tracked backend killed → IPv6 route withdrawn from BIRD's FIB: ${withdrawn - diedAt} ms`);
  assert.deepEqual(fibNextHops(bb.router), [n2.ip], 'and the IPv4 one');
  assert.ok(await clientEcho(bb, BGP_VIP6), 'through n2 now');
  const after = await untilBgp(n1, (x) => x.peers[0]?.advertised.length === 0, 'n1 advertises nothing');
  assert.equal(after.peers[0]?.state, 'established', 'only the routes went');
});

test('FRR 8: a node activated in IPv6 unicast only gets its /128 into zebra\'s FIB and its IPv4 route withheld with the reason; frontends bound to the IPv6 VIP itself', async (t) => {
  const bb = createBgpBed(t, 2);
  const [n1, n2] = bb.nodes as [typeof bb.nodes[0], typeof bb.nodes[0]];
  const frr = await startFrr(bb, frrConfig(bb, { families: (n) => (n === n1 ? ['ipv4', 'ipv6'] : ['ipv6']) }), false);
  const peer = { address: bb.router.ip, asn: ROUTER_ASN };
  // n1 names its next hop; n2 takes the default
  startBgpNode(bb, n1, { peers: [{ ...peer, nextHop6: n1.ip6 }], announce }, { bind: [`${BGP_VIP}:${FRONTEND_PORT}`, `[${BGP_VIP6}]:${FRONTEND_PORT}`] });
  startBgpNode(bb, n2, { peers: [peer], announce }, { bind: [`${BGP_VIP}:${FRONTEND_PORT}`, `[${BGP_VIP6}]:${FRONTEND_PORT}`] });
  const both6 = await untilFib(bb.router, (h) => h.length === 2, 30_000, BGP_VIP6);
  assert.ok(both6, `one IPv6 next hop per node: ${fibNextHops(bb.router, BGP_VIP6).join(', ')}\n${frr.map((p) => p.output().slice(-2000)).join('\n')}`);
  assert.deepEqual(fibNextHops(bb.router, BGP_VIP6), [n1.ip6, n2.ip6].sort());
  const withheld = await untilBgp(n2, (x: NodeBgp) => x.peers[0]?.state === 'established' && x.peers[0].advertised.length === 1, 'n2 established with one route');
  assert.deepEqual([withheld.peers[0]?.families, withheld.peers[0]?.advertised], [['ipv6'], [`${BGP_VIP6}/128`]]);
  assert.equal(withheld.peers[0]?.withheld[0]?.prefix, `${BGP_VIP}/32`);
  assert.match(withheld.peers[0]?.withheld[0]?.reason ?? '', /did not offer IPv4 unicast/);
  assert.deepEqual(fibNextHops(bb.router), [n1.ip], 'the IPv4 VIP through n1 only');
  const servedBy = new Set<boolean>();
  for (let i = 0; i < 10; i++) servedBy.add(await clientEcho(bb, BGP_VIP6));
  assert.deepEqual([...servedBy], [true], 'every connection to the IPv6 VIP is answered through FRR');
});
