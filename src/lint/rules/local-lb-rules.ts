// Node-local load balancers (kubespray's nginx on every worker, a haproxy on 127.0.0.1): what they
// lose against one that checks its apiservers and follows the API.
import { child } from '../conf-tree.js';
import { hapCheck } from '../haproxy-check.js';
import { APISERVER_PORTS, finding, hapProxies, isApiserverProxy, listenAddress, nginxBlocks, portOf, proxyPassAddresses, type HapProxy, type Rule } from '../lint-model.js';

const LOOPBACK = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

/** A bind or listen on loopback only: a node-local LB. */
const isLoopbackListen = (text: string) => {
  const a = listenAddress(text);
  return !!a && LOOPBACK(a.host);
};

/** nginx stream servers on loopback in front of apiservers: open-source nginx has no active checks. */
export const nginxLocalLbPassiveOnly: Rule = {
  code: 'nginx-local-lb-passive-only',
  check(ctx) {
    return nginxBlocks(ctx.files).filter((b) => b.context === 'stream').flatMap((stream) =>
      stream.directives.filter((d) => d.name === 'server' && d.block).flatMap((server) => {
        const listens = server.children.filter((c) => c.name === 'listen');
        const pass = child(server, 'proxy_pass');
        const targets = pass ? proxyPassAddresses(stream, pass) : [];
        if (listens.length === 0 || !listens.every((l) => isLoopbackListen(l.args[0] ?? ''))) return [];
        if (!targets.some((t) => APISERVER_PORTS.has(portOf(t) ?? 0))) return [];
        return [finding(this.code, 'warning', stream.file, listens[0]!.line, `a node-local nginx stream LB (${listens[0]!.args[0]}) in front of ${targets.length} apiservers with passive checks only`,
          'open-source nginx marks a master down only after connections to it fail: one that still accepts TCP but is cut off from etcd keeps its share of requests and its watches, and every kubelet of the node can go NotReady (kubespray #2150); its masters are fixed in this file, so one added or replaced later is never used (kubespray #12102)',
          'use kubeha as the node-local LB (inventory workerAccess: local): https /readyz checks, and the apiservers followed from the API')];
      }));
  },
};

/** A haproxy frontend or listen on loopback in front of apiservers whose servers are not all checked. */
export const haproxyLocalLbWithoutCheck: Rule = {
  code: 'haproxy-local-lb-without-check',
  check(ctx) {
    const all = hapProxies(ctx);
    return localHaproxyBackends(all).flatMap(({ entry, backend }) => {
      const unchecked = hapCheck(backend).servers.filter((s) => !s.checked);
      if (unchecked.length === 0) return [];
      return [finding(this.code, 'error', backend.file, unchecked[0]!.server.line, `the node-local haproxy ${entry.kind} ${entry.name} (${entry.binds[0]?.args[0]}) sends to ${unchecked.map((s) => s.name).join(', ')} without "check"`,
        'without checks a node-local LB keeps every kubelet and kube-proxy of the node pointed at a master that is down or shutting down until their own TCP connects fail, and keeps their watches there',
        'add "check check-ssl verify none" with option httpchk GET /readyz, or use kubeha as the node-local LB (workerAccess: local)')];
    });
  },
};

/** Loopback-bound frontends/listens of apiservers, each with the section that holds its servers. */
function localHaproxyBackends(all: HapProxy[]): { entry: HapProxy; backend: HapProxy }[] {
  return all.filter((p) => p.kind !== 'backend' && p.binds.length > 0 && p.binds.every((b) => isLoopbackListen(b.args[0] ?? '')) && isApiserverProxy(p, all)).flatMap((entry) => {
    const backend = entry.kind === 'listen' ? entry : all.find((x) => x.file === entry.file && x.kind === 'backend' && x.name === entry.defaultBackend);
    return backend ? [{ entry, backend }] : [];
  });
}

/** Whether a haproxy backend (or listen) serves only node-local frontends: its findings belong to {@link haproxyLocalLbWithoutCheck}. */
export function servesOnlyLocally(p: HapProxy, all: HapProxy[]): boolean {
  return localHaproxyBackends(all).some((x) => x.backend === p);
}
