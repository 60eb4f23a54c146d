import { child, findAll, type Directive } from '../conf-tree.js';
import { APISERVER_PORTS, finding, portOf, type LintFile, type Rule } from '../lint-model.js';

const seconds = (v: string | undefined) => {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(v ?? '');
  if (!m) return undefined;
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] ?? 's'] ?? 1);
};

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

/** proxy_timeout below an hour (the default is 10 minutes). */
export const nginxProxyTimeout: Rule = {
  code: 'nginx-proxy-timeout',
  check(ctx) {
    return apiserverStreamServers(ctx.files).flatMap(({ file, server }) => {
      const d = child(server, 'proxy_timeout');
      const s = d ? seconds(d.args[0]) : 600;
      if (s !== undefined && s >= 3600) return [];
      return [finding(this.code, 'warning', file, d?.line ?? server.line, d ? `proxy_timeout ${d.args[0]} in front of apiservers` : 'no proxy_timeout in front of apiservers (nginx default 10m)',
        'an idle watch is cut after this long, so every kubelet and controller re-lists and re-watches; at 10 minutes that is a steady load on the apiservers',
        'proxy_timeout 1h;')];
    });
  },
};

/** The default (or a long) proxy_connect_timeout. */
export const nginxConnectTimeout: Rule = {
  code: 'nginx-connect-timeout',
  check(ctx) {
    return apiserverStreamServers(ctx.files).flatMap(({ file, server }) => {
      const d = child(server, 'proxy_connect_timeout');
      const s = d ? seconds(d.args[0]) : 60;
      if (s !== undefined && s < 10) return [];
      return [finding(this.code, 'warning', file, d?.line ?? server.line, d ? `proxy_connect_timeout ${d.args[0]}` : 'proxy_connect_timeout is the default 60s',
        'a client sent to a master that is down waits this long before nginx tries the next one (open-source nginx has no active checks)',
        'proxy_connect_timeout 2s;')];
    });
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
