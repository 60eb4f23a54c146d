// A running Kubernetes control plane on booted Debian hosts (test/support/hosts.ts), set up the way
// the install guides leave one before kubeha: on each master a real etcd member (Debian's) and a real
// kube-apiserver (scripts/kube-apiserver.sh) as systemd units, kubectl and admin.conf; on each worker
// a kubelet.conf and kube-proxy.conf pointing at the first master directly, and two stand-ins under
// the real unit names — a kubelet (no container runtime here) that renews its node Lease through
// kubelet.conf every 2 s, and a kube-proxy that reads the kubernetes Endpoints through
// kube-proxy.conf every second — each logging every request, so a test counts what the workers' own
// clients saw. Test plumbing: what `kubeha apply` then does to these hosts is the product.
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadInventoryFile, makePlan } from '../../src/plan/inventory.js';
import { renderBundle } from '../../src/plan/render-bundle.js';
import { bootHosts, type Host, type HostBed } from './hosts.js';
import { K8S_BIN, testCa } from './kube.js';
import type { TestContextLike } from './tcp.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const CLIENT_LOG = '/var/log/kubeha-test-clients.log';

/** The cluster on its hosts. */
export interface KubeHosts {
  bed: HostBed;
  masters: Host[];
  workers: Host[];
  /** The VIP (an unused address of the bed) and its prefix. */
  vip: string;
  vipCidr: string;
  /** The inventory file apply reads, and its known_hosts (a copy of the bed's). */
  inventory: string;
  knownHosts: string;
  /** Issues master `i` a new serving certificate (with or without the VIP), restarts its apiserver and waits for /readyz. */
  reissueServingCert(i: number, withVip: boolean): Promise<void>;
  /** Every request line the worker's stand-in clients logged so far (`MS ok kubelet`, `MS FAIL kube-proxy ...`). */
  clientLog(w: Host): Promise<string[]>;
  /** Runs a command on a host that must succeed; its stdout. */
  sh(h: Host, cmd: string, timeoutMs?: number): Promise<string>;
  /** Resolves once every etcd member is healthy, every apiserver ready, and each worker's last two client requests passed. */
  waitHealthy(): Promise<void>;
  /** A fresh bed (`fresh: true`): starts the apiservers (kubeadm init's part), then the workers' kubelet and kube-proxy. */
  startApiservers(): Promise<void>;
  startWorkers(): Promise<void>;
}

/** A here-document that writes `content` to `path` with `mode`. */
const writeCmd = (path: string, content: string, mode = '644') => `mkdir -p "$(dirname ${path})" && cat > ${path} <<'KUBEHA_EOF'\n${content}${content.endsWith('\n') ? '' : '\n'}KUBEHA_EOF\nchmod ${mode} ${path}`;

/** GET /readyz on `ip`:6443, not verifying the certificate; the status or 0. */
function readyz(ip: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: ip, port: 6443, path: '/readyz', rejectUnauthorized: false, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function waitFor(what: string, timeoutMs: number, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const KUBELET_STANDIN = `#!/bin/sh
# A kubelet stand-in: renews this node's Lease through kubelet.conf every 2 s, and logs each try.
node=$(hostname)
while :; do
  if [ ! -e /run/kubelet-standin-paused ]; then
    now=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
    if out=$(kubectl --kubeconfig=/etc/kubernetes/kubelet.conf --request-timeout=5s apply -f - 2>&1 <<EOF
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: { name: $node, namespace: kube-node-lease }
spec: { holderIdentity: $node, leaseDurationSeconds: 40, renewTime: "$now" }
EOF
); then echo "$(date +%s%3N) ok kubelet" >> ${CLIENT_LOG}; else echo "$(date +%s%3N) FAIL kubelet $(echo $out | tr '\\n' ' ')" >> ${CLIENT_LOG}; fi
  fi
  sleep 2
done
`;

const KUBE_PROXY_STANDIN = `#!/bin/sh
# A kube-proxy stand-in: reads the kubernetes Endpoints through kube-proxy.conf every second, and logs each try.
while :; do
  if out=$(kubectl --kubeconfig=/etc/kubernetes/kube-proxy.conf --request-timeout=5s get --raw /api/v1/namespaces/default/endpoints/kubernetes 2>&1); then echo "$(date +%s%3N) ok kube-proxy" >> ${CLIENT_LOG}; else echo "$(date +%s%3N) FAIL kube-proxy $(echo $out | tr '\\n' ' ')" >> ${CLIENT_LOG}; fi
  sleep 1
done
`;

const unit = (description: string, exec: string) => `[Unit]\nDescription=${description}\nAfter=network-online.target\n\n[Service]\nExecStart=${exec}\nRestart=always\nRestartSec=1\n\n[Install]\nWantedBy=multi-user.target\n`;

/**
 * Boots `masters` + `workers` hosts and brings up the cluster. `vipInCert(i)`: whether master i's
 * serving certificate names the VIP (default all). `etcdDrift`: etcd.env on the masters differs
 * from what apply renders by a comment line, so apply restarts the members (one at a time).
 * `kubehaFromCheckout: false`: no node and no kubeha on the hosts (a release package brings both).
 * `fresh: true`: nothing runs yet — no etcd (apply starts it), the apiservers' units written but not
 * started, the workers without kubelet: the test starts those when its story gets there.
 */
export async function bootKubeHosts(t: TestContextLike, o: { masters: number; workers: number; vipInCert?: (i: number) => boolean; etcdDrift?: boolean; virtualRouterId: number; kubehaFromCheckout?: boolean; fresh?: boolean }): Promise<KubeHosts> {
  // kubeha from this checkout, run by this machine's node (bound into the hosts), unless the test installs its own
  const checkout = o.kubehaFromCheckout ?? true;
  const bed = await bootHosts(t, o.masters + o.workers, { bindReadOnly: [...(checkout ? [process.execPath, REPO] : []), '/usr/bin/etcd', '/usr/bin/etcdctl', K8S_BIN] });
  const masters = bed.hosts.slice(0, o.masters);
  const workers = bed.hosts.slice(o.masters);
  const vip = bed.spareIp;
  const vipCidr = `${vip}/${bed.prefixLen}`;
  const sh = async (h: Host, cmd: string, timeoutMs?: number) => {
    const r = await h.exec(cmd, timeoutMs);
    if (r.code !== 0) throw new Error(`${h.name}: ${cmd.slice(0, 200)}: exit ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  // The PKI, made here with openssl; each master its own serving key, so the VIP's answers tell them apart.
  const { dir: pki, sign } = testCa(t, 'kubeha-test-ca');
  const f = (n: string) => join(pki, n);
  const serving = (i: number, withVip: boolean) => {
    const ips = ['127.0.0.1', masters[i]!.ip, ...(withVip ? [vip] : [])];
    return sign(`apiserver-${i}-${withVip}`, '/CN=kube-apiserver', `subjectAltName=${[...ips.map((x) => `IP:${x}`), 'DNS:kubernetes', 'DNS:kubernetes.default', 'IP:10.96.0.1'].join(',')}\nextendedKeyUsage=serverAuth`);
  };
  const admin = sign('admin', '/CN=kubeha-test-admin/O=system:masters', 'extendedKeyUsage=clientAuth');
  const ca = readFileSync(f('ca.crt'), 'utf8');
  const kubeconfig = (server: string) => stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'kubernetes', cluster: { server, 'certificate-authority': '/etc/kubernetes/pki/ca.crt' } }],
    users: [{ name: 'client', user: { 'client-certificate': '/etc/kubernetes/pki/client.crt', 'client-key': '/etc/kubernetes/pki/client.key' } }],
    contexts: [{ name: 'test', context: { cluster: 'kubernetes', user: 'client' } }],
  });
  const common = (h: Host) => sh(h, [
    `ln -sf ${K8S_BIN}/kubectl /usr/local/bin/kubectl${checkout ? ` && ln -sf ${REPO}/bin/kubeha.js /usr/bin/kubeha` : ''}`,
    writeCmd('/etc/kubernetes/pki/ca.crt', ca),
    writeCmd('/etc/kubernetes/pki/client.crt', admin.crt),
    writeCmd('/etc/kubernetes/pki/client.key', admin.key, '600'),
  ].join(' && '));

  // The inventory (etcd without TLS: the test's own PKI stays small), rendered once for etcd's files.
  const knownHosts = join(bed.dir, 'apply-known_hosts');
  copyFileSync(bed.knownHosts, knownHosts);
  const inventory = join(bed.dir, 'inventory.yaml');
  writeFileSync(inventory, stringify({
    cluster: 'bed', vip: vipCidr, interface: 'host0',
    masters: masters.map((m) => ({ name: m.name, ip: m.ip })), workers: workers.map((w) => ({ name: w.name, ip: w.ip })),
    etcd: { tls: false }, vrrp: { virtualRouterId: o.virtualRouterId },
    ssh: { identityFile: bed.keyFile, knownHostsFile: knownHosts },
  }));
  const loaded = await loadInventoryFile(inventory);
  if (!loaded.ok) throw new Error(`test inventory: ${JSON.stringify(loaded.problems)}`);
  const plan = makePlan(loaded.inventory);
  const bundle = renderBundle(plan);

  const endpoints = plan.etcdEndpoints.join(',');
  const etcdHealthy = () => waitFor('etcd healthy on every member', 60_000, async () => (await masters[0]!.exec(`ETCDCTL_API=3 etcdctl --endpoints=${endpoints} endpoint health`)).code === 0);
  await Promise.all([...masters, ...workers].map(common));
  if (!o.fresh) {
    // etcd on every master, started together, from the files apply would write (or nearly: etcdDrift).
    await Promise.all(masters.map(async (m) => {
      const env = bundle.get(`${m.name}/etcd.env`)!.content;
      await sh(m, [
        writeCmd('/etc/etcd/etcd.env', o.etcdDrift ? `${env}# installed by hand\n` : env),
        writeCmd('/etc/systemd/system/etcd.service', bundle.get(`${m.name}/etcd.service`)!.content),
        'systemctl daemon-reload && systemctl enable --quiet etcd && systemctl start --no-block etcd',
      ].join(' && '));
    }));
    await etcdHealthy();
  }

  // kube-apiserver on every master (written; started unless fresh); admin.conf for kubectl and apply's Lease gate.
  const apiserverUnit = (m: Host) => unit('kube-apiserver (test)', [
    `${K8S_BIN}/kube-apiserver --etcd-servers=${endpoints} --secure-port=6443 --bind-address=0.0.0.0 --advertise-address=${m.ip} --insecure-port=0`,
    '--tls-cert-file=/etc/kubernetes/pki/apiserver.crt --tls-private-key-file=/etc/kubernetes/pki/apiserver.key --client-ca-file=/etc/kubernetes/pki/ca.crt',
    '--service-account-key-file=/etc/kubernetes/pki/sa.pub --service-account-signing-key-file=/etc/kubernetes/pki/sa.key --service-account-issuer=https://kubernetes.default.svc',
    '--service-cluster-ip-range=10.96.0.0/12 --authorization-mode=RBAC --shutdown-delay-duration=2s --profiling=false --endpoint-reconciler-type=lease --v=0',
  ].join(' '));
  const installServing = (i: number, withVip: boolean) => {
    const c = serving(i, withVip);
    return [writeCmd('/etc/kubernetes/pki/apiserver.crt', c.crt), writeCmd('/etc/kubernetes/pki/apiserver.key', c.key, '600')].join(' && ');
  };
  await Promise.all(masters.map((m, i) => sh(m, [
    installServing(i, o.vipInCert?.(i) ?? true),
    writeCmd('/etc/kubernetes/pki/sa.key', readFileSync(f('sa.key'), 'utf8'), '600'),
    writeCmd('/etc/kubernetes/pki/sa.pub', readFileSync(f('sa.pub'), 'utf8')),
    writeCmd('/etc/kubernetes/admin.conf', kubeconfig('https://127.0.0.1:6443'), '600'),
    writeCmd('/etc/systemd/system/kube-apiserver.service', apiserverUnit(m)),
    'systemctl daemon-reload',
  ].join(' && '))));
  const startApiservers = async () => {
    await Promise.all(masters.map((m) => sh(m, 'systemctl enable --quiet --now kube-apiserver')));
    await waitFor('every apiserver ready', 120_000, async () => (await Promise.all(masters.map((m) => readyz(m.ip)))).every((s) => s === 200));
  };

  // Workers on the first master directly, as the guides' single-master install leaves them.
  const direct = `https://${masters[0]!.ip}:6443`;
  const startWorkers = async () => {
    await Promise.all(workers.map((w) => startStandins(w, kubeconfig(direct))));
  };
  if (!o.fresh) {
    await startApiservers();
    await startWorkers();
  }

  const waitHealthy = async () => {
    await etcdHealthy();
    await waitFor('every apiserver ready', 120_000, async () => (await Promise.all(masters.map((m) => readyz(m.ip)))).every((s) => s === 200));
    const before = await Promise.all(workers.map(clientLog));
    await waitFor('two good requests from each worker\'s clients', 60_000, async () => (await Promise.all(workers.map(clientLog))).every((l, i) => l.length >= before[i]!.length + 2 && l.slice(-2).every((x) => x.includes(' ok '))));
  };
  return {
    bed, masters, workers, vip, vipCidr, inventory, knownHosts, sh, clientLog, waitHealthy, startApiservers, startWorkers,
    async reissueServingCert(i, withVip) {
      await sh(masters[i]!, `${installServing(i, withVip)} && systemctl restart kube-apiserver`);
      await waitFor(`${masters[i]!.name}'s apiserver ready again`, 120_000, async () => (await readyz(masters[i]!.ip)) === 200);
    },
  };
}

/** Every request line the worker's stand-in clients logged so far (`MS ok kubelet`, `MS FAIL kube-proxy ...`). */
export const clientLog = async (w: Host) => (await w.exec(`cat ${CLIENT_LOG} 2>/dev/null`)).stdout.split('\n').filter(Boolean);

/**
 * Makes `w` a worker of the guides' kind: kubelet.conf and kube-proxy.conf (`kubeconfig`), and the
 * kubelet and kube-proxy stand-ins under those unit names; resolves once its Lease was renewed.
 * kubectl must be on the host's PATH.
 */
export async function startStandins(w: Host, kubeconfig: string): Promise<void> {
  const r = await w.exec([
    writeCmd('/etc/kubernetes/kubelet.conf', kubeconfig, '600'),
    writeCmd('/etc/kubernetes/kube-proxy.conf', kubeconfig, '600'),
    writeCmd('/usr/local/bin/kubelet-standin', KUBELET_STANDIN, '755'),
    writeCmd('/usr/local/bin/kube-proxy-standin', KUBE_PROXY_STANDIN, '755'),
    writeCmd('/etc/systemd/system/kubelet.service', unit('kubelet stand-in (test)', '/usr/local/bin/kubelet-standin')),
    writeCmd('/etc/systemd/system/kube-proxy.service', unit('kube-proxy stand-in (test)', '/usr/local/bin/kube-proxy-standin')),
    'systemctl daemon-reload && systemctl enable --quiet --now kubelet kube-proxy',
  ].join(' && '));
  if (r.code !== 0) throw new Error(`${w.name}: the stand-ins did not start: ${r.stderr}${r.stdout}`);
  await waitFor(`${w.name}'s Lease renewed`, 60_000, async () => (await clientLog(w)).some((x) => x.includes(' ok kubelet')));
}

/** A `binaries:` folder for apply in `dir`: Debian's etcd and etcdctl, and the built Kubernetes programs (links). */
export function binariesFolder(dir: string): string {
  const folder = join(dir, 'binaries');
  mkdirSync(folder);
  const programs: [string, string][] = [['etcd', '/usr/bin/etcd'], ['etcdctl', '/usr/bin/etcdctl'], ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kubeadm'].map((c): [string, string] => [c, join(K8S_BIN, c)])];
  for (const [name, from] of programs) symlinkSync(from, join(folder, name));
  return folder;
}
