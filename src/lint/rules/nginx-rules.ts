import { child, findAll, type Directive } from '../conf-tree.js';
import { APISERVER_PORTS, finding, nginxMs, portOf, type LintFile, type Rule } from '../lint-model.js';


/** stream servers that proxy to an upstream of apiservers, with their file. */
function apiserverStreamServers(files: LintFile[]): { file: string; server: Directive }[] {
  return files.filter((f) => f.kind === 'nginx').flatMap((f) =>
    findAll(f.tree.directives, 'stream').flatMap((stream) => {
      const upstreams = new Map(stream.children.filter((d) => d.name === 'upstream').map((u) => [u.args[0] ?? '', u]));
      return stream.children.filter((d) => d.name === 'server' && d.block).filter((s) => {
        const target = child(s, 'proxy_pass')?.args[0] ?? '';
        const up = upstreams.get(target);
        const ports = up ? up.children.filter((c) => c.name === 'server').map((c) => portOf(c.args[0])) : [portOf(target)];
        return ports.some((p) => APISERVER_PORTS.has(p ?? 0)) || s.children.some((c) => c.name === 'listen' && APISERVER_PORTS.has(portOf(`:${c.args[0]?.replace(/^.*:/, '')}`) ?? 0));
      }).map((server) => ({ file: f.path, server }));
    }));
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

/** An apiserver upstream inside `http` instead of `stream`. */
export const nginxHttpUpstream: Rule = {
  code: 'nginx-http-upstream',
  check(ctx) {
    return ctx.files.filter((f) => f.kind === 'nginx').flatMap((f) =>
      findAll(f.tree.directives, 'http').flatMap((h) => h.children.filter((d) => d.name === 'upstream')
        .filter((u) => u.children.some((s) => s.name === 'server' && APISERVER_PORTS.has(portOf(s.args[0]) ?? 0)))
        .map((u) => finding(this.code, 'error', f.path, u.line, `upstream ${u.args[0]} of apiservers is in the http block`,
          'an http proxy terminates TLS: client certificates never reach the apiserver (kubelets are refused, nodes go NotReady) and watch streams break',
          'move it to a stream { } block (libnginx-mod-stream) with proxy_pass, so TLS passes through'))));
  },
};
