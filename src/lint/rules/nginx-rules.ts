import { child, findAll, type Directive } from '../conf-tree.js';
import { APISERVER_INSECURE_PORT, APISERVER_PORTS, finding, listenAddress, nginxBlocks, nginxMs, portOf, proxyPassAddresses, proxyPassTarget, upstreamServers, type LintFile, type Rule } from '../lint-model.js';

/** stream servers that proxy to an upstream of apiservers, with their file. */
function apiserverStreamServers(files: LintFile[]): { file: string; server: Directive }[] {
  return nginxBlocks(files).filter((b) => b.context === 'stream').flatMap((stream) =>
    stream.directives.filter((d) => d.name === 'server' && d.block).filter((s) => {
      const pass = child(s, 'proxy_pass');
      const ports = [...(pass ? proxyPassAddresses(stream, pass).map(portOf) : []), ...s.children.filter((c) => c.name === 'listen').map((l) => listenAddress(l.args[0] ?? '')?.port)];
      return ports.some((p) => APISERVER_PORTS.has(p ?? 0));
    }).map((server) => ({ file: stream.file, server })));
}

/**
 * One timeout directive of every apiserver stream server: the servers whose value (nginx's default
 * when absent) fails `ok`, with the directive when it is written.
 */
function timeoutFindings(files: LintFile[], directive: string, defaultMs: number, ok: (ms: number) => boolean) {
  return apiserverStreamServers(files).flatMap(({ file, server }) => {
    const d = child(server, directive);
    const ms = d ? nginxMs(d.args[0]) : defaultMs;
    return ms !== undefined && ok(ms) ? [] : [{ file, line: d?.line ?? server.line, written: d?.args[0] }];
  });
}

/** proxy_timeout below an hour (the default is 10 minutes). */
export const nginxProxyTimeout: Rule = {
  code: 'nginx-proxy-timeout',
  check(ctx) {
    return timeoutFindings(ctx.files, 'proxy_timeout', 600_000, (ms) => ms >= 3_600_000).map(({ file, line, written }) =>
      finding(this.code, 'warning', file, line, written ? `proxy_timeout ${written} in front of apiservers` : 'no proxy_timeout in front of apiservers (nginx default 10m)',
        'an idle watch is cut after this long, so every kubelet and controller re-lists and re-watches; at 10 minutes that is a steady load on the apiservers',
        'proxy_timeout 1h;'));
  },
};

/** The default (or a long) proxy_connect_timeout. */
export const nginxConnectTimeout: Rule = {
  code: 'nginx-connect-timeout',
  check(ctx) {
    return timeoutFindings(ctx.files, 'proxy_connect_timeout', 60_000, (ms) => ms < 10_000).map(({ file, line, written }) =>
      finding(this.code, 'warning', file, line, written ? `proxy_connect_timeout ${written}` : 'proxy_connect_timeout is the default 60s',
        'a client sent to a master that is down waits this long before nginx tries the next one (open-source nginx has no active checks)',
        'proxy_connect_timeout 2s;'));
  },
};

/** An upstream or proxy_pass is of apiservers: it targets their secure ports or the insecure 8080. */
const isApiserverPort = (port: number | undefined) => APISERVER_PORTS.has(port ?? 0) || port === APISERVER_INSECURE_PORT;

/**
 * Apiservers proxied in an http context instead of `stream`: an upstream of apiservers, or a
 * proxy_pass straight to one, in an http block or in a conf.d snippet included inside http { }.
 */
export const nginxHttpUpstream: Rule = {
  code: 'nginx-http-upstream',
  check(ctx) {
    return nginxBlocks(ctx.files).filter((b) => b.context === 'http').flatMap((h) => {
      const where = h.snippet ? 'an http snippet (included inside http { })' : 'the http block';
      const upstreams = [...h.upstreams.values()].filter((u) => upstreamServers(u).some((s) => isApiserverPort(portOf(s.args[0]))))
        .map((u) => ({ line: u.line, what: `upstream ${u.args[0]} of apiservers is in ${where}` }));
      const direct = findAll(h.directives, 'proxy_pass').filter((p) => !h.upstreams.has(proxyPassTarget(p)) && isApiserverPort(portOf(proxyPassTarget(p))))
        .map((p) => ({ line: p.line, what: `proxy_pass ${p.args[0]} to an apiserver is in ${where}` }));
      return [...upstreams, ...direct].map(({ line, what }) => finding(this.code, 'error', h.file, line, what,
        'an http proxy cannot pass TLS through: client certificates never reach the apiserver (kubelets are refused, nodes go NotReady), and its proxy_read_timeout (60s) and buffering break watch streams',
        'move it to a stream { } block (libnginx-mod-stream) with proxy_pass to the apiservers\' port 6443, so TLS passes through'));
    });
  },
};
