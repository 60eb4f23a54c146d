// kubeha announcing a VIP to BIRD 2 in network namespaces: ECMP in the router's kernel FIB, a client
// through it, and the route gone after a node's SIGKILL (BFD) or its tracked backend's death.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { birdConfig, clientEcho, createBgpBed, ECHO_PORT, fibNextHops, type NodeBgp, ROUTER_ASN, startBgpNode, startBird, untilBgp, untilFib } from '../support/bgp-bed.js';
import { KUBEHA_BIN } from '../support/processes.js';
import { nsFetchJson, nsFetchTextAsync } from '../support/netns.js';

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
  const state = nsFetchJson(n1, 'http://127.0.0.1:9000/api/v1/state') as { bgp: NodeBgp };
  assert.equal(state.bgp.peers[0]?.state, 'established');
  assert.deepEqual(state.bgp.peers[0]?.advertised, ['198.51.100.10/32']);
  assert.deepEqual(state.bgp.announcements.map((x) => [x.announced, x.onInterface]), [[true, true]]);
  // RFC 2918: BIRD keeps no Adj-RIB-In, so `reload in` asks for the routes again with a ROUTE-REFRESH
  const sentBefore = state.bgp.peers[0]!.counters.updatesOut ?? 0;
  execFileSync('birdc', ['-s', join(bb.bed.dir, 'bird.ctl'), 'reload', 'in', 'node0']);
  const refreshed = await untilBgp(n1, (x) => (x.peers[0]?.counters.updatesOut ?? 0) > sentBefore, 'the route sent again after a ROUTE-REFRESH', 10_000);
  assert.equal(refreshed.peers[0]?.counters.established, 1, 'a refresh is not a reset');
  // BFD must be Up on both ends before the cut is timed
  for (const n of [n1, n2]) await untilBgp(n, (x) => x.peers[0]?.bfd?.state === 'up', 'BFD up');
  // the status the BGP thread reports reaches the metrics (the thread reports at least once a second)
  let metrics = '';
  for (let i = 0; i < 100 && !/kubeha_bfd_session_up\{peer="192\.0\.2\.1"\} 1/.test(metrics); i++) {
    metrics = (await nsFetchTextAsync(n1, 'http://127.0.0.1:9000/metrics')) ?? '';
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(metrics, /^kubeha_bgp_session_up\{peer="192\.0\.2\.1"\} 1$/m);
  assert.match(metrics, /^kubeha_bfd_session_up\{peer="192\.0\.2\.1"\} 1$/m);
  assert.match(metrics, /^kubeha_bgp_vip_announced\{vip="198\.51\.100\.10\/32"\} 1$/m);
  assert.match(metrics, /^kubeha_bgp_messages_total\{peer="192\.0\.2\.1",direction="out",type="update"\} [1-9]/m);
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
  b.backend.child.kill('SIGKILL');
  const withdrawn = await untilFib(bb.router, (h) => h.length === 0, 5000);
  assert.ok(withdrawn, 'n2 withdrew when its only tracked backend died');
  t.diagnostic(`tracked backend killed → route withdrawn: ${withdrawn - diedAt} ms (checks every 100 ms, fall 2)`);
  const after = nsFetchJson(n2, 'http://127.0.0.1:9000/api/v1/state') as typeof state & { bgp: { announcements: { reason: string }[] } };
  assert.match(after.bgp.announcements[0]?.reason ?? '', /no tracked backend can serve/);
  assert.doesNotMatch(execFileSync('ip', ['-n', n2.ns, '-o', 'addr', 'show', 'dev', 'lo']).toString(), /198\.51\.100\.10/, 'a withdrawn VIP leaves lo');
  assert.equal(after.bgp.peers[0]?.state, 'established', 'the session stays up: only the route went');
});

test('BIRD 2, iBGP with TCP MD5, primary mode: the router uses only the primary; it withdraws (backend dead, then maintenance) and traffic moves to the standby and back; without BFD an unplugged node lasts the hold time', async (t) => {
  const bb = createBgpBed(t, 2);
  const [n1, n2] = bb.nodes as [typeof bb.nodes[0], typeof bb.nodes[0]];
  const bird = startBird(bb, birdConfig(bb, { asn: ROUTER_ASN, password: 's3cret', hold: 3 }));
  const peer = { address: bb.router.ip, asn: ROUTER_ASN, password: 's3cret', holdTime: '3s' };
  const announce = (priority: number) => [{ vip: '198.51.100.10/32', mode: 'primary', priority, track: { backends: ['be'] } }];
  const a = startBgpNode(bb, n1, { localAsn: ROUTER_ASN, peers: [peer], announce: announce(200) });
  startBgpNode(bb, n2, { localAsn: ROUTER_ASN, peers: [peer], announce: announce(100) });
  const established = (n: typeof n1) => untilBgp(n, (b) => b.peers[0]?.state === 'established' && b.peers[0].advertised.length === 1, `established with MD5 (BIRD: ${bird.output().slice(-2000)})`);
  await established(n1);
  await established(n2);
  assert.ok(await untilFib(bb.router, (h) => h.length === 1 && h[0] === n1.ip, 10_000), `only the primary (LOCAL_PREF 200 over 100): ${fibNextHops(bb.router).join(', ')}`);
  assert.ok(await clientEcho(bb));

  a.backend.child.kill('SIGKILL');
  assert.ok(await untilFib(bb.router, (h) => h.length === 1 && h[0] === n2.ip, 5000), 'the standby carries the VIP once the primary withdrew');
  assert.ok(await clientEcho(bb), 'through the standby');
  const echo = n1.spawn(process.execPath, [fileURLToPath(new URL('../support/echo-load.js', import.meta.url)), 'echo', String(ECHO_PORT)]);
  await echo.waitLine(/listening/);
  assert.ok(await untilFib(bb.router, (h) => h.length === 1 && h[0] === n1.ip, 5000), 'back to the primary when it announces again');

  // kubeha maintenance on withdraws BGP too
  const on = spawnSync('ip', ['netns', 'exec', n1.ns, process.execPath, KUBEHA_BIN, 'maintenance', 'on', '--admin', '127.0.0.1:9000'], { encoding: 'utf8' });
  assert.equal(on.status, 0, on.stderr + on.stdout);
  assert.match(on.stdout, /bgp: maintenance on; it was announcing: every VIP is withdrawn/);
  assert.ok(await untilFib(bb.router, (h) => h.length === 1 && h[0] === n2.ip, 5000), 'maintenance moved the VIP to the standby');
  const off = spawnSync('ip', ['netns', 'exec', n1.ns, process.execPath, KUBEHA_BIN, 'maintenance', 'off', '--admin', '127.0.0.1:9000'], { encoding: 'utf8' });
  assert.equal(off.status, 0, off.stderr + off.stdout);
  assert.ok(await untilFib(bb.router, (h) => h.length === 1 && h[0] === n1.ip, 5000), 'and back');

  // no BFD: an unplugged primary is noticed by the router's hold timer (3 s), not before
  const cutAt = Date.now();
  bb.bed.plug(1, false);
  const moved = await untilFib(bb.router, (h) => h.length === 1 && h[0] === n2.ip, 15_000);
  assert.ok(moved, 'the standby took over after the hold time');
  t.diagnostic(`primary unplugged, no BFD → the standby in the FIB: ${moved - cutAt} ms (hold time 3 s)`);
  assert.ok(moved - cutAt >= 1500, `faster than a hold timer can be (${moved - cutAt} ms): something else noticed`);
});

test('BIRD 2: a passive kubeha is dialled by the router and discards the routes it is sent; multihop 255 passes the router\'s TTL security (GTSM), TTL 1 does not', async (t) => {
  const bb = createBgpBed(t, 3);
  const [n1, n2, n3] = bb.nodes as [typeof bb.nodes[0], typeof bb.nodes[0], typeof bb.nodes[0]];
  const conf = join(bb.bed.dir, 'bird-custom.conf');
  const session = (name: string, ip: string, extra: string) => `
protocol bgp ${name} {
  local ${bb.router.ip} as ${ROUTER_ASN};
  neighbor ${ip} as 65001;
  error wait time 1, 5;
  connect retry time 1;
  ${extra}
  ipv4 { import all; export all; };
}`;
  writeFileSync(conf, `router id ${bb.router.ip};
log stderr all;
protocol device {}
protocol kernel { ipv4 { export all; }; merge paths on; }
protocol static { ipv4; route 203.0.113.0/24 blackhole; }
${session('gtsm_ok', n1.ip, 'passive on; ttl security on;')}
${session('dials', n2.ip, '')}
${session('gtsm_bad', n3.ip, 'passive on; ttl security on;')}
`);
  const bird = startBird(bb, conf);
  startBgpNode(bb, n1, { peers: [{ address: bb.router.ip, asn: ROUTER_ASN, multihop: 255 }] });
  startBgpNode(bb, n2, { peers: [{ address: bb.router.ip, asn: ROUTER_ASN, passive: true }] });
  startBgpNode(bb, n3, { peers: [{ address: bb.router.ip, asn: ROUTER_ASN }] });
  await untilBgp(n1, (x) => x.peers[0]?.state === 'established', `multihop 255 through GTSM (BIRD: ${bird.output().slice(-1500)})`);
  const passive = await untilBgp(n2, (x) => x.peers[0]?.state === 'established' && (x.peers[0].counters.updatesIn ?? 0) >= 1, 'the router dialled the passive node and sent its routes');
  assert.equal(passive.peers[0]?.counters.treatAsWithdraw, 0);
  assert.ok(await untilFib(bb.router, (h) => h.length === 2, 10_000), 'n1 and n2 announce');
  // the routes the router sent are parsed and discarded: none reaches the node's kernel
  const routes = execFileSync('ip', ['-n', n2.ns, 'route', 'show', '203.0.113.0/24']).toString();
  assert.equal(routes.trim(), '', 'kubeha installs no received route');
  // n3 sends TTL 1 (eBGP directly connected): the router's GTSM drops it, so the router never has a
  // session with it (it started with the others, which are Established by now). n3 itself may count
  // one: BIRD sets IP_MINTTL on the accepted socket, and an OPEN that arrived before that is read and
  // answered; n3's KEEPALIVE after it is dropped, so BIRD never leaves OpenConfirm.
  const birdSession = execFileSync('birdc', ['-s', join(bb.bed.dir, 'bird.ctl'), 'show', 'protocols', 'gtsm_bad']).toString();
  assert.match(birdSession, /gtsm_bad\s+BGP/, birdSession);
  assert.doesNotMatch(birdSession, /Established/, 'the router has no session with n3');
  assert.deepEqual(fibNextHops(bb.router), [n1.ip, n2.ip].sort(), 'n3 is not a next hop');
  const lo = () => execFileSync('ip', ['-n', n1.ns, '-o', 'addr', 'show', 'dev', 'lo']).toString();
  assert.match(lo(), /inet 198\.51\.100\.10\/32/, 'an announced VIP is on lo');
});
