// etcd.env for a stacked member: ETCD_* variables in the form of a systemd EnvironmentFile.
import type { Host, Plan } from './inventory.js';

/** The environment of the etcd member on `master`. */
export function renderEtcdEnv(plan: Plan, master: Host): string {
  const e = plan.inv.etcd;
  const scheme = e.tls ? 'https' : 'http';
  const peer = (h: Host) => `${scheme}://${h.ip}:${e.peerPort}`;
  const client = `${scheme}://${master.ip}:${e.clientPort}`;
  const vars: [string, string][] = [
    ['ETCD_NAME', master.name],
    ['ETCD_DATA_DIR', e.dataDir],
    ['ETCD_INITIAL_CLUSTER', plan.inv.masters.map((m) => `${m.name}=${peer(m)}`).join(',')],
    ['ETCD_INITIAL_CLUSTER_STATE', 'new'],
    ['ETCD_INITIAL_CLUSTER_TOKEN', `${plan.inv.cluster}-etcd`],
    ['ETCD_INITIAL_ADVERTISE_PEER_URLS', peer(master)],
    ['ETCD_LISTEN_PEER_URLS', peer(master)],
    ['ETCD_LISTEN_CLIENT_URLS', `${client},${scheme}://127.0.0.1:${e.clientPort}`],
    ['ETCD_ADVERTISE_CLIENT_URLS', client],
  ];
  if (e.tls) {
    const pki = e.pkiDir.replace(/\/$/, '');
    vars.push(
      ['ETCD_CERT_FILE', `${pki}/server.crt`], ['ETCD_KEY_FILE', `${pki}/server.key`],
      ['ETCD_CLIENT_CERT_AUTH', 'true'], ['ETCD_TRUSTED_CA_FILE', `${pki}/ca.crt`],
      ['ETCD_PEER_CERT_FILE', `${pki}/peer.crt`], ['ETCD_PEER_KEY_FILE', `${pki}/peer.key`],
      ['ETCD_PEER_CLIENT_CERT_AUTH', 'true'], ['ETCD_PEER_TRUSTED_CA_FILE', `${pki}/ca.crt`],
    );
  }
  return `# etcd member ${master.name} of ${plan.inv.cluster}. Rendered by kubeha render.\n${vars.map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
}
