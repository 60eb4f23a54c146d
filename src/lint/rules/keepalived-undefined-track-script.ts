import { finding, kaInstances, kaScripts, type Rule } from '../lint-model.js';

/** track_script names a vrrp_script that is not defined: keepalived ignores the track silently. */
export const keepalivedUndefinedTrackScript: Rule = {
  code: 'keepalived-undefined-track-script',
  check(ctx) {
    const defined = new Set(kaScripts(ctx).map((s) => `${s.file}\0${s.name}`));
    return kaInstances(ctx).flatMap((i) => i.trackScripts.filter((t) => !defined.has(`${i.file}\0${t.name}`)).map((t) =>
      finding(this.code, 'error', i.file, t.line, `track_script "${t.name}" in ${i.name} names no vrrp_script`,
        'keepalived ignores the track without a word, so a node whose load balancer died keeps the VIP and clients hit a dead port',
        `define vrrp_script ${t.name} { script "..." } or fix the name`)));
  },
};
