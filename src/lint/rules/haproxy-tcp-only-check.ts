import { describeCheck, hapCheck, onlyConnects } from '../haproxy-check.js';
import { finding, hapProxies, isApiserverProxy, type Rule } from '../lint-model.js';

/** Why a TCP connect is no check of an apiserver (keepalived's TCP_CHECK rule says the same). */
export const TCP_CHECK_MISSES_READINESS = 'an apiserver accepts TCP while it cannot reach etcd and during its whole shutdown delay, so clients keep landing on it; /readyz turns 500 at once in both cases';

/** Checks of apiservers that, as haproxy runs them (see haproxy-check.ts), only test that the port answers. */
export const haproxyTcpOnlyCheck: Rule = {
  code: 'haproxy-tcp-only-check',
  check(ctx) {
    const all = hapProxies(ctx);
    return all.filter((p) => p.kind !== 'frontend' && isApiserverProxy(p, all) && p.servers.length > 0).flatMap((p) => {
      const c = hapCheck(p);
      const checked = c.servers.find((s) => s.checked);
      if (!checked || !onlyConnects(c)) return [];
      return [finding(this.code, 'warning', p.file, c.option?.line ?? p.line, `${p.kind} ${p.name} checks its apiservers with ${describeCheck(c, checked)} only`,
        describeCheck(c, checked).startsWith('TCP') ? TCP_CHECK_MISSES_READINESS : TCP_CHECK_MISSES_READINESS.replace('accepts TCP', 'completes TLS handshakes'),
        'option httpchk GET /readyz, http-check expect status 200, and check check-ssl verify none on the servers')];
    });
  },
};
