import { isIPv6 } from 'node:net';
import { parseIpv4Cidr } from '../../config/address.js';
import { finding, kaInstances, type Rule } from '../lint-model.js';

/** keepalived takes an IPv4 or IPv6 address, with or without a prefix. */
function parses(entry: string): boolean {
  if (parseIpv4Cidr(entry, true)) return true;
  const [ip = '', prefix, ...rest] = entry.split('/');
  return rest.length === 0 && isIPv6(ip) && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= 128));
}

/** A virtual_ipaddress entry that does not parse. */
export const keepalivedBadVip: Rule = {
  code: 'keepalived-bad-vip',
  check(ctx) {
    return kaInstances(ctx).flatMap((i) => i.vips.filter((v) => !parses(v.name)).map((v) =>
      finding(this.code, 'error', i.file, v.line, `virtual_ipaddress entry "${[v.name, ...v.args].join(' ')}" in ${i.name} is not an address`,
        'keepalived skips an entry it cannot parse, so the VIP never comes up on any node',
        'write it as ADDRESS/PREFIX [dev IFACE], e.g. 10.8.4.55/24 dev eth0')));
  },
};
