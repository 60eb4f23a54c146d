// etcd.env for a stacked member: ETCD_* variables in the form of a systemd EnvironmentFile.
//
// The founders (masters without `join`) bootstrap together: state `new`, ETCD_INITIAL_CLUSTER the
// founders. A master with `join: true` is added to the running cluster one at a time, in inventory
// order: state `existing`, ETCD_INITIAL_CLUSTER the founders, the joiners before it and itself —
// what `etcdctl member add` prints for it (etcd's runtime reconfiguration guide). etcd reads the
// --initial-* settings only when it starts on an empty data dir, so the members that already run
// never need their file again; a founder's file does not change when masters join.
import type { Host, Master, Plan } from './inventory.js';

/** The peer URL of `h`'s etcd member. */
export function etcdPeerUrl(plan: Plan, h: Host): string {
  return `${plan.inv.etcd.tls ? 'https' : 'http'}://${h.ip}:${plan.inv.etcd.peerPort}`;
}

/** The client URL every member also listens on at loopback (etcdctl on a master asks it). */
export function etcdLocalClientUrl(plan: Plan): string {
  return `${plan.inv.etcd.tls ? 'https' : 'http'}://127.0.0.1:${plan.inv.etcd.clientPort}`;
}

/** The members in `master`'s ETCD_INITIAL_CLUSTER: the founders, then the joiners up to itself. */
function initialMembers(plan: Plan, master: Master): Master[] {
  if (!master.join) return plan.founders;
  return [...plan.founders, ...plan.joiners.slice(0, plan.joiners.indexOf(master) + 1)];
}

/** The environment of the etcd member on `master`. */
export function renderEtcdEnv(plan: Plan, master: Master): string {
  const e = plan.inv.etcd;
  const scheme = e.tls ? 'https' : 'http';
  const client = `${scheme}://${master.ip}:${e.clientPort}`;
  const vars: [string, string][] = [
    ['ETCD_NAME', master.name],
    ['ETCD_DATA_DIR', e.dataDir],
    ['ETCD_INITIAL_CLUSTER', initialMembers(plan, master).map((m) => `${m.name}=${etcdPeerUrl(plan, m)}`).join(',')],
    ['ETCD_INITIAL_CLUSTER_STATE', master.join ? 'existing' : 'new'],
    ['ETCD_INITIAL_CLUSTER_TOKEN', `${plan.inv.cluster}-etcd`],
    ['ETCD_INITIAL_ADVERTISE_PEER_URLS', etcdPeerUrl(plan, master)],
    ['ETCD_LISTEN_PEER_URLS', etcdPeerUrl(plan, master)],
    ['ETCD_LISTEN_CLIENT_URLS', `${client},${etcdLocalClientUrl(plan)}`],
    ['ETCD_ADVERTISE_CLIENT_URLS', client],
  ];
  if (e.tls) {
    const pki = e.pkiDir;
    vars.push(
      ['ETCD_CERT_FILE', `${pki}/server.crt`], ['ETCD_KEY_FILE', `${pki}/server.key`],
      ['ETCD_CLIENT_CERT_AUTH', 'true'], ['ETCD_TRUSTED_CA_FILE', `${pki}/ca.crt`],
      ['ETCD_PEER_CERT_FILE', `${pki}/peer.crt`], ['ETCD_PEER_KEY_FILE', `${pki}/peer.key`],
      ['ETCD_PEER_CLIENT_CERT_AUTH', 'true'], ['ETCD_PEER_TRUSTED_CA_FILE', `${pki}/ca.crt`],
    );
  }
  const header = master.join
    ? `# etcd member ${master.name} of ${plan.inv.cluster}, joining the running cluster. Rendered by kubeha render.\n` +
      `# First, on a running member: etcdctl member add ${master.name} --peer-urls=${etcdPeerUrl(plan, master)}\n` +
      '# (the README lists the steps in order; add the members one at a time).\n'
    : `# etcd member ${master.name} of ${plan.inv.cluster}. Rendered by kubeha render.\n`;
  return `${header}${vars.map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
}
