import { finding, insideCidr, kaInstances, subnetsFor, type Rule } from '../lint-model.js';

/** The VIP lies outside every subnet configured on the instance's interface (checked on this host). */
export const keepalivedVipOutsideSubnet: Rule = {
  code: 'keepalived-vip-outside-subnet',
  check(ctx) {
    return kaInstances(ctx).flatMap((i) => {
      const iface = i.iface?.args[0];
      if (!iface) return [];
      return i.vips.flatMap((v) => {
        const ip = v.name.split('/')[0]!;
        const cidrs = subnetsFor(ctx.host, iface, ip);
        if (!cidrs || cidrs.length === 0 || cidrs.some((c) => insideCidr(ip, c))) return [];
        return [finding(this.code, 'error', i.file, v.line, `VIP ${v.name} is outside every subnet of ${iface} on this host (${cidrs.join(', ')})`,
          `neighbours on the segment never route to it and ${ip.includes(':') ? 'neighbour advertisements do' : 'gratuitous ARP does'} not cross routers, so the VIP is unreachable from the clients`,
          `pick a free address inside ${cidrs[0]}`)];
      });
    });
  },
};
