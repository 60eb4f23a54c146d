import { parseIpv4Cidr } from '../../config/address.js';
import { finding, insideCidr, kaInstances, kaVirtualServers, type HostFacts, type KaInstance, type Rule } from '../lint-model.js';

/**
 * The subnet of a VIP: the prefix its virtual_ipaddress entry is written with, else the subnet of
 * this host's interface (the instance's) that holds it; undefined when neither says.
 */
function vipSubnet(vip: string, instances: KaInstance[], host: HostFacts): string | undefined {
  for (const i of instances) for (const v of i.vips) {
    const entry = parseIpv4Cidr(v.name, true);
    if (entry?.ip !== vip) continue;
    if (entry.prefix < 32) return v.name;
    const iface = i.iface?.args[0];
    const cidr = iface ? host.interfaceCidrs(iface)?.find((c) => insideCidr(vip, c)) : undefined;
    if (cidr) return cidr;
  }
  return undefined;
}

/** lvs_method NAT to real servers on the VIP's own subnet, which answer the clients directly. */
export const keepalivedLvsNatSameSubnet: Rule = {
  code: 'keepalived-lvs-nat-same-subnet',
  check(ctx) {
    const instances = kaInstances(ctx);
    return kaVirtualServers(ctx).flatMap((vs) => {
      const subnet = vs.ip ? vipSubnet(vs.ip, instances, ctx.host) : undefined;
      const direct = subnet ? vs.realServers.filter((rs) => rs.method === 'NAT' && insideCidr(rs.ip, subnet)) : [];
      if (direct.length === 0) return [];
      return [finding(this.code, 'warning', vs.file, vs.method.line, `${vs.label} forwards by NAT${vs.method.written ? '' : ' (keepalived\'s default lvs_method)'} to ${direct.map((rs) => rs.ip).join(', ')}, inside the VIP's subnet ${subnet}`,
        'NAT rewrites the way in only: the replies must go back through the director, but a master on the VIP\'s subnet answers the client straight from its own address (its default route is the router), the client drops the reply, and connections through the VIP hang',
        'use lvs_method DR (the VIP on each master\'s lo, arp_ignore=1 and arp_announce=2), or route the masters\' replies through the director, or better let kubeha (or haproxy) proxy the port: a proxy needs neither')];
    });
  },
};
