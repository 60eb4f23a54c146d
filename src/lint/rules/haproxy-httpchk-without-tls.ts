import { hapCheck, TLS_ONLY_PORTS } from '../haproxy-check.js';
import { finding, hapProxies, isApiserverProxy, portOf, type Rule } from '../lint-model.js';

/** The httpchk that haproxy really runs (see haproxy-check.ts) goes in plain HTTP to a port that speaks only TLS. */
export const haproxyHttpchkWithoutTls: Rule = {
  code: 'haproxy-httpchk-without-tls',
  check(ctx) {
    const all = hapProxies(ctx);
    return all.filter((p) => p.kind !== 'frontend').flatMap((p) => {
      const c = hapCheck(p);
      if (c.method !== 'httpchk') return [];
      const apiserver = isApiserverProxy(p, all);
      // a port of its own (`port 10256`, `http-check connect port`) may well speak plain HTTP
      const tlsOnly = (port: number | undefined, address: string) => TLS_ONLY_PORTS.has(port ?? 0) || (apiserver && port === portOf(address));
      return c.servers.filter((s) => s.checked && !s.tls && tlsOnly(s.port, s.address)).map((s) =>
        finding(this.code, 'error', p.file, s.server.line, `server ${s.name} of ${p.kind} ${p.name} is checked with plain HTTP ${c.request!.method} ${c.request!.uri} on port ${s.port}`,
          'that port speaks only TLS, so every check fails ("client sent an HTTP request to an HTTPS server") and haproxy marks every apiserver down',
          'add check-ssl verify none (or verify required ca-file /etc/kubernetes/pki/ca.crt) to the servers or to default-server, or http-check connect ssl'));
    });
  },
};
