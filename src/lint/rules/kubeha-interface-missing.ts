import type { Path } from '../../config/load.js';
import { ipv4Subnets, type Rule } from '../lint-model.js';
import { kubehaViews } from './kubeha-view.js';

/** A VRRP or VIP election interface (or a tracked one) that this host does not have, or that has no IPv4 address. */
export const kubehaInterfaceMissing: Rule = {
  code: 'kubeha-interface-missing',
  check(ctx) {
    if (ctx.host.neutral) return [];
    return kubehaViews(ctx).flatMap((v) => {
      const c = v.config;
      const used: { path: Path; name: string; who: string; needsIpv4: boolean; why: string }[] = [
        ...(c.vrrp?.instances ?? []).flatMap((inst, i) => [
          { path: ['vrrp', 'instances', i, 'interface'], name: inst.interface, who: `VRRP instance ${inst.name}`, needsIpv4: true, why: 'kubeha cannot send or receive adverts there (KUBEHA_ERR_VRRP_INTERFACE), so this node never holds the VIP' },
          ...inst.track.interfaces.map((name, j) => ({ path: ['vrrp', 'instances', i, 'track', 'interfaces', j], name, who: `VRRP instance ${inst.name} tracks`, needsIpv4: false, why: 'a tracked interface that is not there counts as down, so the instance is in FAULT (or loses its weight) on every node alike' })),
        ]),
        ...(c.vipElection ? [{ path: ['vipElection', 'interface'], name: c.vipElection.interface, who: 'vipElection', needsIpv4: true, why: 'the elected leader cannot add the VIP there, so no node serves it' }] : []),
      ];
      return used.flatMap((u) => {
        const cidrs = ctx.host.interfaceCidrs(u.name);
        const none = cidrs === undefined;
        if (!none && (!u.needsIpv4 || (ipv4Subnets(ctx.host, u.name) ?? []).length > 0)) return [];
        return v.report(this.code, 'error', [u.path], `${u.who} interface ${u.name}, which ${none ? 'this host does not have' : 'has no IPv4 address on this host'}`, u.why,
          `use an interface of this host (ip -br addr)${none ? '' : `, or give ${u.name} its address`}`);
      });
    });
  },
};
