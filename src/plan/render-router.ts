// vipMode: bgp — the router side: what each top-of-rack router needs to peer with the LB hosts, as a
// BIRD 2 config and as an FRR config (checked by `bird -p -c` and FRR's `bgpd -C` / `bfdd -C`).
import type { LbHost, Plan } from './inventory.js';
import { bgpVips } from './render-kubeha.js';

type Peer = NonNullable<Plan['inv']['bgp']>['peers'][number];

const HEADER = (what: string, comment: string) => `${comment} ${what}\n${comment} Rendered by kubeha render from the inventory; merge it into the router's own config.\n`;

/** The LB hosts that peer with router `p`. */
function hostsOf(plan: Plan, p: Peer): LbHost[] {
  return plan.lbHosts.filter((h) => !p.hosts || p.hosts.includes(h.name));
}

/** Seconds of a `9s`-style hold time (validated by the inventory check). */
function holdSeconds(p: Peer): number {
  const m = /^(\d+)s$/.exec(p.holdTime);
  return m ? Number(m[1]) : 9;
}

/**
 * A whole BIRD 2 config for router `p`: one session per LB host, the VIP's routes into the kernel
 * with every LB host as a next hop (`merge paths`: ECMP), BFD at 100 ms × 3 when asked. Received
 * from the LB hosts only: `import where net = VIP/32`, nothing exported to them. With vip6 the same
 * sessions get an IPv6 channel (MP-BGP) for the /128, and a second kernel protocol installs it.
 */
export function renderBirdRouter(plan: Plan, p: Peer): string {
  const b = plan.inv.bgp!;
  const ibgp = b.localAsn === p.asn;
  const [vip, vip6] = bgpVips(plan) as [string, string?];
  const what = vip6 ? `${vip} and ${vip6}` : vip;
  const sessions = hostsOf(plan, p).map((h) => `
protocol bgp kubeha_${h.name.replace(/[^A-Za-z0-9_]/g, '_')} {
  description "kubeha LB host ${h.name}";
  local ${p.address} as ${p.asn};
  neighbor ${h.ip} as ${b.localAsn};
  ${ibgp ? 'direct;\n  ' : ''}hold time ${holdSeconds(p)};
  ${p.bfd ? 'bfd on;\n  ' : ''}${p.password ? `password "${p.password.replace(/["\\]/g, '\\$&')}";\n  ` : ''}ipv4 {
    import where net = ${vip};
    export none;
  };${vip6 ? `
  ipv6 {
    import where net = ${vip6};
    export none;
  };` : ''}
}`).join('\n');
  return `${HEADER(`BIRD 2 on router ${p.address} (AS ${p.asn}): the VIP${vip6 ? `s` : ``} ${what} of cluster ${plan.inv.cluster} from its LB hosts`, '#')}
router id ${p.address};
protocol device {}
# every LB host announcing the VIP becomes a next hop of one kernel route (ECMP)
protocol kernel { ipv4 { export where net = ${vip}; }; merge paths on; }
${vip6 ? `protocol kernel { ipv6 { export where net = ${vip6}; }; merge paths on; }\n` : ''}${p.bfd ? `# the LB hosts run BFD at 100 ms x 3: a dead one's route goes in ~300 ms, not the hold time
protocol bfd { ${hostsOf(plan, p).map((h) => `neighbor ${h.ip};`).join(' ')} interface "*" { interval 100 ms; multiplier 3; }; }
` : ''}${sessions}
`;
}

/**
 * An FRR config (frr.conf, integrated) for router `p`: a peer group of the LB hosts, ECMP
 * (maximum-paths), only the VIP accepted, BFD through a profile at 100 ms × 3 when asked.
 */
export function renderFrrRouter(plan: Plan, p: Peer): string {
  const b = plan.inv.bgp!;
  const ibgp = b.localAsn === p.asn;
  const [vip, vip6] = bgpVips(plan) as [string, string?];
  const hold = holdSeconds(p);
  const addressFamily = (family: 'ipv4' | 'ipv6', list: string) => [
    ` address-family ${family} unicast`,
    '  neighbor kubeha activate',
    `  neighbor kubeha prefix-list ${list} in`,
    // kubeha sends nothing it wants back: the LB hosts install no routes
    `  neighbor kubeha prefix-list ${list === 'kubeha-vip' ? 'kubeha-none' : 'kubeha-none6'} out`,
    `  maximum-paths${ibgp ? ' ibgp' : ''} 16`,
    ' exit-address-family',
  ];
  const lines = [
    HEADER(`FRR on router ${p.address} (AS ${p.asn}): the VIP${vip6 ? `s ${vip} and ${vip6}` : ` ${vip}`} of cluster ${plan.inv.cluster} from its LB hosts`, '!').trimEnd(),
    'frr defaults traditional',
    '!',
    ...(p.bfd ? ['bfd', ' profile kubeha', '  receive-interval 100', '  transmit-interval 100', '  detect-multiplier 3', ' exit', 'exit', '!'] : []),
    `ip prefix-list kubeha-vip seq 5 permit ${vip}`,
    ...(vip6 ? [`ipv6 prefix-list kubeha-vip6 seq 5 permit ${vip6}`] : []),
    '!',
    `router bgp ${p.asn}`,
    ` bgp router-id ${p.address}`,
    ' neighbor kubeha peer-group',
    ` neighbor kubeha remote-as ${b.localAsn}`,
    ` neighbor kubeha timers ${Math.max(1, Math.floor(hold / 3))} ${hold}`,
    ...(p.bfd ? [' neighbor kubeha bfd', ' neighbor kubeha bfd profile kubeha'] : []),
    ...(p.password ? [` neighbor kubeha password ${p.password}`] : []),
    ...hostsOf(plan, p).map((h) => ` neighbor ${h.ip} peer-group kubeha`),
    ' !',
    ...addressFamily('ipv4', 'kubeha-vip'),
    // the IPv6 VIP rides the same IPv4 sessions (MP-BGP, RFC 4760); its next hop is the host's IPv6 address
    ...(vip6 ? [' !', ...addressFamily('ipv6', 'kubeha-vip6')] : []),
    'exit',
    '!',
    'ip prefix-list kubeha-none seq 5 deny any',
    ...(vip6 ? ['ipv6 prefix-list kubeha-none6 seq 5 deny any'] : []),
    '',
  ];
  return lines.join('\n');
}
