import { finding, hapProxies, type Rule } from '../lint-model.js';

/** Several `option *chk` in one backend: only the last applies. */
export const haproxyMultipleChecks: Rule = {
  code: 'haproxy-multiple-checks',
  check(ctx) {
    return hapProxies(ctx).flatMap((p) => {
      const chks = p.options.filter((o) => /chk$/.test(o.args[0] ?? ''));
      if (chks.length < 2) return [];
      const last = chks[chks.length - 1]!;
      return [finding(this.code, 'error', p.file, last.line, `${p.kind} ${p.name} has ${chks.length} check options (${chks.map((c) => c.args[0]).join(', ')}); only the last, ${last.args[0]}, applies`,
        `the earlier ${chks[0]!.args[0]} is silently dropped, so e.g. "httpchk GET /healthz" followed by "ssl-hello-chk" only checks that TLS answers, not that the apiserver is ready`,
        'keep one: option httpchk GET /readyz with check-ssl verify none on the servers')];
    });
  },
};
