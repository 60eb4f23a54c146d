// What must hold on a host before apply changes it (issue 13 "Facts, then a plan"), judged from its
// facts, pure: systemd runs it, an LB host's interface exists with an address in the VIP's subnet,
// the ports the stack listens on are free or already its own, and — across the inventory — the VIP
// is not answering from a machine that is none of the LB hosts.
import { inSubnet, parseIpv4Cidr } from '../config/address.js';
import { interfaceOf, type Host, type Plan } from '../plan/inventory.js';
import type { Role } from './dry-run.js';
import type { HostFacts } from './facts.js';

/** The programs that may already listen on a port the stack uses (the stack's own, from an earlier apply or install). */
function portOwners(plan: Plan, roles: Role[]): Map<number, string[]> {
  const owners = new Map<number, string[]>();
  const add = (port: number, names: string[]) => owners.set(port, [...(owners.get(port) ?? []), ...names]);
  // kubeha runs as node (from a checkout or the release tarball's own runtime)
  if (roles.includes('lb')) add(plan.frontendPort, { kubeha: ['node', 'kubeha'], haproxy: ['haproxy'], nginx: ['nginx'] }[plan.inv.lb.flavor]);
  // a node-local LB: its own port on loopback
  if (roles.includes('worker') && plan.inv.workerAccess === 'local') add(plan.inv.localPort, ['node', 'kubeha']);
  if (roles.includes('master') && plan.inv.masterAccess === 'local') add(plan.inv.masterLocalPort, ['node', 'kubeha']);
  if (roles.includes('master')) {
    add(plan.inv.apiserverPort, ['kube-apiserver']);
    if (plan.inv.etcd.mode === 'stacked') {
      add(plan.inv.etcd.clientPort, ['etcd']);
      add(plan.inv.etcd.peerPort, ['etcd']);
    }
  }
  return owners;
}

/** The problems that stop apply on this host (empty: go on). */
export function hostProblems(plan: Plan, host: Host, roles: Role[], facts: HostFacts): string[] {
  const out: string[] = [];
  if (facts.systemd === 0) out.push('no systemd here (PID 1 is not systemd): apply runs every component as a systemd unit');
  if (roles.includes('lb')) {
    const iface = interfaceOf(plan, host);
    const addrs = facts.addresses.get(iface);
    if (!addrs) {
      out.push(`interface ${iface} does not exist (it has ${[...facts.addresses.keys()].join(', ') || 'no IPv4 interface'}): set interface: (or this LB host's own) to the one that carries the VIP's subnet`);
    } else if (!addrs.some((a) => { const c = parseIpv4Cidr(a); return !!c && inSubnet(c.ip, plan.vipAddress, plan.vipPrefix); })) {
      out.push(`no address of ${iface} (${addrs.join(', ')}) is in the VIP's subnet ${plan.inv.vip}: VRRP and gratuitous ARP for the VIP need one`);
    }
  }
  // the kernel data plane programs nftables and conntrack on the LB hosts, and lb.stateful runs conntrackd
  if (roles.includes('lb') && plan.inv.lb.flavor === 'kubeha' && plan.inv.lb.dataPlane === 'kernel') {
    const needed: [string, string, string][] = [['nft', 'nftables', 'lb.dataPlane: kernel'], ['conntrack', 'conntrack', 'lb.dataPlane: kernel'], ...(plan.inv.lb.stateful ? [['conntrackd', 'conntrackd', 'lb.stateful'] as [string, string, string]] : [])];
    for (const [program, pkg, why] of needed) {
      if (!facts.programs.has(program)) out.push(`${program} is not installed and ${why} needs it: apt install ${pkg} (Debian package ${pkg})`);
    }
  }
  for (const [port, allowed] of portOwners(plan, roles)) {
    const holders = facts.listening.get(port);
    if (!holders) continue;
    const strangers = holders.filter((n) => !allowed.includes(n));
    if (strangers.length > 0) out.push(`port ${port} is taken by ${[...new Set(strangers)].join(', ')}: the stack needs it (for ${allowed.join(' or ')})`);
  }
  return out;
}

/**
 * The VIP in use by a machine that is none of the LB hosts: nobody of the inventory holds it, and
 * yet it answers (`answers`: what a TCP connect to it said). Undefined: all is well.
 */
export function vipConflict(plan: Plan, holders: string[], answers: { port: number; ok: boolean }[]): string | undefined {
  if (holders.length > 0) return undefined;
  const open = answers.filter((a) => a.ok).map((a) => a.port);
  if (open.length === 0) return undefined;
  return `the VIP ${plan.vipAddress} answers (TCP ${open.join(', ')}) but none of the LB hosts holds it: another machine uses that address; pick a free one for vip:`;
}
