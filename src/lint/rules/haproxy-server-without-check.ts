import { finding, hapProxies, isApiserverProxy, type Rule } from '../lint-model.js';

/** Apiserver servers without `check`. */
export const haproxyServerWithoutCheck: Rule = {
  code: 'haproxy-server-without-check',
  check(ctx) {
    const all = hapProxies(ctx);
    return all.filter((p) => isApiserverProxy(p, all) && !p.defaultServer?.args.includes('check')).flatMap((p) =>
      p.servers.filter((s) => !s.args.includes('check')).map((s) =>
        finding(this.code, 'error', p.file, s.line, `server ${s.args[0]} in ${p.kind} ${p.name} has no "check"`,
          'without health checks haproxy keeps sending new connections to a dead or shutting-down apiserver until its TCP connects fail',
          'add "check" (and "check-ssl verify none" with option httpchk GET /readyz)')));
  },
};
