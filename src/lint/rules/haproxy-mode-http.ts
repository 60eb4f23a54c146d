import { finding, hapProxies, isApiserverProxy, type Rule } from '../lint-model.js';

/** An apiserver frontend/backend in mode http. */
export const haproxyModeHttp: Rule = {
  code: 'haproxy-mode-http',
  check(ctx) {
    const all = hapProxies(ctx);
    return all.filter((p) => p.mode.value === 'http' && isApiserverProxy(p, all)).map((p) =>
      finding(this.code, 'error', p.file, p.mode.line, `${p.kind} ${p.name} proxies the apiserver in mode http`,
        'mode http terminates TLS or fails on it: client certificates (kubelets, kube-proxy) never reach the apiserver, nodes go NotReady, and watch streams break',
        'use mode tcp for the apiserver (TLS passes through); check /readyz with option httpchk and check-ssl instead'));
  },
};
