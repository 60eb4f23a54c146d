import { directiveNumber, finding, kaInstances, type Rule } from '../lint-model.js';

/** Two instances of one file with the same virtual_router_id on one interface. */
export const keepalivedDuplicateVrid: Rule = {
  code: 'keepalived-duplicate-vrid',
  check(ctx) {
    const seen = new Map<string, string>();
    const out = [];
    for (const i of kaInstances(ctx)) {
      // IPv4 and IPv6 have separate VRID spaces (RFC 5798 §5.2.3)
      const key = `${i.file}\0${i.iface?.args[0]}\0${i.family}\0${directiveNumber(i.vrid)}`;
      const first = seen.get(key);
      if (first) {
        out.push(finding(this.code, 'error', i.file, i.vrid?.line ?? i.line, `${i.name} uses virtual_router_id ${directiveNumber(i.vrid)} on ${i.iface?.args[0]}, like ${first}`,
          'both instances answer each other\'s adverts and share one virtual MAC: they flap between MASTER and BACKUP',
          'give each instance on a segment its own virtual_router_id'));
      } else seen.set(key, i.name);
    }
    return out;
  },
};
