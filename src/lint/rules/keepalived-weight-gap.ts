import { directiveNumber, finding, kaInstances, kaScripts, type Rule } from '../lint-model.js';

/** A track weight too small to move the VIP past the priority gap, or nopreempt with state MASTER. */
export const keepalivedWeightGap: Rule = {
  code: 'keepalived-weight-gap',
  check(ctx) {
    const out = [];
    const instances = kaInstances(ctx);
    const scripts = kaScripts(ctx);
    for (const i of instances) {
      if (i.nopreempt && i.state === 'MASTER') {
        out.push(finding(this.code, 'error', i.file, i.nopreempt.line, `${i.name} has nopreempt with state MASTER`,
          'keepalived only honours nopreempt on instances that start as BACKUP, so this node still takes the VIP back after every restart',
          'set state BACKUP on every node that should not preempt'));
      }
      const mine = directiveNumber(i.priority) ?? 100;
      const peers = instances.filter((o) => o.file !== i.file && directiveNumber(o.vrid) === directiveNumber(i.vrid));
      const lowest = Math.min(...peers.map((o) => directiveNumber(o.priority) ?? 100));
      if (peers.length === 0 || lowest >= mine) continue;
      const drop = i.trackScripts.map((t) => scripts.find((s) => s.file === i.file && s.name === t.name)).reduce((n, s) => n + (s && s.weight < 0 ? -s.weight : 0), 0);
      const faults = i.trackScripts.some((t) => scripts.find((s) => s.file === i.file && s.name === t.name)?.weight === 0);
      if (faults || i.trackScripts.length === 0 || drop > mine - lowest) continue;
      out.push(finding(this.code, 'error', i.file, i.priority?.line ?? i.line, `${i.name} has priority ${mine}, ${mine - lowest} above its lowest peer, but its failing tracks lower it by only ${drop}`,
        'when its checks fail the node stays above a healthy peer, so the VIP can never move to it',
        `make the track weight larger than ${mine - lowest} (e.g. weight -${mine - lowest + 10}), or use weight 0 to go to FAULT`));
    }
    return out;
  },
};
