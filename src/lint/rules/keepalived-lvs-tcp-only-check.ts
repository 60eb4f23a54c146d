import { finding, kaVirtualServers, type Rule } from '../lint-model.js';
import { TCP_CHECK_MISSES_READINESS } from './haproxy-tcp-only-check.js';

/** Real servers of a TCP virtual_server checked by TCP_CHECK alone. */
export const keepalivedLvsTcpOnlyCheck: Rule = {
  code: 'keepalived-lvs-tcp-only-check',
  check(ctx) {
    return kaVirtualServers(ctx).filter((vs) => vs.protocol === 'TCP').flatMap((vs) => {
      const tcpOnly = vs.realServers.filter((rs) => rs.checkers.length > 0 && rs.checkers.every((c) => c.name === 'TCP_CHECK'));
      if (tcpOnly.length === 0) return [];
      return [finding(this.code, 'warning', vs.file, tcpOnly[0]!.checkers[0]!.line, `${vs.label} checks ${tcpOnly.map((rs) => rs.ip).join(', ')} with TCP_CHECK only`,
        TCP_CHECK_MISSES_READINESS,
        `SSL_GET { url { path /readyz status_code 200 } connect_port ${vs.realServers[0]?.port ?? 6443} } in each real_server instead`)];
    });
  },
};
