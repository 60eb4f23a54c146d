import type { Rule } from '../lint-model.js';
import { TCP_CHECK_MISSES_READINESS } from './haproxy-tcp-only-check.js';
import { apiserverBackends, kubehaViews } from './kubeha-view.js';

/** Apiservers checked by a TCP connect or a TLS handshake only (`type: tcp`, kubeha's default, or `tls`). */
export const kubehaTcpOnlyCheck: Rule = {
  code: 'kubeha-tcp-only-check',
  check(ctx) {
    return kubehaViews(ctx).flatMap((v) => apiserverBackends(v.config).flatMap(({ backend: b, index: i }) => {
      const type = b.healthCheck.type;
      if (type !== 'tcp' && type !== 'tls') return [];
      return v.report(this.code, 'warning', [['backends', i, 'healthCheck', 'type']],
        `backend ${b.name} checks its apiservers with ${type === 'tcp' ? 'TCP connects' : 'TLS handshakes'} only (healthCheck.type: ${type}${type === 'tcp' ? ', the default' : ''})`,
        type === 'tcp' ? TCP_CHECK_MISSES_READINESS : TCP_CHECK_MISSES_READINESS.replace('accepts TCP', 'completes TLS handshakes'),
        'healthCheck: { type: https, path: /readyz }');
    }));
  },
};
