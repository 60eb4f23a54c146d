// The planner's inventory (../shared/DESIGN.md "Inventory contract": those keys are fixed; more
// may be added) and the plan derived from it: which host does what, on which port, with which
// VRRP priority. Pure (text in, plan out) but for loadInventoryFile, its file adapter.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseYamlWithSchema, type ConfigProblem, type Locate, type Path } from '../config/load.js';
import { isIPv4, isIPv6 } from 'node:net';
import { inSubnet, parseCidr, parseIpv4Cidr } from '../config/address.js';
import { canonicalIp } from '../vrrp/packet.js';
import { parseDuration } from '../config/duration.js';

const name = z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, { message: 'a host name is lower-case letters, digits, "." and "-" (a DNS label)' });
const ipv4 = z.string().refine((s) => isIPv4(s), { message: 'an IPv4 address like 10.8.4.91' });
/**
 * How `kubeha apply` reaches a host (DESIGN.md, second wave). The inventory's `ssh:` gives the
 * defaults; a host's own `ssh:` overrides them key by key. `hostKey` (per host only) pins the key
 * ("ssh-ed25519 AAAA..."), checked instead of known_hosts.
 */
const sshSettings = z.strictObject({
  user: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  identityFile: z.string().min(1).optional(),
  knownHostsFile: z.string().min(1).optional(),
  sudo: z.boolean().optional(),
  jumpHost: z.string().regex(/^$|^[^@\s]+@[^:\s]+(:\d{1,5})?$/, { message: 'a jump host is user@host or user@host:port' }).optional(),
});
const hostSsh = sshSettings.extend({
  hostKey: z.string().regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/, { message: 'a pinned host key is "TYPE BASE64", like the second and third fields of a known_hosts line: ssh-ed25519 AAAA...' }).optional(),
});
/** An IPv6 address (no zone, no prefix): a dual-stack host's own. */
const ipv6 = z.string().refine((s) => isIPv6(s) && !s.includes('%'), { message: 'an IPv6 address like fd00:8:4::91 (no prefix, no zone)' });
const host = z.strictObject({ name, ip: ipv4, ip6: ipv6.optional(), ssh: hostSsh.optional() });
/** A Linux interface name: at most 15 bytes (IFNAMSIZ 16 with the NUL), no whitespace and no "/". */
const ifname = z.string().regex(/^[^\s/]{1,15}$/, { message: 'an interface name like eth0: at most 15 characters, no spaces or "/"' });
/** An LB host: a host that may carry the VIP on an interface of its own (default: the inventory's `interface`). */
const lbHost = host.extend({ interface: ifname.optional() });
/**
 * A master. `join: true` says it joins a running cluster (etcdctl member add, kubeadm join) rather
 * than bootstrapping it with the others; it stays true after the join, so the files stay the same.
 */
const master = lbHost.extend({ join: z.boolean().optional() });
const port = z.number().int().min(1).max(65535);
/** A certificates folder, kept without a trailing `/` so that every path is `${pkiDir}/name`. */
const pkiFolder = z.string().transform((s) => s.replace(/\/+$/, '') || '/');

export const inventorySchema = z.strictObject({
  cluster: name,
  vip: z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, { message: 'the VIP is an IPv4 address with the prefix of its subnet, like 10.8.4.55/24' }),
  /** Dual stack: the IPv6 VIP with its subnet's prefix, floated by a second VRRP instance in one sync group with the IPv4 one. */
  vip6: z.string().optional(),
  interface: ifname,
  apiPort: port.default(6443),
  /** The port each kube-apiserver listens on. */
  apiserverPort: port.default(6443),
  masters: z.array(master).min(1),
  workers: z.array(host).default([]),
  lb: z.strictObject({
    flavor: z.enum(['kubeha', 'haproxy', 'nginx']).default('kubeha'),
    hosts: z.array(lbHost).default([]),
    /** The LB frontend port when it shares a host with an apiserver on apiPort. */
    sharedPort: port.default(16443),
    /** haproxy's global maxconn: it needs about twice as many open files (the host's LimitNOFILE). */
    maxConnections: z.number().int().min(100).max(1_000_000).default(20_000),
    /** kubeha's data plane on the LB hosts: `kernel` forwards the VIP with nftables DNAT (kubeha decides, the table outlives it). */
    dataPlane: z.enum(['userspace', 'kernel']).default('userspace'),
    /** With dataPlane kernel: `remove` takes the table away when the unit stops (ExecStopPost); `keep` (default) forwards on without kubeha. */
    kernelOnStop: z.enum(['keep', 'remove']).default('keep'),
    /** With dataPlane kernel and two LB hosts: the node that takes the VIP carries the connections on (sourceNat: vip + conntrackSync). */
    stateful: z.boolean().default(false),
  }).default({ flavor: 'kubeha', hosts: [], sharedPort: 16443, maxConnections: 20_000, dataPlane: 'userspace', kernelOnStop: 'keep', stateful: false }),
  etcd: z.strictObject({
    mode: z.enum(['stacked', 'external']).default('stacked'),
    endpoints: z.array(z.string().regex(/^https?:\/\/[^/]+\/?$/, { message: 'an etcd endpoint is a URL like https://10.8.4.91:2379' })).default([]),
    clientPort: port.default(2379),
    peerPort: port.default(2380),
    tls: z.boolean().default(true),
    pkiDir: pkiFolder.default('/etc/kubernetes/pki/etcd'),
    dataDir: z.string().default('/var/lib/etcd'),
  }).default({ mode: 'stacked', endpoints: [], clientPort: 2379, peerPort: 2380, tls: true, pkiDir: '/etc/kubernetes/pki/etcd', dataDir: '/var/lib/etcd' }),
  vrrp: z.strictObject({
    version: z.union([z.literal(2), z.literal(3)]).default(3),
    advertInterval: z.string().default('100ms'),
    unicast: z.boolean().default(false),
    authPass: z.string().max(8).default(''),
    virtualRouterId: z.number().int().min(1).max(255).optional(),
    /** How long a higher-priority LB host serves before it takes the VIP back (kubeha preemptDelay, keepalived preempt_delay). */
    preemptDelay: z.string().default('15s'),
  }).default({ version: 3, advertInterval: '100ms', unicast: false, authPass: '', preemptDelay: '15s' }),
  /**
   * How the VIP reaches clients: `vrrp` floats it on one L2 segment; `bgp` announces it as a /32 to
   * the routers of an L3 fabric from every LB host (kubeha flavor only).
   */
  vipMode: z.enum(['vrrp', 'bgp']).default('vrrp'),
  /** vipMode: bgp — this cluster's AS, the routers, and how the VIP is spread over the LB hosts. */
  bgp: z.strictObject({
    localAsn: z.number().int().min(1).max(4_294_967_295),
    peers: z.array(z.strictObject({
      address: ipv4,
      asn: z.number().int().min(1).max(4_294_967_295),
      password: z.string().max(80).default(''),
      /** BFD with the router (100 ms × 3): a dead LB host's route goes in ~300 ms instead of the hold time. */
      bfd: z.boolean().default(true),
      holdTime: z.string().default('9s'),
      /** The LB hosts that peer with this router (each host with its own top-of-rack router); default: every LB host. */
      hosts: z.array(name).optional(),
    })).min(1),
    /** all-active: every LB host announces (ECMP); primary: the first LB host is preferred, the others stand by. */
    mode: z.enum(['all-active', 'primary']).default('all-active'),
  }).optional(),
  workerAccess: z.enum(['vip', 'local']).default('vip'),
  /** The port of the node-local LB on workers with workerAccess: local. */
  localPort: port.default(6443),
  /**
   * How the masters' controller-manager and scheduler reach the apiservers: `vip` (kubeadm's
   * controlPlaneEndpoint), or `local`, a node-local kubeha on 127.0.0.1:masterLocalPort on every
   * master (KubePrism's layout) that follows the apiservers from the API.
   */
  masterAccess: z.enum(['vip', 'local']).default('vip'),
  /** The port of the masters' node-local LB (masterAccess: local); KubePrism's, since the apiserver holds apiserverPort on every address. */
  masterLocalPort: port.default(7445),
  pkiDir: pkiFolder.default('/etc/kubernetes/pki'),
  keepalivedScriptDir: z.string().default('/etc/keepalived'),
  kubehaImage: z.string().default('kubeha:0.1.0'),
  /** SSH defaults for `kubeha apply`: every host's own `ssh:` overrides them key by key. */
  ssh: sshSettings.default({}),
  /** A local folder with etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (fresh installs by apply). */
  binaries: z.string().default(''),
  /** kubeadm's kubernetesVersion; without it kubeadm asks the internet for the latest stable one. */
  kubernetesVersion: z.string().regex(/^v\d+\.\d+\.\d+/, { message: 'a Kubernetes version like v1.20.2' }).optional(),
});

/** A validated inventory. */
export type Inventory = z.output<typeof inventorySchema>;
/** SSH settings of a host, as given (before the inventory's defaults are applied). */
export type HostSsh = z.output<typeof hostSsh>;
export type Host = z.output<typeof host>;
/** An LB host (a master when the LB runs on the masters): a host with an optional interface of its own. */
export type LbHost = z.output<typeof lbHost>;
/** A master of the inventory. */
export type Master = z.output<typeof master>;

/** Everything the renderers need, derived once. */
export interface Plan {
  inv: Inventory;
  vipAddress: string;
  vipPrefix: number;
  /** The IPv6 VIP without its prefix (dual stack), else undefined. */
  vip6Address: string | undefined;
  lbHosts: LbHost[];
  /** Whether the LB runs on the masters (and so must avoid the apiserver's port). */
  lbOnMasters: boolean;
  /** The port the LB listens on and clients use on the VIP. */
  frontendPort: number;
  /** `https://VIP:frontendPort`. */
  endpoint: string;
  virtualRouterId: number;
  advertIntervalMs: number;
  /** vrrp.preemptDelay in whole seconds (keepalived's preempt_delay takes seconds). */
  preemptDelayS: number;
  /** VRRP priority per LB host name: descending in inventory order. */
  priorities: Map<string, number>;
  etcdEndpoints: string[];
  /** Whether the virtual router id came from the cluster name (no vrrp.virtualRouterId): it may collide. */
  virtualRouterIdDerived: boolean;
  /** The masters that bootstrap the cluster (no `join`), in inventory order; the first runs kubeadm init. */
  founders: Master[];
  /** The masters that join the running cluster, in inventory order: the order they are added in. */
  joiners: Master[];
  /** kubeadm's config API for the inventory's kubernetesVersion. */
  kubeadmApi: KubeadmApi;
  /** Things the operator should know that are not errors; render prints them to stderr and the index README. */
  warnings: string[];
}

/** A kubeadm configuration API version (kubeadm.k8s.io/...). */
export type KubeadmApi = 'v1beta2' | 'v1beta3' | 'v1beta4';

/**
 * The kubeadm config API that the kubeadm of `kubernetesVersion` reads:
 * v1beta3 was added in kubeadm v1.22 and v1beta2 removed in v1.27 (kubernetes/kubernetes#114540;
 * the v1beta4 package doc: "kubeadm v1.27.x and newer no longer support v1beta2"); v1beta4 was
 * added in v1.31, where v1beta3 became deprecated. Without a version, v1beta3: kubeadm then deploys
 * the release it finds or its own, and v1beta3 is the one version every kubeadm from v1.22 on reads.
 */
export function kubeadmApiFor(kubernetesVersion: string | undefined): KubeadmApi {
  const m = kubernetesVersion ? /^v(\d+)\.(\d+)\./.exec(kubernetesVersion) : null;
  if (!m) return 'v1beta3';
  const minor = Number(m[1]) > 1 ? Infinity : Number(m[2]);
  return minor < 22 ? 'v1beta2' : minor < 31 ? 'v1beta3' : 'v1beta4';
}

/** The interface that carries the VIP on `host`: its own, else the inventory's. */
export function interfaceOf(plan: Plan, host: LbHost): string {
  return host.interface ?? plan.inv.interface;
}

/** RFC 5798 priorities: the first LB host 150, then 10 less each; the weight must exceed their spread. */
const PRIORITY_TOP = 150;
const PRIORITY_STEP = 10;

/** FNV-1a, for a virtual router id derived from the cluster name (1..255). */
export function virtualRouterIdFor(cluster: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(cluster, 'utf8')) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return (h % 255) + 1;
}

/** The hosts that run the front door: lb.hosts, or the masters. */
function lbHostsOf(inv: Inventory): LbHost[] {
  return inv.lb.hosts.length > 0 ? inv.lb.hosts : inv.masters;
}

/** The routers `host` peers with (vipMode: bgp). */
export function bgpPeersOf(plan: Plan, host: LbHost): NonNullable<Inventory['bgp']>['peers'] {
  return (plan.inv.bgp?.peers ?? []).filter((p) => !p.hosts || p.hosts.includes(host.name));
}

/** The LB hosts, whether they are masters, and the port the LB serves (not the apiserver's when it shares the masters). */
function frontDoor(inv: Inventory): { lbHosts: LbHost[]; lbOnMasters: boolean; frontendPort: number } {
  const lbHosts = lbHostsOf(inv);
  const masterIps = new Set(inv.masters.map((m) => m.ip));
  const lbOnMasters = lbHosts.some((h) => masterIps.has(h.ip));
  return { lbHosts, lbOnMasters, frontendPort: lbOnMasters && inv.apiPort === inv.apiserverPort ? inv.lb.sharedPort : inv.apiPort };
}

/** Derives the plan; call only on an inventory that passed {@link checkInventory}. */
export function makePlan(inv: Inventory): Plan {
  const { ip: vipAddress, prefix } = parseIpv4Cidr(inv.vip) ?? { ip: inv.vip, prefix: 32 };
  const { lbHosts, lbOnMasters, frontendPort } = frontDoor(inv);
  const priorities = new Map(lbHosts.map((h, i) => [h.name, PRIORITY_TOP - i * PRIORITY_STEP]));
  const virtualRouterIdDerived = inv.vrrp.virtualRouterId === undefined;
  const virtualRouterId = inv.vrrp.virtualRouterId ?? virtualRouterIdFor(inv.cluster);
  const warnings = virtualRouterIdDerived && inv.vipMode === 'vrrp'
    ? [`vrrp.virtualRouterId is not set: ${virtualRouterId} is derived from the cluster name "${inv.cluster}", and another VRRP router on the same L2 segment (keepalived, a firewall pair) with that id would fight over the VIP; pick an id that is free on the segment and set vrrp.virtualRouterId`]
    : [];
  const etcdEndpoints = inv.etcd.mode === 'external'
    ? inv.etcd.endpoints.map((e) => e.replace(/\/$/, ''))
    : inv.masters.map((m) => `${inv.etcd.tls ? 'https' : 'http'}://${m.ip}:${inv.etcd.clientPort}`);
  return {
    inv, vipAddress, vipPrefix: prefix, vip6Address: inv.vip6?.split('/')[0], lbHosts, lbOnMasters, frontendPort,
    endpoint: `https://${vipAddress}:${frontendPort}`,
    virtualRouterId,
    advertIntervalMs: parseDuration(inv.vrrp.advertInterval) ?? 100,
    preemptDelayS: (parseDuration(inv.vrrp.preemptDelay) ?? 15_000) / 1000,
    priorities,
    etcdEndpoints,
    virtualRouterIdDerived,
    founders: inv.masters.filter((m) => !m.join),
    joiners: inv.masters.filter((m) => m.join),
    kubeadmApi: kubeadmApiFor(inv.kubernetesVersion),
    warnings,
  };
}

/** Checks across keys: unique names and addresses, the VIP in the hosts' subnet, etcd and VRRP settings. */
export function checkInventory(inv: Inventory, file: string, locate: Locate): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const problem = (path: Path, message: string) => problems.push({ code: 'KUBEHA_ERR_INVENTORY', file, ...locate(path), path: path.join('.'), message });
  const parsedVip = parseIpv4Cidr(inv.vip);
  const vip = parsedVip?.ip ?? inv.vip.split('/')[0];
  const bgpMode = inv.vipMode === 'bgp';
  const usableVip = parsedVip && parsedVip.prefix >= 8 && !bgpMode ? parsedVip : undefined;
  if (bgpMode) {
    if (!parsedVip || parsedVip.prefix !== 32) problem(['vip'], `vipMode: bgp announces the VIP as a host route, so write it as a /32 (like ${vip}/32), not ${inv.vip}`);
    if (!inv.bgp) problem(['vipMode'], 'vipMode: bgp needs a bgp section: localAsn and the routers under peers');
    if (inv.lb.flavor !== 'kubeha') problem(['lb', 'flavor'], `vipMode: bgp is kubeha's own speaker; ${inv.lb.flavor} with keepalived cannot announce the VIP over BGP: use flavor: kubeha`);
    if (inv.lb.stateful) problem(['lb', 'stateful'], 'lb.stateful pairs two LB hosts on one segment (conntrackd and VRRP); with vipMode: bgp the routers spread flows over every host: remove it');
    inv.bgp?.peers.forEach((p, i) => {
      const ms = parseDuration(p.holdTime);
      if (ms === undefined || (ms !== 0 && (ms < 3000 || ms % 1000 !== 0))) problem(['bgp', 'peers', i, 'holdTime'], `holdTime "${p.holdTime}" is not 0 or whole seconds of at least 3s (RFC 4271 §4.2); write 9s`);
      if (lbHostsOf(inv).some((h) => h.ip === p.address)) problem(['bgp', 'peers', i, 'address'], `${p.address} is an LB host; a peer is a router`);
      p.hosts?.forEach((n, j) => {
        if (!lbHostsOf(inv).some((h) => h.name === n)) problem(['bgp', 'peers', i, 'hosts', j], `${n} is not an LB host; list LB host names (${lbHostsOf(inv).map((h) => h.name).join(', ')})`);
      });
    });
    for (const h of lbHostsOf(inv)) {
      if (inv.bgp && !inv.bgp.peers.some((p) => !p.hosts || p.hosts.includes(h.name))) problem(['bgp', 'peers'], `LB host ${h.name} peers with no router (every peer's hosts leaves it out), so it could never announce the VIP; add it to a peer's hosts`);
    }
  } else if (inv.bgp) problem(['bgp'], 'a bgp section is used with vipMode: bgp only; set vipMode: bgp or remove it');
  if (!bgpMode && !usableVip) {
    problem(['vip'], `vip ${inv.vip} is not an IPv4 address with a prefix between 8 and 32; write the VIP with its subnet's prefix, like 10.8.4.55/24`);
  }
  const groups: [string, (Host | LbHost | Master)[]][] = [['masters', inv.masters], ['workers', inv.workers], ['lb.hosts', inv.lb.hosts]];
  const names = new Map<string, string>();
  const ips = new Map<string, string>();
  for (const [group, hosts] of groups) {
    hosts.forEach((h, i) => {
      const path: Path = [...group.split('.'), i];
      const sameName = names.get(h.name);
      if (sameName && !(group === 'lb.hosts' && inv.masters.some((m) => m.name === h.name && m.ip === h.ip))) problem([...path, 'name'], `host name ${h.name} is already used in ${sameName}; every host needs its own name (it names its output folder)`);
      names.set(h.name, group);
      const sameIp = ips.get(h.ip);
      if (sameIp && !(group === 'lb.hosts' && inv.masters.some((m) => m.ip === h.ip))) problem([...path, 'ip'], `${h.ip} is already the address of a host in ${sameIp}`);
      ips.set(h.ip, group);
      if (h.ip === vip) problem([...path, 'ip'], `${h.ip} is the VIP; a host needs an address of its own`);
    });
  }
  const lbHosts = lbHostsOf(inv);
  const lbPath: Path = inv.lb.hosts.length > 0 ? ['lb', 'hosts'] : ['masters'];
  lbHosts.forEach((h, i) => {
    if (usableVip && !inSubnet(h.ip, usableVip.ip, usableVip.prefix)) {
      problem([...lbPath, i, 'ip'], `the VIP ${inv.vip} is not in the subnet of LB host ${h.name} (${h.ip}/${usableVip.prefix} on ${h.interface ?? inv.interface}): a VIP only works on the hosts' own segment, on the interface that holds their address there (gratuitous ARP does not cross routers); pick a free address in ${h.ip}'s subnet, or set this host's interface to the one on the VIP's segment`);
    }
  });
  if (inv.vip6 !== undefined) {
    const v6 = parseCidr(inv.vip6);
    if (!v6 || v6.family !== 6 || v6.prefix < 8) problem(['vip6'], `vip6 ${inv.vip6} is not an IPv6 address with its subnet's prefix; write it like fd00:8:4::55/64`);
    else if (bgpMode && v6.prefix !== 128) problem(['vip6'], `vipMode: bgp announces the IPv6 VIP as a host route (MP-BGP, RFC 4760), so write it as a /128 (like ${canonicalIp(v6.ip)}/128), not ${inv.vip6}`);
    if (inv.lb.dataPlane === 'kernel') problem(['vip6'], 'the in-kernel data plane forwards IPv4 only; with vip6 use lb.dataPlane: userspace');
    if (!bgpMode && inv.vrrp.version === 2) problem(['vrrp', 'version'], 'VRRPv2 is IPv4 only (RFC 3768), and vip6 needs VRRPv3 over IPv6: set vrrp.version: 3');
    lbHosts.forEach((h, i) => {
      if (!bgpMode && inv.vrrp.unicast && !h.ip6) problem([...lbPath, i], `vrrp.unicast with vip6 sends the IPv6 adverts to each LB host's own IPv6 address: give ${h.name} its ip6`);
      // the routers reach the IPv6 VIP through the LB host's own IPv6 address: the routes' next hop
      if (bgpMode && !h.ip6) problem([...lbPath, i], `vipMode: bgp with vip6 announces the IPv6 VIP with ${h.name}'s own IPv6 address as the next hop: give ${h.name} its ip6 (an address on the link to its router)`);
      if (h.ip6 && v6 && canonicalIp(h.ip6) === canonicalIp(v6.ip)) problem([...lbPath, i, 'ip6'], `${h.ip6} is the IPv6 VIP; a host needs an address of its own`);
    });
  }
  if (inv.masters.every((m) => m.join)) {
    problem(['masters'], 'every master has join: true, but a cluster is bootstrapped by the masters without it; remove join from the masters that started the cluster');
  }
  if (inv.masters.length % 2 === 0 && inv.etcd.mode === 'stacked') {
    problem(['masters'], `${inv.masters.length} masters with stacked etcd: an even member count tolerates no more failures than one fewer; use 3 or 5 masters`);
  }
  if (inv.etcd.mode === 'external' && inv.etcd.endpoints.length === 0) problem(['etcd', 'endpoints'], 'etcd mode external needs endpoints: list the etcd client URLs');
  if (inv.etcd.mode === 'stacked' && inv.etcd.endpoints.length > 0) problem(['etcd', 'endpoints'], 'etcd endpoints are only for mode external; stacked etcd runs on the masters');
  if (parseDuration(inv.vrrp.advertInterval) === undefined) problem(['vrrp', 'advertInterval'], `"${inv.vrrp.advertInterval}" is not a duration; write 100ms, 1s, ...`);
  else if (inv.vrrp.version === 2 && (parseDuration(inv.vrrp.advertInterval) ?? 0) % 1000 !== 0) problem(['vrrp', 'advertInterval'], 'VRRPv2 carries whole seconds only; use 1s or version 3');
  const preemptDelayMs = parseDuration(inv.vrrp.preemptDelay);
  if (preemptDelayMs === undefined || preemptDelayMs % 1000 !== 0 || preemptDelayMs > 1_000_000) problem(['vrrp', 'preemptDelay'], `"${inv.vrrp.preemptDelay}" is not a whole number of seconds up to 1000s (keepalived's preempt_delay range); write 15s, 0s, ...`);
  if (inv.vrrp.version === 3 && inv.vrrp.authPass) problem(['vrrp', 'authPass'], 'VRRPv3 has no authentication; remove authPass or use version 2');
  if (inv.vrrp.unicast && lbHosts.length < 2) problem(['vrrp', 'unicast'], 'unicast VRRP needs at least two LB hosts');
  if (inv.lb.dataPlane === 'kernel' && inv.lb.flavor !== 'kubeha') problem(['lb', 'dataPlane'], `lb.dataPlane: kernel is kubeha's in-kernel data plane, not ${inv.lb.flavor}'s; use flavor: kubeha, or dataPlane: userspace`);
  if (inv.lb.stateful && inv.lb.dataPlane !== 'kernel') problem(['lb', 'stateful'], 'lb.stateful replicates the kernel data plane\'s flows (a user-space proxy\'s connections die with its process); set dataPlane: kernel or remove it');
  else if (inv.lb.stateful && lbHosts.length !== 2) problem(['lb', 'stateful'], `lb.stateful replicates the flows to the other LB host with conntrackd over unicast, which pairs two hosts; there are ${lbHosts.length}: use two LB hosts or remove it`);
  if (inv.lb.kernelOnStop === 'remove' && inv.lb.dataPlane !== 'kernel') problem(['lb', 'kernelOnStop'], 'lb.kernelOnStop is for lb.dataPlane: kernel (the user-space proxy leaves nothing behind); remove it or set dataPlane: kernel');
  if (inv.masterAccess === 'local') {
    const { lbOnMasters, frontendPort } = frontDoor(inv);
    const taken: [number, string][] = [[inv.apiserverPort, 'apiserverPort (the apiserver listens on it on every address)'], [ADMIN_PORT, "the kubeha admin server's port"], ...(lbOnMasters ? [[frontendPort, "the LB's port on the masters"] as [number, string]] : [])];
    const clash = taken.find(([p]) => p === inv.masterLocalPort);
    if (clash) problem(['masterLocalPort'], `masterLocalPort ${inv.masterLocalPort} is ${clash[1]} on the masters; pick a free port such as 7445`);
  }
  return problems;
}

/** The port of kubeha's admin server on every host the planner renders kubeha for (127.0.0.1 only). */
export const ADMIN_PORT = 9000;

/** Whether a node-local LB reaches the apiservers over loopback somewhere: their certificate must then name it. */
export function usesNodeLocalAccess(inv: Inventory): boolean {
  return inv.workerAccess === 'local' || inv.masterAccess === 'local';
}

/**
 * The apiserver certificate's extra SANs: the VIP and every master (kubeadm adds the endpoint's host
 * itself; listed anyway so the certificate still names them if the endpoint later becomes a DNS
 * name), and with node-local access 127.0.0.1 and localhost, which kubeadm does not add: a kubelet
 * or controller-manager at https://127.0.0.1:PORT checks the apiserver's certificate against them.
 */
export function apiserverCertSans(plan: Plan): string[] {
  const v6 = plan.vip6Address ? [plan.vip6Address, ...plan.inv.masters.flatMap((m) => (m.ip6 ? [m.ip6] : []))] : [];
  return [plan.vipAddress, ...plan.inv.masters.map((m) => m.ip), ...v6, ...(usesNodeLocalAccess(plan.inv) ? ['127.0.0.1', 'localhost'] : [])];
}

/** The outcome of loading an inventory. */
export type InventoryResult = { ok: true; inventory: Inventory } | { ok: false; problems: ConfigProblem[] };

/** Validates inventory text (pure). */
export function parseInventoryText(text: string, file: string): InventoryResult {
  const r = parseYamlWithSchema(text, file, inventorySchema, checkInventory);
  return r.ok ? { ok: true, inventory: r.value } : r;
}

/** Reads and validates an inventory file; never throws. */
export async function loadInventoryFile(file: string): Promise<InventoryResult> {
  try {
    return parseInventoryText(await readFile(file, 'utf8'), file);
  } catch (err) {
    return { ok: false, problems: [{ code: 'KUBEHA_ERR_CONFIG_READ', file, line: 1, col: 1, path: '', message: `cannot read the inventory: ${err instanceof Error ? err.message : String(err)}` }] };
  }
}
