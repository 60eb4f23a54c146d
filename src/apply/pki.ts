// The PKI of a cluster `kubeha apply` installs itself (`binaries:`), issued by kubeadm's own phases
// (`kubeadm init phase certs …` and `kubeconfig …`), never by a hand-written encoder: one CA, front-
// proxy CA, etcd CA and service-account key pair for the cluster, and per master its apiserver
// serving certificate (the VIP and every master in its SANs), its etcd server and peer certificates,
// the clients' certificates and the admin, controller-manager and scheduler kubeconfigs, in
// kubeadm's layout. Issued into a folder beside the inventory (mode 0700, a .gitignore of `*`):
// keys leave it only to their own host, mode 0600. kubeadm keeps what is already there and valid,
// so a second run issues nothing new and apply changes nothing.
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { apiserverCertSans, type Master, type Plan } from '../plan/inventory.js';
import { componentServer } from '../plan/render-control-plane.js';
import type { DesiredFile } from './change-plan.js';

/** Where the CA and the other cluster-wide keys are issued, before each master's copy. */
const SHARED = 'cluster';
/** The cluster-wide files each master gets a copy of (relative to the certificates folder). */
const SHARED_FILES = ['ca.crt', 'ca.key', 'front-proxy-ca.crt', 'front-proxy-ca.key', 'sa.key', 'sa.pub'];
const SHARED_ETCD_FILES = ['etcd/ca.crt', 'etcd/ca.key'];
/** The kubeconfigs kubeadm writes for the control plane, and the unit each feeds. */
const KUBECONFIGS: Record<string, string | undefined> = { 'admin.conf': undefined, 'controller-manager.conf': 'kube-controller-manager', 'scheduler.conf': 'kube-scheduler' };

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 120_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim().split('\n').slice(-3).join(' ')}`));
      else resolve();
    });
  });
}

/** kubeadm's config for issuing `master`'s certificates into `certDir` (etcd as `local` so kubeadm issues etcd's certificates too). */
function kubeadmConfig(plan: Plan, master: Master, certDir: string): string {
  const api = `kubeadm.k8s.io/${plan.kubeadmApi}`;
  return [
    { apiVersion: api, kind: 'InitConfiguration', localAPIEndpoint: { advertiseAddress: master.ip, bindPort: plan.inv.apiserverPort }, nodeRegistration: { name: master.name } },
    {
      apiVersion: api, kind: 'ClusterConfiguration',
      ...(plan.inv.kubernetesVersion ? { kubernetesVersion: plan.inv.kubernetesVersion } : {}),
      clusterName: plan.inv.cluster,
      controlPlaneEndpoint: `${plan.vipAddress}:${plan.frontendPort}`,
      certificatesDir: certDir,
      apiServer: { certSANs: apiserverCertSans(plan) },
      etcd: { local: { serverCertSANs: [master.ip], peerCertSANs: [master.ip] } },
    },
  ].map((d) => stringify(d)).join('---\n');
}

/**
 * A kubeadm-written kubeconfig with its cluster's server set to `server`: kubeadm writes the
 * control-plane endpoint into every one, and the controller-manager and scheduler may go through
 * the master's node-local kubeha instead (masterAccess: local).
 */
export function withServer(kubeconfig: string, server: string): string {
  return kubeconfig.replace(/^(\s*server:\s*).*$/m, `$1${server}`);
}

/** The unit a certificate file feeds (what restarts when it changes). */
const unitOf = (rel: string) => (rel.startsWith('etcd/') ? 'etcd' : 'kube-apiserver');

/**
 * Issues (or keeps) the PKI under `dir` with `kubeadm` and returns, per master, the files to
 * install: certificates and keys under the inventory's pkiDir, kubeconfigs under /etc/kubernetes.
 */
export async function issuePki(plan: Plan, o: { kubeadm: string; dir: string }): Promise<Map<string, DesiredFile[]>> {
  const etcdTls = plan.inv.etcd.tls;
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  await chmod(o.dir, 0o700);
  await writeFile(join(o.dir, '.gitignore'), '# keys: never commit this folder\n*\n');
  const kubeadm = (args: string[]) => run(o.kubeadm, args);
  const configFor = async (m: Master, certDir: string) => {
    const file = join(o.dir, `${m.name}.kubeadm.yaml`);
    await writeFile(file, kubeadmConfig(plan, m, certDir), { mode: 0o600 });
    return file;
  };
  // the cluster-wide CAs and keys, once
  const shared = join(o.dir, SHARED, 'pki');
  const first = plan.inv.masters[0]!;
  const sharedConfig = await configFor(first, shared);
  for (const phase of ['ca', 'front-proxy-ca', ...(etcdTls ? ['etcd-ca'] : [])]) await kubeadm(['init', 'phase', 'certs', phase, '--config', sharedConfig]);
  await kubeadm(['init', 'phase', 'certs', 'sa', '--cert-dir', shared]);

  const out = new Map<string, DesiredFile[]>();
  const pkiDir = plan.inv.pkiDir;
  for (const m of plan.inv.masters) {
    const certDir = join(o.dir, m.name, 'pki');
    const kubeconfigDir = join(o.dir, m.name, 'kubeconfig');
    await mkdir(join(certDir, 'etcd'), { recursive: true, mode: 0o700 });
    await mkdir(kubeconfigDir, { recursive: true, mode: 0o700 });
    for (const f of [...SHARED_FILES, ...(etcdTls ? SHARED_ETCD_FILES : [])]) await copyFile(join(shared, f), join(certDir, f));
    const config = await configFor(m, certDir);
    const phases = ['apiserver', 'apiserver-kubelet-client', 'front-proxy-client', ...(etcdTls ? ['apiserver-etcd-client', 'etcd-server', 'etcd-peer', 'etcd-healthcheck-client'] : [])];
    for (const phase of phases) await kubeadm(['init', 'phase', 'certs', phase, '--config', config]);
    for (const k of Object.keys(KUBECONFIGS)) await kubeadm(['init', 'phase', 'kubeconfig', k.replace(/\.conf$/, ''), '--config', config, '--kubeconfig-dir', kubeconfigDir]);
    const files: DesiredFile[] = [];
    for (const path of await walk(certDir)) {
      const rel = relative(certDir, path);
      const secret = rel.endsWith('.key');
      files.push({ path: `${pkiDir}/${rel}`, content: await readFile(path, 'utf8'), mode: secret ? 0o600 : 0o644, unit: { name: unitOf(rel), effect: 'restart' }, secret });
    }
    for (const [k, unit] of Object.entries(KUBECONFIGS)) {
      const written = await readFile(join(kubeconfigDir, k), 'utf8');
      const content = unit ? withServer(written, componentServer(plan)) : written;
      files.push({ path: `/etc/kubernetes/${k}`, content, mode: 0o600, ...(unit ? { unit: { name: unit, effect: 'restart' as const } } : {}), secret: true });
    }
    out.set(m.name, files);
  }
  return out;
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = await Promise.all(entries.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))));
  return files.flat().sort();
}
