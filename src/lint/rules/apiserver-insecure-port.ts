// The apiserver's insecure port behind a load balancer, in nginx (http or stream) and haproxy.
import { findAll } from '../conf-tree.js';
import { APISERVER_INSECURE_PORT, finding, hapProxies, nginxBlocks, portOf, proxyPassTarget, upstreamServers, type Rule } from '../lint-model.js';

const PORT = APISERVER_INSECURE_PORT;
const WHY = `port ${PORT} is the apiserver's insecure port: plain HTTP with no authentication or authorization, so anyone who reaches the load balancer is cluster-admin (and Kubernetes 1.20 removed it: --insecure-port accepts only 0, so this stops working on upgrade)`;
const host = (addr: string | undefined) => (addr ?? '').replace(/:\d+$/, '');

/** An nginx upstream or proxy_pass to port 8080 of the masters, in an http or a stream context. */
export const nginxApiserverInsecurePort: Rule = {
  code: 'nginx-apiserver-insecure-port',
  check(ctx) {
    return nginxBlocks(ctx.files).flatMap((b) => {
      const upstreams = [...b.upstreams.values()].flatMap((u) => {
        const insecure = upstreamServers(u).filter((s) => portOf(s.args[0]) === PORT);
        return insecure.length > 0 ? [{ line: insecure[0]!.line, what: `${b.context} upstream ${u.args[0]} sends to port ${PORT} of ${insecure.map((s) => host(s.args[0])).join(', ')}` }] : [];
      });
      const direct = findAll(b.directives, 'proxy_pass').filter((p) => !b.upstreams.has(proxyPassTarget(p)) && portOf(proxyPassTarget(p)) === PORT)
        .map((p) => ({ line: p.line, what: `${b.context} proxy_pass ${p.args[0]} sends to port ${PORT}` }));
      return [...upstreams, ...direct].map(({ line, what }) => finding(this.code, 'error', b.file, line, what, WHY,
        'proxy the secure port in a stream { } block: upstream servers MASTER:6443 and proxy_pass to them, so TLS and client certificates pass through; turn the insecure port off'));
    });
  },
};

/** haproxy servers on port 8080 of the masters. */
export const haproxyApiserverInsecurePort: Rule = {
  code: 'haproxy-apiserver-insecure-port',
  check(ctx) {
    return hapProxies(ctx).filter((p) => p.kind !== 'frontend').flatMap((p) => {
      const insecure = p.servers.filter((s) => portOf(s.args[1]) === PORT);
      if (insecure.length === 0) return [];
      return [finding(this.code, 'error', p.file, insecure[0]!.line, `${p.kind} ${p.name} sends to port ${PORT} of ${insecure.map((s) => host(s.args[1])).join(', ')}`, WHY,
        'send to the secure port in mode tcp: server NAME MASTER:6443 check check-ssl verify none, with option httpchk GET /readyz; turn the insecure port off')];
    });
  },
};
