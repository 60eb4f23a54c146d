import { finding, hapProxies, isApiserverProxy, type Rule } from '../lint-model.js';

/** `option httpchk` against apiservers whose checks do not speak TLS. */
export const haproxyHttpchkWithoutTls: Rule = {
  code: 'haproxy-httpchk-without-tls',
  check(ctx) {
    const all = hapProxies(ctx);
    const tls = (args: string[] | undefined) => !!args && (args.includes('check-ssl') || args.includes('ssl'));
    return all.filter((p) => p.kind !== 'frontend' && isApiserverProxy(p, all) && p.options.some((o) => o.args[0] === 'httpchk'))
      .flatMap((p) => p.servers.filter((s) => s.args.includes('check') || p.defaultServer?.args.includes('check'))
        .filter((s) => !tls(s.args) && !tls(p.defaultServer?.args))
        .map((s) => finding(this.code, 'error', p.file, s.line, `server ${s.args[0] ?? ''} of ${p.kind} ${p.name} is checked with plain HTTP`,
          'the apiserver port speaks only TLS, so every check fails ("client sent an HTTP request to an HTTPS server") and haproxy marks every apiserver down',
          'add check-ssl verify none (or verify required ca-file /etc/kubernetes/pki/ca.crt) to the servers or to default-server')));
  },
};
