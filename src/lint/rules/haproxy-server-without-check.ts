import { hapCheck } from '../haproxy-check.js';
import { finding, hapProxies, isApiserverProxy, type Rule } from '../lint-model.js';
import { servesOnlyLocally } from './local-lb-rules.js';

/** Apiserver servers without `check` on their line or a default-server line (of the section or its defaults); node-local ones have their own rule. */
export const haproxyServerWithoutCheck: Rule = {
  code: 'haproxy-server-without-check',
  check(ctx) {
    const all = hapProxies(ctx);
    return all.filter((p) => p.kind !== 'frontend' && isApiserverProxy(p, all) && !servesOnlyLocally(p, all)).flatMap((p) =>
      hapCheck(p).servers.filter((s) => !s.checked).map((s) =>
        finding(this.code, 'error', p.file, s.server.line, `server ${s.name} in ${p.kind} ${p.name} has no "check"`,
          'without health checks haproxy keeps sending new connections to a dead or shutting-down apiserver until its TCP connects fail',
          'add "check" (and "check-ssl verify none" with option httpchk GET /readyz)')));
  },
};
