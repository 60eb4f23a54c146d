// The whole rendered stack: one folder per host with what that host needs, and an index README.
// Deterministic: the same inventory gives byte-identical files (no times, stable order).
import type { Host, Plan } from './inventory.js';
import { renderApiserverFlags, renderLeaderElectedFlags } from './render-control-plane.js';
import { renderEtcdEnv } from './render-etcd.js';
import { renderHaproxy } from './render-haproxy.js';
import { checkScriptPath, renderCheckScript, renderKeepalived } from './render-keepalived.js';
import { renderKubeconfig } from './render-kubeconfig.js';
import { renderKubeadmConfig } from './render-kubeadm.js';
import { renderKubehaLb, renderKubehaLocal } from './render-kubeha.js';
import { renderNginx } from './render-nginx.js';
import { renderEtcdUnit, renderKeepalivedDropIn, renderKubehaStaticPod, renderKubehaUnit } from './render-systemd.js';

/** One output file. */
export interface RenderedFile {
  content: string;
  /** File mode: 0o755 for scripts. */
  mode: number;
}

/** Relative path (`host/file`) → file, sorted by path. */
export type Bundle = Map<string, RenderedFile>;

/** Renders every file of the stack. */
export function renderBundle(plan: Plan): Bundle {
  const files: [string, string, number?][] = [];
  const add = (host: Host, name: string, content: string, mode?: number) => files.push([`${host.name}/${name}`, content, mode]);
  const inv = plan.inv;
  for (const m of inv.masters) {
    if (inv.etcd.mode === 'stacked') {
      add(m, 'etcd.env', renderEtcdEnv(plan, m));
      add(m, 'etcd.service', renderEtcdUnit());
    }
    if (m === inv.masters[0]) add(m, 'kubeadm-config.yaml', renderKubeadmConfig(plan, m));
    add(m, 'kube-apiserver.flags', renderApiserverFlags(plan, m));
    add(m, 'kube-controller-manager.flags', renderLeaderElectedFlags(plan, 'kube-controller-manager'));
    add(m, 'kube-scheduler.flags', renderLeaderElectedFlags(plan, 'kube-scheduler'));
  }
  for (const h of plan.lbHosts) {
    if (inv.lb.flavor === 'kubeha') {
      add(h, 'kubeha.yaml', renderKubehaLb(plan, h));
      add(h, 'kubeha.service', renderKubehaUnit([{ cidr: inv.vip, iface: inv.interface }]));
      add(h, 'kubeha.static-pod.yaml', renderKubehaStaticPod(plan));
    } else {
      add(h, inv.lb.flavor === 'haproxy' ? 'haproxy.cfg' : 'nginx.conf', inv.lb.flavor === 'haproxy' ? renderHaproxy(plan) : renderNginx(plan));
      add(h, 'keepalived.conf', renderKeepalived(plan, h));
      add(h, 'keepalived-release-vip.conf', renderKeepalivedDropIn({ cidr: inv.vip, iface: inv.interface }));
      add(h, 'check_lb.sh', renderCheckScript(plan), 0o755);
    }
  }
  const pki = inv.pkiDir.replace(/\/$/, '');
  for (const w of inv.workers) {
    const server = inv.workerAccess === 'local' ? `https://127.0.0.1:${inv.localPort}` : plan.endpoint;
    add(w, 'kubelet.kubeconfig', renderKubeconfig(plan, server, `system:node:${w.name}`, '/var/lib/kubelet/pki/kubelet-client-current.pem', '/var/lib/kubelet/pki/kubelet-client-current.pem'));
    add(w, 'kube-proxy.kubeconfig', renderKubeconfig(plan, server, 'system:kube-proxy', `${pki}/kube-proxy.crt`, `${pki}/kube-proxy.key`));
    if (inv.workerAccess === 'local') {
      add(w, 'kubeha.yaml', renderKubehaLocal(plan, w));
      add(w, 'kubeha.service', renderKubehaUnit());
    }
  }
  files.push(['README.md', renderIndex(plan, files.map(([p]) => p))]);
  files.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return new Map(files.map(([p, content, mode]) => [p, { content, mode: mode ?? 0o644 }]));
}

/** The index: what was rendered for whom, and where each file goes. */
function renderIndex(plan: Plan, paths: string[]): string {
  const inv = plan.inv;
  const byHost = new Map<string, string[]>();
  for (const p of paths) {
    const [host = '', file = ''] = p.split('/');
    byHost.set(host, [...(byHost.get(host) ?? []), file]);
  }
  const role = (name: string) => [
    inv.masters.some((m) => m.name === name) ? 'master' : '',
    plan.lbHosts.some((h) => h.name === name) ? `LB (VRRP priority ${plan.priorities.get(name)})` : '',
    inv.workers.some((w) => w.name === name) ? 'worker' : '',
  ].filter(Boolean).join(', ');
  const where: Record<string, string> = {
    'kubeha.yaml': '/etc/kubeha/kubeha.yaml', 'kubeha.service': '/etc/systemd/system/kubeha.service',
    'kubeha.static-pod.yaml': '/etc/kubernetes/manifests/kubeha.yaml (instead of the unit)',
    'haproxy.cfg': '/etc/haproxy/haproxy.cfg', 'nginx.conf': '/etc/nginx/nginx.conf', 'keepalived.conf': '/etc/keepalived/keepalived.conf',
    'keepalived-release-vip.conf': '/etc/systemd/system/keepalived.service.d/kubeha-release-vip.conf',
    'check_lb.sh': checkScriptPath(plan), 'etcd.env': '/etc/etcd/etcd.env', 'etcd.service': '/etc/systemd/system/etcd.service',
    'kubeadm-config.yaml': '`kubeadm init --config` on this master (endpoint and certificate SANs on the VIP)',
    'kube-apiserver.flags': 'kube-apiserver flags (static pod command or kubeadm extraArgs)',
    'kube-controller-manager.flags': 'kube-controller-manager flags', 'kube-scheduler.flags': 'kube-scheduler flags',
    'kubelet.kubeconfig': '/etc/kubernetes/kubelet.conf', 'kube-proxy.kubeconfig': '/var/lib/kube-proxy/kubeconfig.conf',
  };
  const rows = [...byHost].filter(([h]) => h !== 'README.md').map(([h, files]) => `| ${h} | ${role(h)} | ${files.map((f) => `\`${f}\` → ${where[f] ?? f}`).join('<br>')} |`);
  return `# ${inv.cluster}: the rendered HA control plane

Rendered by \`kubeha render\` from the inventory; render again rather than editing by hand
(\`kubeha render --diff\` shows what a change would do).

- Control-plane endpoint: **${plan.endpoint}** (kubeadm \`--control-plane-endpoint ${plan.vipAddress}:${plan.frontendPort}\`)${plan.frontendPort !== inv.apiPort ? `\n  — port ${plan.frontendPort}, not ${inv.apiPort}: the load balancer shares the masters, whose apiservers hold ${inv.apiserverPort}` : ''}
- VIP ${inv.vip} on ${inv.interface}, VRRP v${inv.vrrp.version}, virtual router id ${plan.virtualRouterId}, adverts every ${inv.vrrp.advertInterval}, ${inv.vrrp.unicast ? 'unicast' : 'multicast'}
- Load balancer: ${inv.lb.flavor} on ${plan.lbHosts.map((h) => h.name).join(', ')}; etcd: ${inv.etcd.mode} (${plan.etcdEndpoints.join(', ')})
- Workers reach the apiservers through ${inv.workerAccess === 'local' ? `a node-local kubeha on 127.0.0.1:${inv.localPort}` : 'the VIP'}

| host | role | files → where they go |
|---|---|---|
${rows.join('\n')}
`;
}
