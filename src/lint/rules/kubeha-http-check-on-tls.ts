import type { Rule } from '../lint-model.js';
import { APISERVER_PORTS, portOf } from '../lint-model.js';
import { kubehaViews } from './kubeha-view.js';

/** `healthCheck.type: http` against an apiserver port, which speaks only TLS. */
export const kubehaHttpCheckOnTls: Rule = {
  code: 'kubeha-http-check-on-tls',
  check(ctx) {
    return kubehaViews(ctx).flatMap((v) => v.config.backends.flatMap((b, i) => {
      const hc = b.healthCheck;
      const tlsPort = b.servers.map((s) => hc.port ?? portOf(s.address)).find((p) => APISERVER_PORTS.has(p ?? 0));
      if (hc.type !== 'http' || tlsPort === undefined) return [];
      return v.report(this.code, 'error', [['backends', i, 'healthCheck', 'type']], `backend ${b.name} checks port ${tlsPort} with plain HTTP (healthCheck.type: http)`,
        'an apiserver port speaks only TLS, so every check fails ("client sent an HTTP request to an HTTPS server") and kubeha marks every apiserver down',
        `healthCheck.type: https (path ${hc.path}); add caFile to verify the certificate`);
    }));
  },
};
