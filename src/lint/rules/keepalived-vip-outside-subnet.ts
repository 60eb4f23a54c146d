import { finding, insideCidr, kaInstances, type Rule } from '../lint-model.js';

/** The VIP lies outside every subnet configured on the instance's interface (checked on this host). */
export const keepalivedVipOutsideSubnet: Rule = {
  code: 'keepalived-vip-outside-subnet',
  check(ctx) {
    return kaInstances(ctx).flatMap((i) => {
      const iface = i.iface?.args[0];
      const cidrs = iface ? ctx.host.interfaceCidrs(iface)?.filter((c) => c.includes('.')) : undefined;
      if (!iface || !cidrs || cidrs.length === 0) return [];
      return i.vips.filter((v) => /^\d+\.\d+\.\d+\.\d+/.test(v.name)).filter((v) => !cidrs.some((c) => insideCidr(v.name.split('/')[0]!, c))).map((v) =>
        finding(this.code, 'error', i.file, v.line, `VIP ${v.name} is outside every subnet of ${iface} on this host (${cidrs.join(', ')})`,
          'neighbours on the segment never route to it and gratuitous ARP does not cross routers, so the VIP is unreachable from the clients',
          `pick a free address inside ${cidrs[0]}`));
    });
  },
};
