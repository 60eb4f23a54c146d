// The full-stack demo's stage, as data: the addresses of the picture every HA guide draws (three
// apiservers, two LB nodes floating a VIP, a client), the `ip` commands that build it inside the
// demo's private network namespace, and each LB node's kubeha config. Pure: stage.ts runs it.

/** One LB node: its own network namespace, with a veth into the stage's bridge. */
export interface StageLb {
  name: string;
  ip: string;
  priority: number;
}

export interface StagePlan {
  /** The bridge's address: the client and the stand-in apiservers live there. */
  hub: string;
  prefix: number;
  vip: string;
  port: number;
  adminPort: number;
  virtualRouterId: number;
  masters: { name: string; ip: string }[];
  lbs: StageLb[];
}

/** The install guides' addresses (DESIGN.md's picture); private to the demo's namespace, so they clash with nothing. */
export const STAGE: StagePlan = {
  hub: '10.8.4.1',
  prefix: 24,
  vip: '10.8.4.55',
  port: 6443,
  adminPort: 9000,
  virtualRouterId: 51,
  masters: [
    { name: 'master1', ip: '10.8.4.91' },
    { name: 'master2', ip: '10.8.4.92' },
    { name: 'master3', ip: '10.8.4.93' },
  ],
  lbs: [
    { name: 'lb1', ip: '10.8.4.11', priority: 150 },
    { name: 'lb2', ip: '10.8.4.12', priority: 100 },
  ],
};

/** The `ip` commands (arguments after `ip`) that build the stage, in order. */
export function networkCommands(p: StagePlan): string[][] {
  const cidr = (ip: string) => `${ip}/${p.prefix}`;
  return [
    ['link', 'set', 'lo', 'up'],
    ['link', 'add', 'br0', 'type', 'bridge'],
    ['link', 'set', 'br0', 'up'],
    ['addr', 'add', cidr(p.hub), 'dev', 'br0'],
    ...p.masters.map((m) => ['addr', 'add', cidr(m.ip), 'dev', 'br0']),
    ...p.lbs.flatMap((lb, i) => [
      ['netns', 'add', lb.name],
      ['link', 'add', `veth${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lb.name],
      ['link', 'set', `veth${i}`, 'master', 'br0', 'up'],
      ['-n', lb.name, 'link', 'set', 'lo', 'up'],
      ['-n', lb.name, 'link', 'set', 'eth0', 'up'],
      ['-n', lb.name, 'addr', 'add', cidr(lb.ip), 'dev', 'eth0'],
    ]),
  ];
}

/**
 * One LB node's kubeha config: the apiservers behind https /readyz checks, the VIP by VRRP v3 at
 * 100 ms tracked on them, no preemption (a node that comes back does not take the VIP back: one move
 * per event), and its admin API on the namespace's loopback (stage.ts relays a Unix socket to it).
 */
export function lbConfig(p: StagePlan, lb: StageLb, stateDir: string): Record<string, unknown> {
  return {
    global: { logLevel: 'info', shutdownGrace: '2s', stateDir },
    frontends: [{ name: 'apiserver', bind: `0.0.0.0:${p.port}`, backend: 'apiservers' }],
    backends: [{
      name: 'apiservers', balance: 'roundrobin', retries: 3,
      healthCheck: { type: 'https', path: '/readyz', interval: '500ms', fastInterval: '200ms', downInterval: '500ms', timeout: '400ms', rise: 2, fall: 2 },
      servers: p.masters.map((m) => ({ name: m.name, address: `${m.ip}:${p.port}` })),
    }],
    admin: { bind: `127.0.0.1:${p.adminPort}` },
    vrrp: {
      instances: [{
        name: 'VI_1', interface: 'eth0', virtualRouterId: p.virtualRouterId, priority: lb.priority, version: 3,
        advertInterval: '100ms', preempt: false, vips: [`${p.vip}/${p.prefix}`], track: { backends: ['apiservers'] },
      }],
    },
  };
}
