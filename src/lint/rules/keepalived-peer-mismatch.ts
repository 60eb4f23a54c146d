import { child, findAll } from '../conf-tree.js';
import { finding, kaInstances, type KaInstance, type LintContext, type Rule } from '../lint-model.js';

/** What two peers of one VIP must agree on, as keepalived reads each (with its defaults). */
function wire(ctx: LintContext, i: KaInstance): { field: string; value: string; line: number; why: string }[] {
  const d = i.directive;
  const file = ctx.files.find((f) => f.path === i.file);
  const globalVersion = file ? findAll(file.tree.directives, 'global_defs').map((g) => child(g, 'vrrp_version')?.args[0]).find(Boolean) : undefined;
  const version = child(d, 'version')?.args[0] ?? globalVersion ?? '2';
  const auth = child(d, 'authentication');
  const authText = auth ? `${child(auth, 'auth_type')?.args[0] ?? 'PASS'} ${(child(auth, 'auth_pass')?.args[0] ?? '').slice(0, 8)}` : 'none';
  const line = (x: { line: number } | undefined) => x?.line ?? i.line;
  return [
    { field: 'virtual_router_id', value: i.vrid?.args[0] ?? '?', line: line(i.vrid), why: 'different VRIDs are two separate virtual routers: each node is master of its own and both hold the VIP' },
    { field: 'VRRP version', value: version, line: line(child(d, 'version')), why: 'v2 and v3 nodes do not accept each other\'s adverts: both become master' },
    // RFC 3768 makes a v2 backup discard adverts with another interval; a v3 backup adopts the master's.
    ...(version === '2' ? [{ field: 'advert_int', value: String(Number(child(d, 'advert_int')?.args[0] ?? 1)), line: line(child(d, 'advert_int')), why: 'a VRRPv2 backup drops adverts whose interval differs from its own (keepalived logs "advertisement interval mismatch"): both become master' }] : []),
    { field: 'authentication', value: authText, line: line(auth), why: 'adverts with another password (or none) are dropped: both become master' },
  ];
}

/**
 * Peers of one VIP (instances in different files that float the same address) that disagree on
 * what the wire needs to match: VRID, version, interval, password. Each of these is a split brain.
 */
export const keepalivedPeerMismatch: Rule = {
  code: 'keepalived-peer-mismatch',
  check(ctx) {
    const instances = kaInstances(ctx);
    const vipsOf = (i: KaInstance) => new Set(i.vips.map((v) => v.name.split('/')[0]!));
    const out = [];
    for (const [k, i] of instances.entries()) {
      // Compared with the first earlier peer from another file that shares a VIP with it.
      const peer = instances.slice(0, k).find((o) => o.file !== i.file && [...vipsOf(o)].some((v) => vipsOf(i).has(v)));
      if (!peer) continue;
      const mine = wire(ctx, i);
      const theirs = wire(ctx, peer);
      for (const m of mine) {
        const t = theirs.find((x) => x.field === m.field);
        if (!t || m.value === t.value) continue;
        const shown = (v: string) => (m.field === 'authentication' && v !== 'none' ? v.replace(/ .*/, ' (password)') : v);
        const values = m.field === 'authentication' && m.value !== 'none' && t.value !== 'none' && m.value.split(' ')[0] === t.value.split(' ')[0] ? 'a different password' : `${shown(m.value)}, the peer ${shown(t.value)}`;
        out.push(finding(this.code, 'error', i.file, m.line, `${i.name} and its peer ${peer.name} (${peer.file}) float the same VIP with different ${m.field}: ${values}`,
          m.why, `make ${m.field} the same on every node of the VIP`));
      }
    }
    return out;
  },
};
