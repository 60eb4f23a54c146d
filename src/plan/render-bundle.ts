// The whole rendered stack: one folder per host with what that host needs, and an index README.
// Deterministic: the same inventory gives byte-identical files (no times, stable order).
import { interfaceOf, type Host, type LbHost, type Plan } from './inventory.js';
import { BINARY_DIR, renderApiserverFlags, renderComponentUnit, renderLeaderElectedFlags, type Component } from './render-control-plane.js';

/** The components apply runs as units with `binaries:`. */
export const COMPONENTS: readonly Component[] = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
import { etcdPeerUrl, renderEtcdEnv } from './render-etcd.js';
import { renderHaproxy } from './render-haproxy.js';
import { renderBirdRouter, renderFrrRouter } from './render-router.js';
import { checkScriptPath, renderCheckScript, renderKeepalived } from './render-keepalived.js';
import { renderKubeconfig } from './render-kubeconfig.js';
import { kubeadmJoinLine, renderKubeadmConfig } from './render-kubeadm.js';
import { bgpVips, lbDaemonCarriesMasterLocal, renderKubehaLb, renderKubehaLocal, renderKubehaMasterLocal } from './render-kubeha.js';
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

/**
 * Where each rendered file goes on its host (the kubeadm layout): the README's table and `kubeha
 * apply` read this one map. `check_lb.sh` goes to the inventory's keepalivedScriptDir (checkScriptPath);
 * the files not here are input for kubeadm or the operator.
 */
export const INSTALL_PATHS: Readonly<Record<string, string>> = {
  'kubeha.yaml': '/etc/kubeha/kubeha.yaml',
  'kubeha.service': '/etc/systemd/system/kubeha.service',
  'haproxy.cfg': '/etc/haproxy/haproxy.cfg',
  'nginx.conf': '/etc/nginx/nginx.conf',
  'keepalived.conf': '/etc/keepalived/keepalived.conf',
  'keepalived-release-vip.conf': '/etc/systemd/system/keepalived.service.d/kubeha-release-vip.conf',
  'etcd.env': '/etc/etcd/etcd.env',
  'etcd.service': '/etc/systemd/system/etcd.service',
  'kube-apiserver.service': '/etc/systemd/system/kube-apiserver.service',
  'kube-controller-manager.service': '/etc/systemd/system/kube-controller-manager.service',
  'kube-scheduler.service': '/etc/systemd/system/kube-scheduler.service',
  'kubelet.kubeconfig': '/etc/kubernetes/kubelet.conf',
  'kube-proxy.kubeconfig': '/etc/kubernetes/kube-proxy.conf',
};

/** Renders every file of the stack. */
export function renderBundle(plan: Plan): Bundle {
  /** The VIPs a crashed LB host leaves on its interface (ExecStopPost removes them): the IPv4 one, and with vip6 the IPv6 one. */
  const vipsOn = (h: LbHost) => [plan.inv.vip, ...(plan.inv.vip6 ? [plan.inv.vip6] : [])].map((cidr) => ({ cidr, iface: interfaceOf(plan, h) }));
  const files: [string, string, number?][] = [];
  const add = (host: Host, name: string, content: string, mode?: number) => files.push([`${host.name}/${name}`, content, mode]);
  const inv = plan.inv;
  for (const m of inv.masters) {
    if (inv.etcd.mode === 'stacked') {
      add(m, 'etcd.env', renderEtcdEnv(plan, m));
      add(m, 'etcd.service', renderEtcdUnit(inv.binaries ? `${BINARY_DIR}/etcd` : undefined));
    }
    if (m === plan.founders[0]) add(m, 'kubeadm-config.yaml', renderKubeadmConfig(plan, m));
    add(m, 'kube-apiserver.flags', renderApiserverFlags(plan, m));
    add(m, 'kube-controller-manager.flags', renderLeaderElectedFlags(plan, 'kube-controller-manager'));
    add(m, 'kube-scheduler.flags', renderLeaderElectedFlags(plan, 'kube-scheduler'));
    // apply installs and runs the components itself when it is given their binaries
    if (inv.binaries) for (const c of COMPONENTS) add(m, `${c}.service`, renderComponentUnit(plan, m, c));
    if (inv.masterAccess === 'local' && !lbDaemonCarriesMasterLocal(plan, m)) {
      add(m, 'kubeha.yaml', renderKubehaMasterLocal(plan, m));
      add(m, 'kubeha.service', renderKubehaUnit([], true));
    }
  }
  for (const h of plan.lbHosts) {
    if (inv.lb.flavor === 'kubeha') {
      add(h, 'kubeha.yaml', renderKubehaLb(plan, h));
      // the unit's ExecStopPost removes the VIP: from lo with BGP (the speaker put it there), else from the VRRP interface
      add(h, 'kubeha.service', renderKubehaUnit(inv.vipMode === 'bgp' ? bgpVips(plan).map((cidr) => ({ cidr, iface: 'lo' })) : vipsOn(h), false, inv.lb.dataPlane === 'kernel' ? { removeOnStop: inv.lb.kernelOnStop === 'remove' } : undefined));
      add(h, 'kubeha.static-pod.yaml', renderKubehaStaticPod(plan));
    } else {
      add(h, inv.lb.flavor === 'haproxy' ? 'haproxy.cfg' : 'nginx.conf', inv.lb.flavor === 'haproxy' ? renderHaproxy(plan) : renderNginx(plan));
      add(h, 'keepalived.conf', renderKeepalived(plan, h));
      add(h, 'keepalived-release-vip.conf', renderKeepalivedDropIn(vipsOn(h)));
      add(h, 'check_lb.sh', renderCheckScript(plan), 0o755);
    }
  }
  // vipMode: bgp — what each router needs, in BIRD's and FRR's words, in a folder per router
  for (const p of inv.bgp && inv.vipMode === 'bgp' ? inv.bgp.peers : []) {
    const router = { name: `router-${p.address}`, ip: p.address };
    add(router, 'bird.conf', renderBirdRouter(plan, p));
    add(router, 'frr.conf', renderFrrRouter(plan, p));
  }
  const pki = inv.pkiDir;
  for (const w of inv.workers) {
    const server = inv.workerAccess === 'local' ? `https://127.0.0.1:${inv.localPort}` : plan.endpoint;
    add(w, 'kubelet.kubeconfig', renderKubeconfig(plan, server, `system:node:${w.name}`, '/var/lib/kubelet/pki/kubelet-client-current.pem', '/var/lib/kubelet/pki/kubelet-client-current.pem'));
    add(w, 'kube-proxy.kubeconfig', renderKubeconfig(plan, server, 'system:kube-proxy', `${pki}/kube-proxy.crt`, `${pki}/kube-proxy.key`));
    if (inv.workerAccess === 'local') {
      add(w, 'kubeha.yaml', renderKubehaLocal(plan, w));
      add(w, 'kubeha.service', renderKubehaUnit([], true));
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
    inv.masters.some((m) => m.name === name) ? (plan.joiners.some((m) => m.name === name) ? 'master (joins the running cluster)' : 'master') : '',
    plan.lbHosts.some((h) => h.name === name) ? (inv.vipMode === 'bgp' ? `LB (announces the VIP over BGP${inv.bgp?.mode === 'primary' ? `, priority ${plan.priorities.get(name)}` : ''})` : `LB (VRRP priority ${plan.priorities.get(name)})`) : '',
    name.startsWith('router-') && inv.bgp?.peers.some((p) => `router-${p.address}` === name) ? 'router (BGP peer of the LB hosts)' : '',
    inv.workers.some((w) => w.name === name) ? 'worker' : '',
  ].filter(Boolean).join(', ');
  const where: Record<string, string> = {
    ...INSTALL_PATHS,
    'check_lb.sh': checkScriptPath(plan),
    'kubeha.static-pod.yaml': '/etc/kubernetes/manifests/kubeha.yaml (instead of the unit)',
    'kubeadm-config.yaml': '`kubeadm init --config` on this master (endpoint and certificate SANs on the VIP)',
    'kube-apiserver.flags': 'kube-apiserver flags (static pod command or kubeadm extraArgs)',
    'kube-controller-manager.flags': 'kube-controller-manager flags', 'kube-scheduler.flags': 'kube-scheduler flags',
    'bird.conf': "BIRD 2 on the router (`bird -p -c` checks it): merge into /etc/bird/bird.conf",
    'frr.conf': "FRR on the router: merge into /etc/frr/frr.conf (bgpd and, with BFD, bfdd enabled in /etc/frr/daemons)",
  };
  const overrides = plan.lbHosts.filter((h) => h.interface && h.interface !== inv.interface).map((h) => `${h.name}: ${h.interface}`);
  const warnings = plan.warnings.map((w) => `\n> **Warning:** ${w}\n`).join('');
  const rows = [...byHost].filter(([h]) => h !== 'README.md').map(([h, files]) => `| ${h} | ${role(h)} | ${files.map((f) => `\`${f}\` → ${where[f] ?? f}`).join('<br>')} |`);
  return `# ${inv.cluster}: the rendered HA control plane

Rendered by \`kubeha render\` from the inventory; render again rather than editing by hand
(\`kubeha render --diff\` shows what a change would do).

- Control-plane endpoint: **${plan.endpoint}** (kubeadm \`--control-plane-endpoint ${plan.vipAddress}:${plan.frontendPort}\`)${plan.frontendPort !== inv.apiPort ? `\n  — port ${plan.frontendPort}, not ${inv.apiPort}: the load balancer shares the masters, whose apiservers hold ${inv.apiserverPort}` : ''}
${inv.vipMode === 'bgp' && inv.bgp
    ? `- VIP ${inv.vip} announced over BGP (AS ${inv.bgp.localAsn}, ${inv.bgp.mode}) by every LB host to ${inv.bgp.peers.map((p) => `${p.address} (AS ${p.asn}${p.bfd ? ', BFD' : ''})`).join(', ')}, while an apiserver serves there`
    : `- VIP ${inv.vip} on ${inv.interface}${overrides.length ? ` (${overrides.join(', ')})` : ''}, VRRP v${inv.vrrp.version}, virtual router id ${plan.virtualRouterId}, adverts every ${inv.vrrp.advertInterval}, ${inv.vrrp.unicast ? 'unicast' : 'multicast'}`}
- Load balancer: ${inv.lb.flavor} on ${plan.lbHosts.map((h) => h.name).join(', ')}; etcd: ${inv.etcd.mode} (${plan.etcdEndpoints.join(', ')})
- Workers reach the apiservers through ${inv.workerAccess === 'local' ? `a node-local kubeha on 127.0.0.1:${inv.localPort}` : 'the VIP'}${inv.masterAccess === 'local' ? `
- The masters' controller-manager and scheduler reach them through a node-local kubeha on 127.0.0.1:${inv.masterLocalPort}${inv.binaries ? '' : `: after \`kubeadm init\` or \`join\`, on each master
  \`kubectl config set-cluster ${inv.cluster} --server=https://127.0.0.1:${inv.masterLocalPort} --kubeconfig /etc/kubernetes/controller-manager.conf\` (and scheduler.conf),
  as kubeadm writes the control-plane endpoint there`}` : ''}
${warnings}
| host | role | files → where they go |
|---|---|---|
${rows.join('\n')}
${renderCertificates(plan)}${renderEtcdNotes(plan)}${renderJoin(plan)}`;
}

/** Who issues which certificate: kubeadm the cluster's, nobody here etcd's. */
function renderCertificates(plan: Plan): string {
  const inv = plan.inv;
  const pki = inv.pkiDir;
  const first = plan.founders[0]!;
  const etcd = !inv.etcd.tls
    ? '- etcd runs without TLS (`etcd.tls: false`): no etcd certificates.\n'
    : `- etcd's certificates are issued by neither kubeadm nor kubeha render. kubeadm-config.yaml gives kubeadm etcd as
  \`external\` (${inv.etcd.mode === 'stacked' ? "kubeha's etcd.service runs it on the masters" : 'it runs elsewhere'}), and kubeadm then skips them ("External etcd
  mode: Skipping etcd/ca certificate authority generation", and the same for etcd/server, etcd/peer,
  etcd/healthcheck-client and apiserver-etcd-client). Before ${inv.etcd.mode === 'stacked' ? 'etcd and ' : ''}the apiservers start, provide: on every master \`${pki}/etcd/ca.crt\`
  and \`${pki}/apiserver-etcd-client.crt\`/\`.key\` (a client certificate of that CA)${inv.etcd.mode === 'stacked' ? `; on every etcd member
  \`${inv.etcd.pkiDir}/\` \`ca.crt\`, \`server.crt\`/\`.key\` and \`peer.crt\`/\`.key\`, the server and peer certificates naming that
  member's address (and 127.0.0.1 for the server one)` : ''}. \`kubeadm join --control-plane --certificate-key\` copies
  the CA and the apiserver-etcd-client pair named in the config to a joining master${inv.etcd.mode === 'stacked' ? '; its member certificates are yours to issue' : ''}.
`;
  return `
## Certificates

- \`kubeadm init\` on ${first.name} issues the cluster CA and the apiserver's serving certificate, which names
  the VIP (${plan.vipAddress}, the control-plane endpoint) and every master in \`certSANs\`; \`kubeadm join
  --control-plane\` issues each joining master's own, naming its address and the VIP. Without kubeadm, issue
  them yourself with the same names (\`kubeha doctor\` checks the VIP is there).
${etcd}`;
}

/** What the initial-cluster variables mean once the cluster runs. */
function renderEtcdNotes(plan: Plan): string {
  if (plan.inv.etcd.mode !== 'stacked') return '';
  return `
## etcd

Each master's \`etcd.env\` names the members it starts with. etcd reads \`ETCD_INITIAL_CLUSTER\`,
\`ETCD_INITIAL_CLUSTER_STATE\` and \`ETCD_INITIAL_CLUSTER_TOKEN\` only when it starts on an empty data dir
(\`${plan.inv.etcd.dataDir}\`), and ignores them on every restart after that: a running member never needs a
new copy of its file. The masters without \`join\` bootstrap together (state \`new\`); a master with
\`join: true\` is added to the running cluster (state \`existing\`), and the files of the others stay the same.
`;
}

/** The ordered steps that add the masters with `join: true` to the running cluster. */
function renderJoin(plan: Plan): string {
  if (plan.joiners.length === 0) return '';
  const inv = plan.inv;
  const first = plan.founders[0]!;
  const pki = inv.pkiDir;
  const stacked = inv.etcd.mode === 'stacked';
  const env = `ETCDCTL_API=3 ETCDCTL_ENDPOINTS=${inv.etcd.tls ? 'https' : 'http'}://${first.ip}:${inv.etcd.clientPort}${inv.etcd.tls ? ` ETCDCTL_CACERT=${pki}/etcd/ca.crt ETCDCTL_CERT=${pki}/apiserver-etcd-client.crt ETCDCTL_KEY=${pki}/apiserver-etcd-client.key` : ''}`;
  const etcdctl = 'etcdctl';
  const steps = plan.joiners.map((j, k) => {
    const members = plan.founders.length + k + 1;
    const quorum = Math.floor(members / 2) + 1;
    const tolerates = members - 1 - quorum;
    const etcdSteps = stacked ? [
      `On ${first.name}: \`${etcdctl} member add ${j.name} --peer-urls=${etcdPeerUrl(plan, j)}\`. The cluster now counts ${members} members and needs ${quorum}; until ${j.name}'s etcd runs it ${tolerates > 0 ? `tolerates ${tolerates} more failure${tolerates > 1 ? 's' : ''}` : 'tolerates no failure: go on at once'}.`,
      `On ${j.name}: its etcd certificates (see Certificates), \`etcd.env\` → /etc/etcd/etcd.env, \`etcd.service\` → /etc/systemd/system/etcd.service, \`systemctl daemon-reload && systemctl enable --now etcd\`. Wait for \`${etcdctl} endpoint health --cluster\` to report every member healthy${k + 1 < plan.joiners.length ? ` before adding ${plan.joiners[k + 1]!.name}: its etcd.env lists ${j.name}, so it must be a member by then` : ''}.`,
    ] : [];
    const kubeadmStep = `On ${j.name}: \`${kubeadmJoinLine(plan, j.ip)}\` (the token and hash: \`kubeadm token create --print-join-command\` on ${first.name}; the certificate key: \`kubeadm init phase upload-certs --upload-certs\` there, valid 2 h).`;
    return `${k + 1}. **${j.name}** (${j.ip})\n${[...etcdSteps, kubeadmStep].map((s, i) => `   ${i + 1}. ${s}`).join('\n')}`;
  });
  const lbFile = inv.lb.flavor === 'kubeha' ? 'kubeha.yaml (`kubeha reload`)' : inv.lb.flavor === 'haproxy' ? 'haproxy.cfg (`systemctl reload haproxy`)' : 'nginx.conf (`systemctl reload nginx`)';
  return `
## Joining the running cluster: ${plan.joiners.map((j) => j.name).join(', ')}

The masters with \`join: true\` are added one at a time, in this order (skip what is done already;
\`kubeha render --diff\` shows which files changed).${stacked ? ` etcd adds members one by one: a member is
started and healthy before the next \`member add\`, or the cluster loses quorum. The \`etcdctl\` commands
run on ${first.name} with:

    export ${env}` : ''}

${steps.join('\n')}

Then:
- Every LB host: the new ${lbFile}, which adds ${plan.joiners.map((j) => j.name).join(', ')} as servers; they get traffic once their \`/readyz\` passes.
- \`kubeadm-config.yaml\` on ${first.name} now names the new masters in \`certSANs\`. It is not run again: \`kubeadm join\`
  issued each new master's certificate (its address, the VIP and the certSANs stored in the \`kubeadm-config\`
  ConfigMap). For the older masters' certificates to name the new masters too, update certSANs in that ConfigMap
  and reissue their apiserver certificates (docs/operations.md, "Adding a master").
${stacked ? `- \`kube-apiserver.flags\` on every master now lists the new members in \`--etcd-servers\` (an apiserver needs one
  reachable member; the endpoints kubeadm stored in the ConfigMap's \`etcd.external\` are the old ones until you update them).
` : ''}
To replace a master, remove its etcd member first (\`member remove\`), then add the new one: docs/operations.md, "Replacing a master".
`;
}
