import { describeCheck, hapCheck } from '../haproxy-check.js';
import { finding, hapProxies, type Rule } from '../lint-model.js';

/** Several check options in one section: haproxy runs only the last (see haproxy-check.ts). */
export const haproxyMultipleChecks: Rule = {
  code: 'haproxy-multiple-checks',
  check(ctx) {
    return hapProxies(ctx).filter((p) => p.kind !== 'frontend').flatMap((p) => {
      const c = hapCheck(p);
      if (c.written.length < 2) return [];
      const last = c.option!;
      const names = c.written.map((o) => o.args[0]).join(', ');
      const dropped = c.written.slice(0, -1).map((o) => `"option ${o.args.join(' ')}"`).join(', ');
      const ignored = c.ignoredHttpRules.length > 0 ? `, and its http-check lines (${c.ignoredHttpRules.map((d) => d.line).join(', ')}) are ignored` : '';
      const checked = c.servers.find((s) => s.checked) ?? c.servers[0];
      return [finding(this.code, 'error', p.file, last.line, `${p.kind} ${p.name} has ${c.written.length} check options (${names}); haproxy runs only the last, ${last.args[0]}, so it checks with ${describeCheck(c, checked)}`,
        `${dropped} is silently replaced${ignored}: e.g. "httpchk GET /healthz" followed by "ssl-hello-chk" only checks that TLS answers, not that the apiserver is ready`,
        'keep one: option httpchk GET /readyz, http-check expect status 200, and check check-ssl verify none on the servers')];
    });
  },
};
