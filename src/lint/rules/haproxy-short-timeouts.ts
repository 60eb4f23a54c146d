import { finding, hapProxies, isApiserverProxy, type Rule } from '../lint-model.js';

const HOUR = 3_600_000;

/** timeout client/server below an hour in front of apiservers (watches). */
export const haproxyShortTimeouts: Rule = {
  code: 'haproxy-short-timeouts',
  check(ctx) {
    const all = hapProxies(ctx);
    return all.filter((p) => isApiserverProxy(p, all)).flatMap((p) => {
      const which = p.kind === 'frontend' ? ['client'] : p.kind === 'backend' ? ['server'] : ['client', 'server'];
      return which.flatMap((w) => {
        const t = p.timeouts.get(w);
        if (!t || t.ms >= HOUR) return [];
        return [finding(this.code, 'warning', p.file, t.line, `timeout ${w} is ${t.ms / 1000}s for ${p.kind} ${p.name}`,
          'kubectl, kubelet and controller watches sit idle for minutes; haproxy cuts them at this timeout, and every client re-lists and re-watches',
          `timeout ${w} 1h (or more)`)];
      });
    });
  },
};
