import { directiveNumber, finding, kaInstances, type Rule } from '../lint-model.js';

/** Peers of one virtual router (same VRID, from different files) with the same priority. */
export const keepalivedEqualPriority: Rule = {
  code: 'keepalived-equal-priority',
  check(ctx) {
    const byVrid = new Map<string, typeof instances>();
    const instances = kaInstances(ctx);
    for (const i of instances) {
      const key = directiveNumber(i.vrid)?.toString() ?? '';
      byVrid.set(key, [...(byVrid.get(key) ?? []), i]);
    }
    return [...byVrid.values()].flatMap((group) => group.filter((i, k) => group.some((o, m) => m < k && o.file !== i.file && directiveNumber(o.priority) === directiveNumber(i.priority))).map((i) =>
      finding(this.code, 'warning', i.file, i.priority?.line ?? i.line, `${i.name} has priority ${directiveNumber(i.priority) ?? 100}, the same as a peer of virtual router ${directiveNumber(i.vrid)}`,
        'equal priorities are decided by the higher primary address, so which node holds the VIP depends on addressing rather than on your intent, and a track weight cannot order them',
        'give each node its own priority (e.g. 150, 140, 130)')));
  },
};
