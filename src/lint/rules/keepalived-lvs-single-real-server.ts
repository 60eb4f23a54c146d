import { finding, kaVirtualServers, type Rule } from '../lint-model.js';

/** A keepalived virtual_server with fewer than two real servers. */
export const keepalivedLvsSingleRealServer: Rule = {
  code: 'keepalived-lvs-single-real-server',
  check(ctx) {
    return kaVirtualServers(ctx).filter((vs) => vs.realServers.length < 2).map((vs) => {
      const only = vs.realServers[0]?.directive.args.join(' ');
      return finding(this.code, 'error', vs.file, vs.line, only ? `${vs.label} has a single real_server (${only})` : `${vs.label} has no real_server`,
        'when that master is down or restarting the VIP still answers but forwards to nothing: however many keepalived nodes float the VIP, the API behind it has no redundancy',
        'add a real_server (with a check) for every master, or let kubeha balance over all of them');
    });
  },
};
