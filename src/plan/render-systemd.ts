// systemd units for kubeha and etcd, and a static-pod manifest for kubeha.
import { stringify } from 'yaml';
import { ADMIN_PORT, type Plan } from './inventory.js';

/** Removes a VIP after the service's process exited however it exited; "-": already gone is fine. */
const releaseVipLine = (v: { cidr: string; iface: string }) => `ExecStopPost=-/usr/sbin/ip addr del ${v.cidr} dev ${v.iface}`;

/**
 * kubeha.service: the daemon with the capabilities VRRP needs, draining on stop. Type=notify with
 * NotifyAccess=all: on SIGUSR2 (an upgrade, a restart without a gap) the successor the daemon forks
 * tells systemd it is the main process now, before the old one exits; StateDirectory keeps
 * maintenance across restarts. `check --host` refuses to start on a config whose interface or files
 * this host lacks; StartLimitIntervalSec=0 keeps retrying (an interface may come up late). On an LB host,
 * `vips` (CIDR and interface) are removed after the daemon exits however it exited: one that was
 * SIGKILLed or OOM-killed cannot remove them itself, and the kernel would go on answering ARP for
 * the VIP against the new master until the restart.
 */
export function renderKubehaUnit(vips: { cidr: string; iface: string }[] = [], nodeLocal = false, kernel?: { removeOnStop: boolean }): string {
  // lb.dataPlane: kernel: the host forwards the VIP's flows (set at every start, as kube-proxy sets
  // what it needs; kubeha itself only checks it); lb.kernelOnStop: remove: a stopped kubeha takes
  // its nftables table with it (else it forwards on)
  const forward = kernel ? 'ExecStartPre=/usr/sbin/sysctl -qw net.ipv4.ip_forward=1\n' : '';
  const cleanup = kernel?.removeOnStop ? 'ExecStopPost=-/usr/bin/kubeha run --cleanup --config /etc/kubeha/kubeha.yaml\n' : '';
  const release = vips.map((v) => `${releaseVipLine(v)}\n`).join('') + cleanup;
  // A node-local LB runs on every worker and carries little traffic: V8's young generation kept at
  // 1 MiB per semi-space (16 by default) halves the memory per held connection (docs/benchmarks.md).
  const lean = nodeLocal ? 'Environment=NODE_OPTIONS=--max-semi-space-size=1\n' : '';
  return `[Unit]
Description=kubeha: control-plane load balancer and VIP
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=all
${forward}ExecStartPre=/usr/bin/kubeha check --host --config /etc/kubeha/kubeha.yaml
ExecStart=/usr/bin/kubeha run --config /etc/kubeha/kubeha.yaml
# Reload the config: systemctl reload kubeha. Restart or upgrade without refusing a connection:
# systemctl kill --kill-whom=main --signal=SIGUSR2 kubeha
ExecReload=/bin/kill -HUP $MAINPID
# After a SIGUSR2 restart the main process is not systemd's child, and systemd would not wait
# for it after SIGTERM (it goes straight to SIGKILL): stop it here and wait for the drain.
ExecStop=/bin/sh -c 'kill -TERM \${MAINPID} && while kill -0 \${MAINPID} 2>/dev/null; do sleep 0.1; done'
${release}${lean}StateDirectory=kubeha
AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN CAP_NET_BIND_SERVICE
KillSignal=SIGTERM
TimeoutStopSec=40
Restart=always
RestartSec=1
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
`;
}

/**
 * A drop-in for Debian's keepalived.service (classic flavors): like kubeha.service, it removes the
 * VIP after keepalived exits however it exited, since a SIGKILLed keepalived leaves it behind.
 */
export function renderKeepalivedDropIn(vips: { cidr: string; iface: string }[]): string {
  return `# /etc/systemd/system/keepalived.service.d/kubeha-release-vip.conf. Rendered by kubeha render.
[Service]
${vips.map(releaseVipLine).join('\n')}
`;
}

/** etcd.service reading the rendered etcd.env. */
export function renderEtcdUnit(binary = '/usr/bin/etcd'): string {
  return `[Unit]
Description=etcd member (stacked) for the Kubernetes control plane
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
EnvironmentFile=/etc/etcd/etcd.env
ExecStart=${binary}
Restart=always
RestartSec=5
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
}

/** A static pod that runs kubeha on the host network with the capabilities VRRP needs. */
export function renderKubehaStaticPod(plan: Plan): string {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'kubeha', namespace: 'kube-system', labels: { component: 'kubeha' } },
    spec: {
      hostNetwork: true,
      priorityClassName: 'system-node-critical',
      containers: [{
        name: 'kubeha',
        image: plan.inv.kubehaImage,
        args: ['run', '--config', '/etc/kubeha/kubeha.yaml'],
        securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } },
        env: [{ name: 'STATE_DIRECTORY', value: '/var/lib/kubeha' }],
        volumeMounts: [{ name: 'config', mountPath: '/etc/kubeha', readOnly: true }, { name: 'state', mountPath: '/var/lib/kubeha' }],
        // /healthz needs no token (a token in the probe would turn a rotated token into a restart loop)
        livenessProbe: { httpGet: { host: '127.0.0.1', port: ADMIN_PORT, path: '/healthz' }, periodSeconds: 10 },
      }],
      volumes: [{ name: 'config', hostPath: { path: '/etc/kubeha', type: 'Directory' } }, { name: 'state', hostPath: { path: '/var/lib/kubeha', type: 'DirectoryOrCreate' } }],
    },
  };
  return `# Put in /etc/kubernetes/manifests/ with kubeha.yaml in /etc/kubeha/. Rendered by kubeha render.\n${stringify(pod)}`;
}
