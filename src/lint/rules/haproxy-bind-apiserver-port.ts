import { finding, hapProxies, portOf, type Rule } from '../lint-model.js';

/** A frontend on 6443 of a host whose own apiserver (a backend server here) also uses 6443. */
export const haproxyBindApiserverPort: Rule = {
  code: 'haproxy-bind-apiserver-port',
  check(ctx) {
    const all = hapProxies(ctx);
    const local = new Set(['127.0.0.1', 'localhost', ...ctx.host.localAddresses()]);
    return all.filter((p) => p.kind !== 'backend').flatMap((p) => p.binds.flatMap((b) => {
      const port = portOf(b.args[0]);
      const host = (b.args[0] ?? '').replace(/:\d+$/, '');
      const wildcard = host === '' || host === '*' || host === '0.0.0.0' || host === '::';
      if (!port || !wildcard) return [];
      const targets = all.filter((x) => x.file === p.file && (x === p || x.name === p.defaultBackend)).flatMap((x) => x.servers);
      const clash = targets.find((s) => portOf(s.args[1]) === port && local.has((s.args[1] ?? '').replace(/:\d+$/, '')));
      if (!clash) return [];
      return [finding(this.code, 'error', p.file, b.line, `${p.kind} ${p.name} binds *:${port} on a host whose apiserver (${clash.args[1]}) listens on ${port}`,
        'whichever starts second fails to bind: either the load balancer or the local apiserver is down after every reboot',
        `move the frontend to another port (16443 is the usual one) and point the kubeconfigs at VIP:16443, or bind only the VIP`)];
    }));
  },
};
