import { isLoopbackHost, parseHostPort } from '../../config/address.js';
import type { Rule } from '../lint-model.js';
import { kubehaViews } from './kubeha-view.js';

/** A frontend on the port of an apiserver of this same host (a server of its backend on a local address). */
export const kubehaBindApiserverPort: Rule = {
  code: 'kubeha-bind-apiserver-port',
  check(ctx) {
    const local = new Set(ctx.host.localAddresses());
    const isLocal = (host: string) => isLoopbackHost(host) || local.has(host);
    return kubehaViews(ctx).flatMap((v) => v.config.frontends.flatMap((f, i) => {
      const bind = parseHostPort(f.bind, true);
      if (typeof bind === 'string' || bind.port === 0) return [];
      const servers = v.config.backends.find((b) => b.name === f.backend)?.servers ?? [];
      const clash = servers.find((s) => {
        const a = parseHostPort(s.address);
        return typeof a !== 'string' && a.port === bind.port && isLocal(a.host);
      });
      if (!clash) return [];
      return v.report(this.code, 'error', [['frontends', i, 'bind']], `frontend ${f.name} binds ${f.bind} on a host whose apiserver (server ${clash.name}, ${clash.address}) listens on ${bind.port}`,
        'the apiserver listens on every address of its port by default (--bind-address 0.0.0.0), so whichever starts second fails to bind: the load balancer or the local apiserver is down after every reboot',
        'move the frontend to another port (16443 is the usual one) and point the kubeconfigs at VIP:16443');
    }));
  },
};
