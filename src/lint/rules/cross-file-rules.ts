import { findAll } from '../conf-tree.js';
import { finding, hapProxies, kaInstances, kaScripts, kaVirtualServers, kubeconfigServers, listenAddress, scriptText, type LintContext, type Rule } from '../lint-model.js';

/** The VIP in keepalived.conf differs from the address the LB binds or the kubeconfigs use. */
export const crossVipMismatch: Rule = {
  code: 'cross-vip-mismatch',
  check(ctx) {
    const vips = new Set(kaInstances(ctx).flatMap((i) => i.vips.map((v) => v.name.split('/')[0]!)));
    if (vips.size === 0) return [];
    const out = [];
    const specific = (addr: string) => {
      const host = addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      return host && host !== '*' && host !== '0.0.0.0' && host !== '::' && host !== '127.0.0.1' ? host : undefined;
    };
    for (const p of hapProxies(ctx)) for (const b of p.binds) {
      const host = specific(b.args[0] ?? '');
      if (host && !vips.has(host)) out.push(finding(this.code, 'error', p.file, b.line, `${p.kind} ${p.name} binds ${host}, but keepalived floats ${[...vips].join(', ')}`,
        'clients sent to the VIP find nothing listening on it', 'bind the VIP (or *) in the load balancer'));
    }
    for (const f of ctx.files.filter((x) => x.kind === 'nginx')) for (const l of findAll(f.tree.directives, 'listen')) {
      const host = l.args[0]?.includes(':') ? specific(l.args[0]) : undefined;
      if (host && !vips.has(host)) out.push(finding(this.code, 'error', f.path, l.line, `nginx listens on ${host}, but keepalived floats ${[...vips].join(', ')}`,
        'clients sent to the VIP find nothing listening on it', 'listen on the VIP (or on the port alone)'));
    }
    for (const f of ctx.files.filter((x) => x.kind === 'kubeconfig')) for (const { server, line } of kubeconfigServers(f)) {
      const host = /^https?:\/\/\[?([^\]/]+?)\]?(:\d+)?(\/|$)/.exec(server)?.[1];
      if (host && /^\d+\.\d+\.\d+\.\d+$/.test(host) && !vips.has(host) && host !== '127.0.0.1') {
        out.push(finding(this.code, 'error', f.path, line, `kubeconfig server ${server} is not the VIP (${[...vips].join(', ')})`,
          'this client talks to one master directly and loses the API when that master goes down, HA or not', `set server: https://${[...vips][0]}:PORT`));
      }
    }
    return out;
  },
};

const LB_PROCESSES = ['haproxy', 'nginx', 'kubeha', 'envoy'];

/** A keepalived check script that checks a process other than the load balancer given with it. */
export const crossCheckScriptTarget: Rule = {
  code: 'cross-check-script-target',
  check(ctx) {
    const lbs = [...new Set(ctx.files.filter((f) => f.kind === 'haproxy' || f.kind === 'nginx').map((f) => f.kind))];
    if (lbs.length === 0) return [];
    return kaScripts(ctx).flatMap((s) => {
      const body = scriptText(s, ctx.host).replace(s.program, '');
      const checked = [...LB_PROCESSES, 'kube-apiserver'].filter((p) => new RegExp(`\\b${p}\\b`).test(body));
      if (checked.length === 0 || checked.some((c) => (lbs as string[]).includes(c))) return [];
      return [finding(this.code, 'warning', s.file, s.script!.line, `vrrp_script ${s.name} checks ${checked.join(', ')}, but the load balancer here is ${lbs.join(', ')}`,
        'the VIP follows the health of a process that does not serve it: a node whose load balancer died keeps the VIP',
        `check ${lbs[0]} itself, e.g. a TCP connect to its port`)];
    });
  },
};

/** Every address the haproxy and nginx files listen on: binds of frontends and listens, nginx listen lines. */
function lbListeners(ctx: LintContext): { file: string; line: number; who: string; host: string; port: number }[] {
  const haproxy = hapProxies(ctx).filter((p) => p.kind !== 'backend').flatMap((p) => p.binds.flatMap((b) =>
    (b.args[0] ?? '').split(',').flatMap((text) => {
      const a = listenAddress(text);
      return a ? [{ file: p.file, line: b.line, who: `haproxy ${p.kind} ${p.name}`, ...a }] : [];
    })));
  const nginx = ctx.files.filter((f) => f.kind === 'nginx').flatMap((f) => findAll(f.tree.directives, 'listen').flatMap((l) => {
    const a = listenAddress(l.args[0] ?? '');
    return a ? [{ file: f.path, line: l.line, who: 'nginx', ...a }] : [];
  }));
  return [...haproxy, ...nginx];
}

/** A keepalived virtual_server (LVS) on a VIP:port that the haproxy or nginx given with it also serves. */
export const crossLvsStackedBalancer: Rule = {
  code: 'cross-lvs-stacked-balancer',
  check(ctx) {
    const listeners = lbListeners(ctx);
    if (listeners.length === 0) return [];
    return kaVirtualServers(ctx).flatMap((vs) => {
      const clash = listeners.find((l) => l.port === vs.port && (l.host === '*' || l.host === vs.ip));
      if (!clash || !vs.ip) return [];
      return [finding(this.code, 'error', vs.file, vs.line, `${vs.label} balances a port that ${clash.who} (${clash.file}:${clash.line}) also serves on ${clash.host}:${clash.port}`,
        'two balancers are stacked on one port: IPVS takes the packets for the VIP in the kernel before they reach the local proxy, so on the VIP holder the proxy, its checks and its timeouts are bypassed, and what you tune is not what serves',
        'keep one balancer per port: drop the virtual_server and let keepalived only float the VIP in front of the proxy (or use kubeha, which does both), or move one of them to another port')];
    });
  },
};
