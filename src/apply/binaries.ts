// The programs of a fresh install (`binaries:` in the inventory): the ones found in that local folder
// are installed on every master under /usr/local/bin where missing or different (by SHA-256, as
// every file apply pushes), each tied to the unit that runs it.
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Plan } from '../plan/inventory.js';
import { BINARY_DIR } from '../plan/render-control-plane.js';
import type { DesiredFile, UnitEffect } from './change-plan.js';
import { issuePki } from './pki.js';

/**
 * The programs apply installs from `binaries:`, the unit each one runs in, and what a new version
 * asks of it (etcdctl restarts nothing but goes out with etcd: the etcd gates use it).
 */
export const BINARIES: Record<string, { name: string; effect: UnitEffect } | undefined> = {
  etcd: { name: 'etcd', effect: 'restart' },
  etcdctl: { name: 'etcd', effect: 'none' },
  'kube-apiserver': { name: 'kube-apiserver', effect: 'restart' },
  'kube-controller-manager': { name: 'kube-controller-manager', effect: 'restart' },
  'kube-scheduler': { name: 'kube-scheduler', effect: 'restart' },
  kubectl: undefined,
};

/** The programs of `dir` to install on the masters; the ones missing from it are left out (and named). */
export async function readBinaries(dir: string): Promise<{ files: DesiredFile[]; missing: string[] }> {
  const files: DesiredFile[] = [];
  const missing: string[] = [];
  for (const [name, unit] of Object.entries(BINARIES)) {
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) {
      missing.push(name);
      continue;
    }
    files.push({ path: `${BINARY_DIR}/${name}`, content: await readFile(path), mode: 0o755, ...(unit ? { unit } : {}) });
  }
  return { files, missing };
}

/**
 * The extra files of a fresh install per master: the programs of `binaries:` (relative to the
 * inventory's folder) and the PKI kubeadm issues into `.kubeha-pki/CLUSTER/` beside the inventory.
 * kubeadm comes from the same folder, else from PATH (it is not installed on the hosts).
 */
export async function freshInstallFiles(plan: Plan, inventoryFile: string, log: (line: string) => void): Promise<Map<string, DesiredFile[]>> {
  const base = dirname(resolve(inventoryFile));
  const dir = resolve(base, plan.inv.binaries);
  const { files, missing } = await readBinaries(dir);
  if (missing.length > 0) log(`binaries: ${missing.join(', ')} not in ${dir}: not installed (the hosts must have them)`);
  const kubeadm = (await stat(join(dir, 'kubeadm')).catch(() => undefined))?.isFile() ? join(dir, 'kubeadm') : 'kubeadm';
  const pkiDir = join(base, '.kubeha-pki', plan.inv.cluster);
  const pki = await issuePki(plan, { kubeadm, dir: pkiDir }).catch((err: unknown) => {
    throw new Error(`issuing the PKI with ${kubeadm} into ${pkiDir}: ${err instanceof Error ? err.message : String(err)}`);
  });
  return new Map(plan.inv.masters.map((m) => [m.name, [...files, ...(pki.get(m.name) ?? [])]]));
}
