// kubeha.yaml for an LB host (load balancer + VRRP) and for a worker's node-local LB.
import { stringify } from 'yaml';
import { interfaceOf, type Host, type LbHost, type Plan } from './inventory.js';

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

/** The preemptDelay the planner renders, in seconds (kubeha and keepalived alike). */
export const PLANNED_PREEMPT_DELAY_S = 15;

/** The LB host's daemon: the apiserver frontend on the VIP port, and the VRRP instance that floats the VIP. */
export function renderKubehaLb(plan: Plan, host: LbHost): string {
  const inv = plan.inv;
  const peers = plan.lbHosts.filter((h) => h.name !== host.name).map((h) => h.ip);
  const config = {
    frontends: [{ name: 'apiserver', bind: `0.0.0.0:${plan.frontendPort}`, backend: 'apiservers' }],
    backends: [apiserverBackend(plan)],
    admin: { bind: '127.0.0.1:9000' },
    vrrp: {
      instances: [{
        name: `VI_${inv.cluster}`.replace(/[^A-Za-z0-9_.-]/g, '_'),
        interface: interfaceOf(plan, host),
        virtualRouterId: plan.virtualRouterId,
        priority: plan.priorities.get(host.name),
        version: inv.vrrp.version,
        advertInterval: inv.vrrp.advertInterval,
        preempt: true,
        // A rebooted higher-priority node takes the VIP back only after it has served for this long
        // (its tracked backend counts only after a passed check): one move, not two within seconds.
        preemptDelay: `${PLANNED_PREEMPT_DELAY_S}s`,
        vips: [inv.vip],
        unicastPeers: inv.vrrp.unicast ? peers : [],
        ...(inv.vrrp.unicast ? { unicastSrcIp: host.ip } : {}),
        ...(inv.vrrp.version === 2 && inv.vrrp.authPass ? { authPass: inv.vrrp.authPass } : {}),
        // No apiserver reachable or no listening frontend here: FAULT, the VIP moves at once.
        track: { backends: ['apiservers'] },
      }],
    },
  };
  return HEADER(`kubeha on ${host.name} (${host.ip}): the control-plane endpoint ${plan.endpoint}`) + stringify(config);
}

/** Where a node-local kubeha keeps the last apiserver list it discovered (the unit's StateDirectory). */
export const LOCAL_ENDPOINTS_FILE = '/var/lib/kubeha/endpoints-apiservers.json';
/** The kubeconfig a node-local kubeha reads the API with: kube-proxy's may list and watch EndpointSlices, the kubelet's may not. */
export const LOCAL_DISCOVERY_KUBECONFIG = '/etc/kubernetes/kube-proxy.conf';

/**
 * A worker's node-local LB (workerAccess: local): localhost:localPort (127.0.0.1 and ::1) to every
 * apiserver, no VIP. The masters of the inventory are the bootstrap list; the apiservers the API
 * lists replace them (a master added or replaced later is found without a new render), and the
 * last list survives a reboot in the state file. Checks and discovery use kube-proxy's credentials.
 */
export function renderKubehaLocal(plan: Plan, host: Host): string {
  const config = {
    frontends: [{ name: 'apiserver', bind: `localhost:${plan.inv.localPort}`, backend: 'apiservers' }],
    backends: [{
      ...apiserverBackend(plan),
      // The nearest apiservers first; the others are hot spares.
      balance: 'latency',
      // The sessions of a vanished master end within 10 s. Those of one marked down are kept: its
      // requests in flight finish while it shuts down, and client-go's HTTP/2 pings (30 s) end a
      // watch on a hung apiserver by themselves; new sessions go elsewhere at once.
      tcpUserTimeout: '10s',
      discovery: { kubernetes: { kubeconfig: LOCAL_DISCOVERY_KUBECONFIG, stateFile: LOCAL_ENDPOINTS_FILE } },
    }],
    admin: { bind: '127.0.0.1:9000' },
  };
  return HEADER(`kubeha on worker ${host.name}: a node-local load balancer for its kubelet and kube-proxy`) + stringify(config);
}
