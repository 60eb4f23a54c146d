import { finding, hapProxies, isApiserverProxy, type Rule } from '../lint-model.js';

/** Why a TCP connect is no check of an apiserver (keepalived's TCP_CHECK rule says the same). */
export const TCP_CHECK_MISSES_READINESS = 'an apiserver accepts TCP while it cannot reach etcd and during its whole shutdown delay, so clients keep landing on it; /readyz turns 500 at once in both cases';

/** Checks of apiservers that only test TCP. */
export const haproxyTcpOnlyCheck: Rule = {
  code: 'haproxy-tcp-only-check',
  check(ctx) {
    const all = hapProxies(ctx);
    return all.filter((p) => p.kind !== 'frontend' && isApiserverProxy(p, all) && p.servers.length > 0)
      .filter((p) => !p.options.some((o) => o.args[0] === 'httpchk'))
      .filter((p) => p.servers.some((s) => s.args.includes('check')) || p.defaultServer?.args.includes('check'))
      .map((p) => finding(this.code, 'warning', p.file, p.line, `${p.kind} ${p.name} checks its apiservers with TCP connects only`,
        TCP_CHECK_MISSES_READINESS,
        'option httpchk GET /readyz, http-check expect status 200, and check check-ssl verify none on the servers'));
  },
};
