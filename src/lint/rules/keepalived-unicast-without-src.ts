import { finding, kaInstances, type Rule } from '../lint-model.js';

/** unicast_peer without unicast_src_ip. */
export const keepalivedUnicastWithoutSrc: Rule = {
  code: 'keepalived-unicast-without-src',
  check(ctx) {
    return kaInstances(ctx).filter((i) => i.unicastPeers.length > 0 && !i.unicastSrcIp).map((i) =>
      finding(this.code, 'warning', i.file, i.line, `${i.name} has unicast_peer but no unicast_src_ip`,
        "adverts then leave from the interface's primary address, which can be the VIP itself after a move or an address the peers do not list, and peers drop them: two masters",
        "set unicast_src_ip to this node's own address (the one the peers list)"));
  },
};
