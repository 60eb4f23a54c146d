// Flags of the control-plane components on a master, one per line (for a systemd unit, a static
// pod's command, or kubeadm's extraArgs).
import type { Host, Plan } from './inventory.js';

/** kube-apiserver flags the HA layout sets alike on every master (kubeadm's apiServer.extraArgs). */
export const SHARED_APISERVER_FLAGS: readonly [string, string][] = [
  ['endpoint-reconciler-type', 'lease'],
  // /readyz turns 500 at SIGTERM and the listener stays open this long: the LB's checks
  // (interval 1s, fall 2) take the server out well before it closes.
  ['shutdown-delay-duration', '5s'],
];

/** kube-apiserver flags that the HA layout decides. */
export function renderApiserverFlags(plan: Plan, master: Host): string {
  const inv = plan.inv;
  const pki = inv.pkiDir.replace(/\/$/, '');
  const flags = [
    `--advertise-address=${master.ip}`,
    `--secure-port=${inv.apiserverPort}`,
    `--etcd-servers=${plan.etcdEndpoints.join(',')}`,
    ...(inv.etcd.tls ? [`--etcd-cafile=${pki}/etcd/ca.crt`, `--etcd-certfile=${pki}/apiserver-etcd-client.crt`, `--etcd-keyfile=${pki}/apiserver-etcd-client.key`] : []),
    ...SHARED_APISERVER_FLAGS.map(([k, v]) => `--${k}=${v}`),
  ];
  return `# kube-apiserver on ${master.name}; the control-plane endpoint is ${plan.endpoint}.\n${flags.join('\n')}\n`;
}

/** kube-controller-manager and kube-scheduler run on every master, one active through leader election. */
export function renderLeaderElectedFlags(plan: Plan, component: 'kube-controller-manager' | 'kube-scheduler'): string {
  const conf = component === 'kube-controller-manager' ? 'controller-manager.conf' : 'scheduler.conf';
  return `# ${component}: one active copy in ${plan.inv.cluster}, chosen by leader election.\n--leader-elect=true\n--kubeconfig=/etc/kubernetes/${conf}\n--bind-address=127.0.0.1\n`;
}
