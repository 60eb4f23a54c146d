// A routed fabric in network namespaces: one router (BIRD, FRR or GoBGP), kubeha nodes that
// announce the VIP to it, and a client that reaches the VIP only through the router.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KUBEHA_BIN } from './processes.js';
import { createBed, nsFetchTextAsync, SUBNET, startKubehaConfig, type Bed, type BedHost, type NsProcess } from './netns.js';
import type { TestContextLike } from './tcp.js';

/** The VIP announced by BGP: outside the bed's subnet, so only the router's route leads to it. */
export const BGP_VIP = '198.51.100.10';
/** The IPv6 VIP announced by BGP (RFC 4760): outside the bed's 2001:db8::/64 as well. */
export const BGP_VIP6 = '2001:db8:5::10';
export const ROUTER_ASN = 65000;
export const NODE_ASN = 65001;
export const ECHO_PORT = 7101;
export const FRONTEND_PORT = 7000;
const ECHO_LOAD = fileURLToPath(new URL('./echo-load.js', import.meta.url));

export interface BgpBed {
  bed: Bed;
  router: BedHost;
  nodes: BedHost[];
  client: BedHost;
}

const sh = (ns: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Host 0 routes (forwarding on, no redirects: the client must keep sending through it); hosts 1..n are nodes; the last is the client. */
export function createBgpBed(t: TestContextLike, nodes: number): BgpBed {
  const bed = createBed(t, nodes + 2);
  const router = bed.hosts[0]!;
  const client = bed.hosts[nodes + 1]!;
  // L4 multipath hashing: each connection (source port) picks a next hop, so one client's connections spread
  sh(router.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.fib_multipath_hash_policy=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.eth0.send_redirects=0',
    'net.ipv6.conf.all.forwarding=1', 'net.ipv6.fib_multipath_hash_policy=1');
  sh(client.ns, 'sysctl', '-qw', 'net.ipv4.conf.all.accept_redirects=0', 'net.ipv4.conf.eth0.accept_redirects=0', 'net.ipv6.conf.eth0.accept_redirects=0');
  execFileSync('ip', ['-n', client.ns, 'route', 'add', `${BGP_VIP}/32`, 'via', router.ip]);
  execFileSync('ip', ['-n', client.ns, '-6', 'route', 'add', `${BGP_VIP6}/128`, 'via', router.ip6]);
  return { bed, router, nodes: bed.hosts.slice(1, nodes + 1), client };
}

/** The next hops of the router's kernel route to the VIP, IPv4 or IPv6 (empty: no route). */
export function fibNextHops(router: BedHost, vip = BGP_VIP): string[] {
  const v6 = vip.includes(':');
  const out = execFileSync('ip', ['-n', router.ns, '-j', ...(v6 ? ['-6'] : []), 'route', 'show', `${vip}/${v6 ? 128 : 32}`]).toString();
  const routes = JSON.parse(out || '[]') as { gateway?: string; nexthops?: { gateway: string }[] }[];
  return routes.flatMap((r) => (r.nexthops ? r.nexthops.map((n) => n.gateway) : r.gateway ? [r.gateway] : [])).sort();
}

/** Polls the router's FIB every 10 ms until `pred` holds (bounded); resolves with the Date.now() it did, or undefined. */
export async function untilFib(router: BgpBed['router'], pred: (hops: string[]) => boolean, timeoutMs: number, vip = BGP_VIP): Promise<number | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (pred(fibNextHops(router, vip))) return Date.now();
    if (Date.now() > end) return undefined;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The tracked backend on the node's loopback — a TCP echo server, or a stand-in kube-apiserver
 * (HTTPS, /readyz, named after the node) — and kubeha with a frontend to it (on `bind`) and `bgp`.
 */
export function startBgpNode(bb: BgpBed, node: BedHost, bgp: Record<string, unknown>, o: { bind?: string | string[]; backend?: 'echo' | 'apiserver' } = {}): { backend: NsProcess; kubeha: NsProcess } {
  const apiserver = o.backend === 'apiserver';
  const backend = apiserver
    ? node.spawn(process.execPath, [KUBEHA_BIN, 'sim', 'apiserver', '--port', String(ECHO_PORT), '--name', node.ip, '--shutdown-delay', '0s'])
    : node.spawn(process.execPath, [ECHO_LOAD, 'echo', String(ECHO_PORT)]);
  const kubeha = startKubehaConfig(bb.bed, node, {
    admin: { bind: '127.0.0.1:9000' },
    frontends: [o.bind ?? `0.0.0.0:${FRONTEND_PORT}`].flat().map((bind, i) => ({ name: `fe${i || ''}`, bind, backend: 'be' })),
    backends: [{ name: 'be', healthCheck: { type: apiserver ? 'https' : 'tcp', interval: '100ms', timeout: '200ms', rise: 1, fall: 2 }, servers: [{ name: 's1', address: `127.0.0.1:${ECHO_PORT}` }] }],
    bgp: { localAsn: NODE_ASN, announce: [{ vip: `${BGP_VIP}/32`, track: { backends: ['be'] } }], ...bgp },
  });
  return { backend, kubeha };
}

/** GET /version through the VIP from the client, on a new TLS connection; the node whose stand-in answered, or undefined. */
export async function clientVersion(bb: BgpBed): Promise<string | undefined> {
  const script = `require('https').get({host:'${BGP_VIP}',port:${FRONTEND_PORT},path:'/version',rejectUnauthorized:false,agent:false,timeout:3000},(r)=>{r.resume();r.on('end',()=>{console.log(r.headers['x-kubeha-sim']);process.exit(r.statusCode===200?0:1)})}).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))`;
  const p = bb.client.spawn(process.execPath, ['-e', script]);
  return (await p.exited) === 0 ? p.output().trim() : undefined;
}

/** One echo round trip from the client to the VIP (IPv4 or IPv6) through the router; resolves with whether it came back. */
export async function clientEcho(bb: BgpBed, vip = BGP_VIP): Promise<boolean> {
  const script = `const s=require('net').connect(${FRONTEND_PORT},'${vip}');s.setTimeout(3000,()=>{console.log('timeout');process.exit(1)});s.on('connect',()=>s.write('ping'));s.on('data',d=>{console.log(String(d));process.exit(String(d)==='ping'?0:1)});s.on('error',e=>{console.log(e.code);process.exit(1)})`;
  const p = bb.client.spawn(process.execPath, ['-e', script]);
  return (await p.exited) === 0;
}

/** A BIRD 2 config for the router: one BGP session per node, the kernel FIB with ECMP, BFD when asked, an IPv6 channel (MP-BGP over the IPv4 session) when asked. */
export function birdConfig(bb: BgpBed, o: { asn?: number; bfd?: boolean; password?: string; hold?: number; ipv6?: boolean }): string {
  const sessions = bb.nodes.map((n, i) => `
protocol bgp node${i} {
  local ${bb.router.ip} as ${ROUTER_ASN};
  neighbor ${n.ip} as ${o.asn ?? NODE_ASN};
  passive on;
  # BIRD waits 60-300 s after a failed session by default; a healed partition is tested here
  error wait time 1, 5;
  hold time ${o.hold ?? 9};
  ${o.bfd ? 'bfd on;' : ''}
  ${o.password ? `password "${o.password}";` : ''}
  ${(o.asn ?? NODE_ASN) === ROUTER_ASN ? 'direct;' : ''}
  ipv4 { import all; export none; };
  ${o.ipv6 ? 'ipv6 { import all; export none; };' : ''}
}`).join('\n');
  const file = join(bb.bed.dir, 'bird.conf');
  writeFileSync(file, `router id ${bb.router.ip};
log stderr all;
protocol device {}
protocol kernel { ipv4 { export all; }; merge paths on; }
${o.ipv6 ? 'protocol kernel { ipv6 { export all; }; merge paths on; }' : ''}
${o.bfd ? 'protocol bfd { interface "eth0" { interval 100 ms; multiplier 3; }; }' : ''}
${sessions}
`);
  return file;
}

/** Starts BIRD in the router namespace, in the foreground, with its own control socket. */
export function startBird(bb: BgpBed, conf: string): NsProcess {
  return bb.router.spawn('bird', ['-f', '-c', conf, '-s', join(bb.bed.dir, 'bird.ctl'), '-P', join(bb.bed.dir, 'bird.pid')]);
}

export { SUBNET };

/** The BGP part of a node's /api/v1/state, as the tests read it. */
export interface NodeBgp {
  peers: {
    state: string; routerId: string | null; advertised: string[]; bfd: { state: string } | null; counters: Record<string, number>; lastError: string | null;
    families: string[] | null; nextHop6: string | null; withheld: { prefix: string; reason: string }[];
  }[];
  announcements: { announced: boolean; onInterface: boolean; reason: string }[];
}

/** Polls the node's state API (every 50 ms, bounded) until `pred` holds of its bgp part; fails the test with `what` otherwise. */
export async function untilBgp(node: BedHost, pred: (b: NodeBgp) => boolean, what: string, timeoutMs = 30_000): Promise<NodeBgp> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const text = await nsFetchTextAsync(node, 'http://127.0.0.1:9000/api/v1/state');
    // undefined: not serving yet
    if (text !== undefined) {
      last = (JSON.parse(text) as { bgp?: NodeBgp | null }).bgp;
      if (last && pred(last as NodeBgp)) return last as NodeBgp;
    }
    if (Date.now() > end) throw new Error(`${node.ip}: ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * FRR's bgpd config for the router: eBGP to every node, ECMP (maximum-paths), BFD and MD5 when
 * asked; `families` says which address families each node's session is activated in (IPv4 only by default).
 */
export function frrConfig(bb: BgpBed, o: { bfd?: boolean; password?: string; hold?: number; families?: (node: BedHost) => ('ipv4' | 'ipv6')[] }): string {
  const families = o.families ?? (() => ['ipv4']);
  const addressFamily = (f: 'ipv4' | 'ipv6') => [
    ` address-family ${f} unicast`,
    ...bb.nodes.filter((n) => families(n).includes(f)).map((n) => `  neighbor ${n.ip} activate`),
    '  maximum-paths 8',
    ' exit-address-family',
  ];
  const neighbors = bb.nodes.map((n) => [
    ` neighbor ${n.ip} remote-as ${NODE_ASN}`,
    ` neighbor ${n.ip} timers ${Math.max(1, Math.floor((o.hold ?? 9) / 3))} ${o.hold ?? 9}`,
    // FRR waits 60 s (doubling) after a session error by default; a healed partition is tested here
    ` neighbor ${n.ip} timers connect 1`,
    o.bfd ? ` neighbor ${n.ip} bfd` : '',
    o.password ? ` neighbor ${n.ip} password ${o.password}` : '',
  ].filter(Boolean).join('\n')).join('\n');
  const file = join(bb.bed.dir, 'bgpd.conf');
  writeFileSync(file, `frr defaults traditional
hostname router
log stdout
${o.bfd ? `bfd\n${bb.nodes.map((n) => ` peer ${n.ip}\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n exit`).join('\n')}\nexit` : ''}
router bgp ${ROUTER_ASN}
 bgp router-id ${bb.router.ip}
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
${neighbors}
${[...addressFamily('ipv4'), ...(bb.nodes.some((n) => families(n).includes('ipv6')) ? addressFamily('ipv6') : [])].join('\n')}
`);
  return file;
}

/** FRR in the router namespace: zebra (the kernel FIB), bgpd, and bfdd when asked, each in the foreground. */
export async function startFrr(bb: BgpBed, conf: string, bfd: boolean): Promise<NsProcess[]> {
  // FRR's daemons drop to the Debian package's user frr: a folder of theirs, reachable from the bed's
  const d = join(bb.bed.dir, 'frr');
  mkdirSync(d);
  chmodSync(bb.bed.dir, 0o755);
  execFileSync('chown', ['frr:frr', d]);
  const zserv = join(d, 'zserv.api');
  const common = (name: string) => ['-z', zserv, '--vty_socket', d, '-i', join(d, `${name}.pid`), '-P', '0', '--log', 'stdout'];
  const zebraConf = join(d, 'zebra.conf');
  writeFileSync(zebraConf, 'hostname router\n');
  const zebra = bb.router.spawn('/usr/lib/frr/zebra', [...common('zebra'), '-f', zebraConf]);
  // the daemons connect to zebra's socket: it must be there first
  for (let i = 0; i < 500 && !existsSync(zserv); i++) await new Promise((r) => setTimeout(r, 20));
  const procs = [zebra];
  // one file as an operator writes it (frr.conf), split per daemon: bfdd takes the bfd section, bgpd the rest
  const [head, bgp] = readFileSync(conf, 'utf8').split('router bgp');
  const bgpdConf = join(d, 'bgpd.conf');
  writeFileSync(bgpdConf, `${head!.split('bfd\n')[0]}router bgp${bgp}`);
  if (bfd) {
    const bfdConf = join(d, 'bfdd.conf');
    writeFileSync(bfdConf, head!);
    procs.push(bb.router.spawn('/usr/lib/frr/bfdd', [...common('bfdd'), '-f', bfdConf]));
  }
  procs.push(bb.router.spawn('/usr/lib/frr/bgpd', [...common('bgpd'), '-f', bgpdConf]));
  return procs;
}

/** A GoBGP config (TOML) for the router: every node a passive neighbour of `asn`. */
export function gobgpConfig(bb: BgpBed, o: { nodeAsn: number; hold?: number }): string {
  const file = join(bb.bed.dir, 'gobgpd.toml');
  writeFileSync(file, `[global.config]
  as = ${ROUTER_ASN}
  router-id = "${bb.router.ip}"
${bb.nodes.map((n) => `
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${n.ip}"
    peer-as = ${o.nodeAsn}
  [neighbors.timers.config]
    hold-time = ${o.hold ?? 9}
    keepalive-interval = ${Math.max(1, Math.floor((o.hold ?? 9) / 3))}
  [neighbors.transport.config]
    passive-mode = true
`).join('')}`);
  return file;
}

/** GoBGP's RIB: the next hops it holds for `prefix` (it keeps every path; no kernel FIB without zebra). */
export function gobgpPaths(bb: BgpBed, prefix = `${BGP_VIP}/32`): { nextHop: string; asPath: number[] }[] {
  const out = execFileSync('ip', ['netns', 'exec', bb.router.ns, 'gobgp', '-j', 'global', 'rib', prefix], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const rib = JSON.parse(out || '{}') as Record<string, { attrs: { type: number; nexthop?: string; as_paths?: { asns: number[] }[] }[] }[]>;
  return (rib[prefix] ?? []).map((p) => ({
    nextHop: p.attrs.find((a) => a.type === 3)?.nexthop ?? '',
    asPath: p.attrs.find((a) => a.type === 2)?.as_paths?.flatMap((s) => s.asns) ?? [],
  })).sort((a, b) => a.nextHop.localeCompare(b.nextHop));
}
