// kubeha.yaml for an LB host (load balancer + VRRP) and for a worker's node-local LB.
import { stringify } from 'yaml';
import { ADMIN_PORT, bgpPeersOf, interfaceOf, type Host, type LbHost, type Plan } from './inventory.js';
import { canonicalIp } from '../vrrp/packet.js';

const HEADER = (what: string) => `# ${what}\n# Rendered by kubeha render; edit the inventory and render again rather than this file.\n`;

function apiserverBackend(plan: Plan) {
  return {
    name: 'apiservers',
    balance: 'roundrobin',
    healthCheck: { type: 'https', path: '/readyz', interval: '1s', fastInterval: '250ms', timeout: '1s', rise: 2, fall: 2 },
    slowStart: '30s',
    servers: plan.inv.masters.map((m) => ({ name: m.name, address: `${m.ip}:${plan.inv.apiserverPort}` })),
  };
}

/**
 * The VRRP instances of an LB host: the one that floats the VIP, and with vip6 a VRRPv3-over-IPv6
 * one in one syncGroup with it, so that both VIPs leave a node together.
 */
function vrrpInstancesOf(plan: Plan, host: LbHost): Record<string, unknown>[] {
  const inv = plan.inv;
  const peers = plan.lbHosts.filter((h) => h.name !== host.name);
  const name = `VI_${inv.cluster}`.replace(/[^A-Za-z0-9_.-]/g, '_');
  const instance = (instanceName: string, version: 2 | 3, vip: string, peerIps: string[], src: string | undefined, extra: Record<string, unknown>) => ({
    name: instanceName,
    interface: interfaceOf(plan, host),
    // IPv4 and IPv6 have separate VRID spaces (RFC 5798 §5.2.3): one VRID serves both instances.
    virtualRouterId: plan.virtualRouterId,
    priority: plan.priorities.get(host.name),
    version,
    advertInterval: inv.vrrp.advertInterval,
    preempt: true,
    // A rebooted higher-priority node takes the VIP back only after it has served for this long
    // (its tracked backend counts only after a passed check): one move, not two within seconds.
    preemptDelay: `${plan.preemptDelayS}s`,
    vips: [vip],
    unicastPeers: inv.vrrp.unicast ? peerIps : [],
    ...(inv.vrrp.unicast && src ? { unicastSrcIp: src } : {}),
    ...extra,
    // No apiserver reachable or no listening frontend here: FAULT, the VIP moves at once.
    track: { backends: ['apiservers'] },
    ...(inv.vip6 ? { syncGroup: inv.cluster } : {}),
  });
  const v4 = instance(name, inv.vrrp.version, inv.vip, peers.map((h) => h.ip), host.ip, inv.vrrp.version === 2 && inv.vrrp.authPass ? { authPass: inv.vrrp.authPass } : {});
  return inv.vip6 ? [v4, instance(`${name}_6`, 3, inv.vip6, peers.map((h) => h.ip6!), host.ip6, {})] : [v4];
}

/** The LB host's daemon: the apiserver frontend on the VIP port, and the VRRP instance that floats the VIP. */
export function renderKubehaLb(plan: Plan, host: LbHost): string {
  const inv = plan.inv;
  const peers = plan.lbHosts.filter((h) => h.name !== host.name).map((h) => h.ip);
  const config = {
    // the kernel's DNAT matches the VIP itself; the proxy listens on every address (the VIP comes and goes)
    frontends: [inv.lb.dataPlane === 'kernel'
      ? { name: 'apiserver', bind: `${plan.vipAddress}:${plan.frontendPort}`, backend: 'apiservers', dataPlane: 'kernel', ...(inv.lb.stateful ? { sourceNat: 'vip' } : {}) }
      : { name: 'apiserver', bind: `0.0.0.0:${plan.frontendPort}`, backend: 'apiservers' }],
    backends: [apiserverBackend(plan)],
    admin: { bind: `127.0.0.1:${ADMIN_PORT}` },
    ...(inv.vipMode === 'bgp' ? { bgp: bgpOf(plan, host) } : {}),
    ...(inv.vipMode === 'vrrp' ? { vrrp: { instances: vrrpInstancesOf(plan, host) } } : {}),
  };
  // dual stack: the proxy also listens on the IPv6 VIP (it binds once the VIP is here; until then it
  // counts as serving for the instance that floats it)
  if (plan.vip6Address && inv.lb.dataPlane !== 'kernel') config.frontends.push({ name: 'apiserver6', bind: `[${plan.vip6Address}]:${plan.frontendPort}`, backend: 'apiservers' });
  // lb.stateful: the flows go to the other LB host as they are made (conntrackd, run by kubeha)
  const sync = inv.lb.stateful ? { conntrackSync: { peer: peers[0], localAddress: host.ip, interface: interfaceOf(plan, host) } } : {};
  if (lbDaemonCarriesMasterLocal(plan, host)) {
    const local = masterLocal(plan);
    config.frontends.push(local.frontend);
    config.backends.push(local.backend);
  }
  return HEADER(`kubeha on ${host.name} (${host.ip}): the control-plane endpoint ${plan.endpoint}`) + stringify({ ...config, ...sync });
}

/** vipMode: bgp — the host routes announced: the VIP's /32, and with vip6 its /128 (RFC 5952 text, as the speaker shows it). */
export function bgpVips(plan: Plan): string[] {
  return [`${plan.vipAddress}/32`, ...(plan.vip6Address ? [`${canonicalIp(plan.vip6Address)}/128`] : [])];
}

/**
 * vipMode: bgp — the LB host's speaker: a session to every router (BFD on by default), the VIP
 * announced while an apiserver serves here. In primary mode the first LB host is preferred (higher
 * priority: lower MED, higher LOCAL_PREF) and each later one prepends its AS once more.
 */
function bgpOf(plan: Plan, host: LbHost) {
  const b = plan.inv.bgp!;
  const rank = plan.lbHosts.findIndex((h) => h.name === host.name);
  return {
    localAsn: b.localAsn,
    routerId: host.ip,
    peers: bgpPeersOf(plan, host).map((p) => ({
      address: p.address, asn: p.asn, holdTime: p.holdTime,
      ...(p.password ? { password: p.password } : {}),
      // dual stack: the IPv6 VIP goes over the same session (MP-BGP) with this host's IPv6 address as next hop
      ...(plan.vip6Address && host.ip6 ? { nextHop6: canonicalIp(host.ip6) } : {}),
      ...(p.bfd ? { bfd: { interval: '100ms', multiplier: 3 } } : {}),
    })),
    announce: bgpVips(plan).map((vip) => ({
      vip,
      mode: b.mode,
      ...(b.mode === 'primary' ? { priority: plan.priorities.get(host.name), prepend: rank } : {}),
      track: { backends: ['apiservers'] },
    })),
  };
}

/** Where a worker's node-local kubeha keeps the last apiserver list it discovered (the unit's StateDirectory). */
export const LOCAL_ENDPOINTS_FILE = '/var/lib/kubeha/endpoints-apiservers.json';
/** The kubeconfig a worker's node-local kubeha reads the API with: kube-proxy's may list and watch EndpointSlices, the kubelet's may not. */
export const LOCAL_DISCOVERY_KUBECONFIG = '/etc/kubernetes/kube-proxy.conf';
/** The same on a master (masterAccess: local): the controller-manager's credentials may list and watch every resource. */
export const MASTER_DISCOVERY_KUBECONFIG = '/etc/kubernetes/controller-manager.conf';
/** The backend of a master's node-local LB; its own name, as on an LB host it shares the daemon with `apiservers`. */
const MASTER_LOCAL_BACKEND = 'local-apiservers';

/**
 * Whether `host`'s node-local LB for masterAccess: local is part of its kubeha LB daemon (a master
 * that is a kubeha LB host) rather than a kubeha of its own.
 */
export function lbDaemonCarriesMasterLocal(plan: Plan, host: Host): boolean {
  return plan.inv.masterAccess === 'local' && plan.inv.lb.flavor === 'kubeha'
    && plan.inv.masters.some((m) => m.name === host.name) && plan.lbHosts.some((h) => h.name === host.name);
}

/**
 * The node-local LB's frontend and backend: localhost:port (127.0.0.1 and ::1) to every apiserver,
 * no VIP. The masters of the inventory are the bootstrap list; the apiservers the API lists replace
 * them (a master added or replaced later is found without a new render), and the last list survives
 * a reboot in the state file.
 */
function nodeLocal(plan: Plan, o: { frontend: string; backend: string; port: number; kubeconfig: string; stateFile: string }) {
  return {
    frontend: { name: o.frontend, bind: `localhost:${o.port}`, backend: o.backend },
    backend: {
      ...apiserverBackend(plan),
      name: o.backend,
      // The nearest apiservers first; the others are hot spares.
      balance: 'latency',
      // The sessions of a vanished master end within 10 s. Those of one marked down are kept: its
      // requests in flight finish while it shuts down, and client-go's HTTP/2 pings (30 s) end a
      // watch on a hung apiserver by themselves; new sessions go elsewhere at once.
      tcpUserTimeout: '10s',
      discovery: { kubernetes: { kubeconfig: o.kubeconfig, stateFile: o.stateFile } },
    },
  };
}

/** A master's node-local LB (masterAccess: local), for its controller-manager and scheduler. */
function masterLocal(plan: Plan) {
  return nodeLocal(plan, {
    frontend: 'local-apiserver', backend: MASTER_LOCAL_BACKEND, port: plan.inv.masterLocalPort,
    kubeconfig: MASTER_DISCOVERY_KUBECONFIG, stateFile: `/var/lib/kubeha/endpoints-${MASTER_LOCAL_BACKEND}.json`,
  });
}

/** A worker's node-local LB (workerAccess: local), for its kubelet and kube-proxy; checks and discovery use kube-proxy's credentials. */
export function renderKubehaLocal(plan: Plan, host: Host): string {
  const { frontend, backend } = nodeLocal(plan, { frontend: 'apiserver', backend: 'apiservers', port: plan.inv.localPort, kubeconfig: LOCAL_DISCOVERY_KUBECONFIG, stateFile: LOCAL_ENDPOINTS_FILE });
  const config = { frontends: [frontend], backends: [backend], admin: { bind: `127.0.0.1:${ADMIN_PORT}` } };
  return HEADER(`kubeha on worker ${host.name}: a node-local load balancer for its kubelet and kube-proxy`) + stringify(config);
}

/** The node-local LB of a master that is not a kubeha LB host (masterAccess: local). */
export function renderKubehaMasterLocal(plan: Plan, host: Host): string {
  const { frontend, backend } = masterLocal(plan);
  const config = { frontends: [frontend], backends: [backend], admin: { bind: `127.0.0.1:${ADMIN_PORT}` } };
  return HEADER(`kubeha on master ${host.name}: a node-local load balancer for its controller-manager and scheduler`) + stringify(config);
}
