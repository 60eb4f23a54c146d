import type { Path } from '../../config/load.js';
import { insideCidr, subnetsFor, type Rule } from '../lint-model.js';
import { kubehaViews } from './kubeha-view.js';

/** A VIP outside every subnet of its family on its interface on this host (keepalived-vip-outside-subnet for kubeha.yaml). */
export const kubehaVipOutsideSubnet: Rule = {
  code: 'kubeha-vip-outside-subnet',
  check(ctx) {
    return kubehaViews(ctx).flatMap((v) => {
      const c = v.config;
      const groups: { at: Path; iface: string; vips: string[] }[] = [
        ...(c.vrrp?.instances ?? []).map((inst, i) => ({ at: ['vrrp', 'instances', i] as Path, iface: inst.interface, vips: inst.vips })),
        ...(c.vipElection ? [{ at: ['vipElection'] as Path, iface: c.vipElection.interface, vips: c.vipElection.vips }] : []),
      ];
      return groups.flatMap((g) =>
        g.vips.flatMap((vip, j) => {
          const ip = vip.split('/')[0] ?? '';
          const cidrs = subnetsFor(ctx.host, g.iface, ip);
          if (!cidrs || cidrs.length === 0 || cidrs.some((cidr) => insideCidr(ip, cidr))) return [];
          return v.report(this.code, 'error', [[...g.at, 'vips', j]], `VIP ${vip} is outside every subnet of ${g.iface} on this host (${cidrs.join(', ')})`,
            'neighbours on the segment never route to it and gratuitous ARP does not cross routers, so the VIP is unreachable from the clients',
            `pick a free address inside ${cidrs[0]}`);
        }));
    });
  },
};
