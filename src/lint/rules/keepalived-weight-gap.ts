import { directiveNumber, finding, kaInstances, kaTrackDrop, kaTracks, type KaInstance, type LintContext, type Rule } from '../lint-model.js';

/**
 * The tracks of `i` whose failure alone cannot move the VIP to its lowest peer: keepalived.conf(5)
 * adds a negative weight while the track fails and a positive one while it passes, so a failing
 * track puts the node |weight| below a peer whose same track passes; that has to beat the priority
 * gap. Tracks with weight 0 (FAULT), reversed ones and weighted track_files (value × weight) are
 * left out. The importer's notes use the same function.
 */
export function weakTracks(ctx: LintContext, i: KaInstance, instances = kaInstances(ctx)): { gap: number; mine: number; lowest: number; weak: { name: string; weight: number; drop: number }[] } | undefined {
  const mine = directiveNumber(i.priority) ?? 100;
  const peers = instances.filter((o) => o.file !== i.file && directiveNumber(o.vrid) === directiveNumber(i.vrid));
  const lowest = Math.min(...peers.map((o) => directiveNumber(o.priority) ?? 100));
  if (peers.length === 0 || lowest >= mine) return undefined;
  const weak = kaTracks(ctx, i).flatMap((t) => {
    const drop = kaTrackDrop(t);
    return typeof drop === 'number' && drop <= mine - lowest ? [{ name: t.name, weight: t.weight, drop }] : [];
  });
  return weak.length > 0 ? { gap: mine - lowest, mine, lowest, weak } : undefined;
}

/** A track weight too small to move the VIP past the priority gap, or nopreempt with state MASTER. */
export const keepalivedWeightGap: Rule = {
  code: 'keepalived-weight-gap',
  check(ctx) {
    const out = [];
    const instances = kaInstances(ctx);
    for (const i of instances) {
      if (i.nopreempt && i.state === 'MASTER') {
        out.push(finding(this.code, 'error', i.file, i.nopreempt.line, `${i.name} has nopreempt with state MASTER`,
          'keepalived only honours nopreempt on instances that start as BACKUP, so this node still takes the VIP back after every restart',
          'set state BACKUP on every node that should not preempt'));
      }
      const w = weakTracks(ctx, i, instances);
      if (!w) continue;
      const list = w.weak.map((t) => `a failing ${t.name} (weight ${t.weight}) lowers it by only ${t.drop}`).join(', ');
      out.push(finding(this.code, 'error', i.file, i.priority?.line ?? i.line, `${i.name} has priority ${w.mine}, ${w.gap} above its lowest peer, but ${list}`,
        'when that check fails the node stays at or above a healthy peer, so the VIP never moves to it',
        `make the track weight larger than ${w.gap} (e.g. weight -${w.gap + 10}), or use weight 0 to go to FAULT`));
    }
    return out;
  },
};
