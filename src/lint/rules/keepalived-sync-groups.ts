import { finding, kaInstances, kaSyncGroups, type Rule } from '../lint-model.js';

/** A VIP of the other family than the instance's first (keepalived drops it: one instance, one family). */
export const keepalivedVipFamilyMismatch: Rule = {
  code: 'keepalived-vip-family-mismatch',
  check(ctx) {
    return kaInstances(ctx).flatMap((i) => i.vips.filter((v) => (v.name.includes(':') ? 6 : 4) !== i.family).map((v) =>
      finding(this.code, 'error', i.file, v.line, `${i.name} floats ${i.family === 6 ? 'IPv6' : 'IPv4'} VIPs, but ${v.name} is ${i.family === 6 ? 'IPv4' : 'IPv6'}`,
        'an instance carries one address family (keepalived takes it from the first VIP and skips the others), so this VIP never comes up',
        'move it to an instance of its own for that family (its own virtual_router_id may be the same) and put both in one vrrp_sync_group')));
  },
};

/** A vrrp_sync_group member that no vrrp_instance defines. */
export const keepalivedSyncGroupUnknownInstance: Rule = {
  code: 'keepalived-sync-group-unknown-instance',
  check(ctx) {
    const names = new Set(kaInstances(ctx).map((i) => i.name));
    return kaSyncGroups(ctx).flatMap((g) => g.members.filter((m) => !names.has(m.name)).map((m) =>
      finding(this.code, 'error', g.file, m.line, `vrrp_sync_group ${g.name} lists ${m.name}, which no vrrp_instance defines`,
        'keepalived refuses a sync group with an unknown member, so the instances it names no longer move together',
        `define vrrp_instance ${m.name} or remove it from the group`)));
  },
};

/** An IPv4 and an IPv6 instance on one interface that are not in one sync group: the two VIPs can end up on different nodes. */
export const keepalivedDualStackWithoutSyncGroup: Rule = {
  code: 'keepalived-dual-stack-without-sync-group',
  check(ctx) {
    const out = [];
    const instances = kaInstances(ctx);
    for (const v6 of instances.filter((i) => i.family === 6)) {
      const v4 = instances.find((i) => i.file === v6.file && i.family === 4 && i.iface?.args[0] === v6.iface?.args[0]);
      if (!v4 || (v4.syncGroup !== undefined && v4.syncGroup === v6.syncGroup)) continue;
      out.push(finding(this.code, 'warning', v6.file, v6.line, `${v6.name} (IPv6) and ${v4.name} (IPv4) on ${v6.iface?.args[0]} are not in one vrrp_sync_group`,
        'each elects its master on its own: a failing IPv4 check moves only the IPv4 VIP, and the cluster\'s two front doors end up on different nodes',
        `add vrrp_sync_group G { group { ${v4.name} ${v6.name} } }`));
    }
    return out;
  },
};
