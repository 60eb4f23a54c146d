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
  const pki = inv.pkiDir;
  const flags = [
    `--advertise-address=${master.ip}`,
    `--secure-port=${inv.apiserverPort}`,
    `--etcd-servers=${plan.etcdEndpoints.join(',')}`,
    ...(inv.etcd.tls ? [`--etcd-cafile=${pki}/etcd/ca.crt`, `--etcd-certfile=${pki}/apiserver-etcd-client.crt`, `--etcd-keyfile=${pki}/apiserver-etcd-client.key`] : []),
    ...SHARED_APISERVER_FLAGS.map(([k, v]) => `--${k}=${v}`),
  ];
  return `# kube-apiserver on ${master.name}; the control-plane endpoint is ${plan.endpoint}.\n${flags.join('\n')}\n`;
}

/**
 * The apiserver URL in the controller-manager's and scheduler's kubeconfigs: the control-plane
 * endpoint, or with masterAccess: local the master's node-local kubeha (every apiserver behind it,
 * so losing the master's own apiserver or the VIP does not stop them).
 */
export function componentServer(plan: Plan): string {
  return plan.inv.masterAccess === 'local' ? `https://127.0.0.1:${plan.inv.masterLocalPort}` : plan.endpoint;
}

/** kube-controller-manager and kube-scheduler run on every master, one active through leader election. */
export function renderLeaderElectedFlags(plan: Plan, component: 'kube-controller-manager' | 'kube-scheduler'): string {
  const conf = component === 'kube-controller-manager' ? 'controller-manager.conf' : 'scheduler.conf';
  return `# ${component}: one active copy in ${plan.inv.cluster}, chosen by leader election.\n${plan.inv.masterAccess === 'local' ? `# server: ${componentServer(plan)} in /etc/kubernetes/${conf}: this master's node-local kubeha.\n` : ''}--leader-elect=true\n--kubeconfig=/etc/kubernetes/${conf}\n--bind-address=127.0.0.1\n`;
}

/** Where `kubeha apply` installs the binaries of `binaries:` on a master. */
export const BINARY_DIR = '/usr/local/bin';

/** The control-plane components apply runs as systemd units when it installs them (`binaries:`). */
export type Component = 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';

/**
 * Flags that only some versions know: the insecure ports kubeadm turns off were removed in v1.24
 * (an unknown flag stops the component), so they are set only for a known version before that.
 */
function beforeV124(plan: Plan): boolean {
  const m = /^v1\.(\d+)\./.exec(plan.inv.kubernetesVersion ?? '');
  return !!m && Number(m[1]) < 24;
}

/** Every flag of a component as kubeadm sets it (its files in kubeadm's layout), with the HA layout's own. */
export function componentFlags(plan: Plan, master: Host, component: Component): string[] {
  const inv = plan.inv;
  const pki = inv.pkiDir;
  const old = beforeV124(plan);
  if (component === 'kube-apiserver') {
    return [
      ...renderApiserverFlags(plan, master).split('\n').filter((l) => l.startsWith('--')),
      '--allow-privileged=true', '--authorization-mode=Node,RBAC', `--client-ca-file=${pki}/ca.crt`,
      '--enable-admission-plugins=NodeRestriction', '--enable-bootstrap-token-auth=true',
      `--kubelet-client-certificate=${pki}/apiserver-kubelet-client.crt`, `--kubelet-client-key=${pki}/apiserver-kubelet-client.key`,
      '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
      `--proxy-client-cert-file=${pki}/front-proxy-client.crt`, `--proxy-client-key-file=${pki}/front-proxy-client.key`,
      '--requestheader-allowed-names=front-proxy-client', `--requestheader-client-ca-file=${pki}/front-proxy-ca.crt`,
      '--requestheader-extra-headers-prefix=X-Remote-Extra-', '--requestheader-group-headers=X-Remote-Group', '--requestheader-username-headers=X-Remote-User',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local', `--service-account-key-file=${pki}/sa.pub`,
      `--service-account-signing-key-file=${pki}/sa.key`, '--service-cluster-ip-range=10.96.0.0/12',
      `--tls-cert-file=${pki}/apiserver.crt`, `--tls-private-key-file=${pki}/apiserver.key`,
      ...(old ? ['--insecure-port=0'] : []),
    ];
  }
  const conf = component === 'kube-controller-manager' ? '/etc/kubernetes/controller-manager.conf' : '/etc/kubernetes/scheduler.conf';
  const common = [`--authentication-kubeconfig=${conf}`, `--authorization-kubeconfig=${conf}`, `--kubeconfig=${conf}`, '--bind-address=127.0.0.1', '--leader-elect=true', ...(old ? ['--port=0'] : [])];
  if (component === 'kube-scheduler') return common;
  return [
    ...common, `--client-ca-file=${pki}/ca.crt`, `--cluster-name=${inv.cluster}`,
    `--cluster-signing-cert-file=${pki}/ca.crt`, `--cluster-signing-key-file=${pki}/ca.key`, '--controllers=*,bootstrapsigner,tokencleaner',
    `--requestheader-client-ca-file=${pki}/front-proxy-ca.crt`, `--root-ca-file=${pki}/ca.crt`,
    `--service-account-private-key-file=${pki}/sa.key`, '--use-service-account-credentials=true',
  ];
}

/** A control-plane component as a systemd unit (fresh installs by `kubeha apply` with `binaries:`). */
export function renderComponentUnit(plan: Plan, master: Host, component: Component): string {
  const what = { 'kube-apiserver': 'the Kubernetes API server', 'kube-controller-manager': 'the Kubernetes controller manager (one active by leader election)', 'kube-scheduler': 'the Kubernetes scheduler (one active by leader election)' }[component];
  const after = component === 'kube-apiserver' ? 'etcd.service network-online.target' : 'kube-apiserver.service network-online.target';
  return `# ${component} on ${master.name}. Rendered by kubeha render (binaries: set); installed by kubeha apply.
[Unit]
Description=${what}
After=${after}
Wants=network-online.target

[Service]
ExecStart=${BINARY_DIR}/${component} \\
  ${componentFlags(plan, master, component).join(' \\\n  ')}
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
}
