import { finding, kaInstances, type Rule } from '../lint-model.js';

const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/(3[0-2]|[12]?\d))?$/;

/** A virtual_ipaddress entry that does not parse. */
export const keepalivedBadVip: Rule = {
  code: 'keepalived-bad-vip',
  check(ctx) {
    return kaInstances(ctx).flatMap((i) => i.vips.filter((v) => !IPV4_CIDR.test(v.name) && !/^[0-9a-f:]+(\/\d+)?$/i.test(v.name)).map((v) =>
      finding(this.code, 'error', i.file, v.line, `virtual_ipaddress entry "${[v.name, ...v.args].join(' ')}" in ${i.name} is not an address`,
        'keepalived skips an entry it cannot parse, so the VIP never comes up on any node',
        'write it as ADDRESS/PREFIX [dev IFACE], e.g. 10.8.4.55/24 dev eth0')));
  },
};
