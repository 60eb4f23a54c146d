// What `kubeha apply` would change on one host, decided from content hashes (never size and mtime,
// which k0sctl compares and which miss an edit of the same length in the same second): per file
// create, update or keep, with a diff; per unit what must happen and why. Pure: the rendered files
// and the host's facts in, the plan out.
import { createHash } from 'node:crypto';
import { INSTALL_PATHS, type Bundle } from '../plan/render-bundle.js';
import { checkScriptPathIn } from '../plan/render-keepalived.js';
import { lineDiff } from '../plan/line-diff.js';

/** What a change to a file asks of its unit; `none`: nothing, the file only goes out with the unit's phase (etcdctl with etcd). */
export type UnitEffect = 'reload' | 'restart' | 'daemon-reload' | 'none';

/** A file the host should have. */
export interface DesiredFile {
  path: string;
  /** Text, or the bytes of a program (`binaries:`). */
  content: string | Buffer;
  mode: number;
  /** The systemd unit the file belongs to, and what a change to it needs. */
  unit?: { name: string; effect: UnitEffect };
  /** A key or a kubeconfig with one: never shown in a diff, never read back. */
  secret?: boolean;
}

/** A rendered file: always text. */
export type TextFile = DesiredFile & { content: string };

/** The unit each installed file feeds, and what a change to it needs. */
const UNITS: Record<string, { name: string; effect: UnitEffect }> = {
  'kubeha.yaml': { name: 'kubeha', effect: 'reload' },
  'kubeha.service': { name: 'kubeha', effect: 'daemon-reload' },
  'haproxy.cfg': { name: 'haproxy', effect: 'reload' },
  'nginx.conf': { name: 'nginx', effect: 'reload' },
  'keepalived.conf': { name: 'keepalived', effect: 'reload' },
  'keepalived-release-vip.conf': { name: 'keepalived', effect: 'daemon-reload' },
  'etcd.env': { name: 'etcd', effect: 'restart' },
  'etcd.service': { name: 'etcd', effect: 'daemon-reload' },
  'kube-apiserver.service': { name: 'kube-apiserver', effect: 'daemon-reload' },
  'kube-controller-manager.service': { name: 'kube-controller-manager', effect: 'daemon-reload' },
  'kube-scheduler.service': { name: 'kube-scheduler', effect: 'daemon-reload' },
};

/** Rendered files that are input for kubeadm or the operator, kept on the host for reference. */
const REFERENCE_DIR = '/var/lib/kubeha/rendered';

/**
 * The files `host` should have, from its folder of the rendered bundle. `scriptDir`: where the
 * keepalived check script goes (the inventory's keepalivedScriptDir). Worker kubeconfigs are not
 * installed as files: apply moves the existing ones to the VIP (kubeconfig-server.ts).
 */
export function desiredFiles(bundle: Bundle, host: string, scriptDir: string): TextFile[] {
  const out: TextFile[] = [];
  for (const [rel, f] of bundle) {
    const [owner, name] = rel.split('/') as [string, string];
    if (owner !== host || name === 'kubelet.kubeconfig' || name === 'kube-proxy.kubeconfig') continue;
    const path = name === 'check_lb.sh' ? checkScriptPathIn(scriptDir) : INSTALL_PATHS[name] ?? `${REFERENCE_DIR}/${name}`;
    const unit = UNITS[name];
    out.push({ path, content: f.content, mode: f.mode, ...(unit ? { unit } : {}) });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** A file as the host has it: its content hash and mode; the content itself when it was fetched for a diff. */
export interface FileOnHost {
  sha256: string;
  mode: number;
  content?: string;
}

/** One file's part of the plan. */
export interface FileChange {
  path: string;
  kind: 'create' | 'update' | 'keep';
  /** Only the mode differs. */
  modeOnly: boolean;
  sha256: string;
  mode: number;
  /** Lines of a unified-style diff (`-`, `+`, context), when the old content is known. */
  diff: string[];
}

/** One unit's part of the plan. */
export interface UnitChange {
  name: string;
  /** start: not running yet; the rest as the files ask. */
  action: 'start' | 'reload' | 'restart';
  daemonReload: boolean;
  because: string[];
}

/** What apply would do on one host. */
export interface HostPlan {
  host: string;
  files: FileChange[];
  units: UnitChange[];
  /** Anything to do at all (a second apply of the same inventory: false). */
  changed: boolean;
}

/** The hash apply compares: SHA-256 of the bytes. */
export const sha256 = (content: string | Buffer) => createHash('sha256').update(content).digest('hex');

const hashes = new WeakMap<DesiredFile, string>();
/** A desired file's SHA-256, worked out once per file: the plan, the diff, the upload check and the journal all ask, and a program is 100 MB. */
export function fileHash(f: DesiredFile): string {
  let h = hashes.get(f);
  if (h === undefined) hashes.set(f, (h = sha256(f.content)));
  return h;
}

/**
 * The plan for one host. `units`: each unit's state as `systemctl is-active` says it (missing =
 * unknown). `resumed`: a run that was cut off after it replaced these files (journal.ts): their
 * hashes match, but their units still get what a change asks.
 */
export function planHost(host: string, desired: DesiredFile[], onHost: Map<string, FileOnHost | undefined>, units: Map<string, string>, resumed?: { run: string; paths: string[] }): HostPlan {
  const files: FileChange[] = [];
  const perUnit = new Map<string, { effects: Set<UnitEffect>; because: string[] }>();
  for (const d of desired) {
    const have = onHost.get(d.path);
    const hash = fileHash(d);
    const kind = !have ? 'create' : have.sha256 !== hash || have.mode !== d.mode ? 'update' : 'keep';
    const modeOnly = kind === 'update' && have?.sha256 === hash;
    let diff: string[] = [];
    if (kind === 'update' && !modeOnly) {
      diff = have?.content === undefined || typeof d.content !== 'string' || d.secret
        ? [`(${d.secret ? 'secret, not shown' : typeof d.content === 'string' ? 'content differs' : 'binary'}: sha256 ${have!.sha256.slice(0, 12)} → ${hash.slice(0, 12)})`]
        : lineDiff(have.content, d.content);
    }
    files.push({ path: d.path, kind, modeOnly, sha256: hash, mode: d.mode, diff });
    const unfinished = kind === 'keep' && resumed?.paths.includes(d.path);
    if ((kind === 'keep' && !unfinished) || !d.unit || d.unit.effect === 'none') continue;
    const u = perUnit.get(d.unit.name) ?? { effects: new Set<UnitEffect>(), because: [] };
    u.effects.add(d.unit.effect);
    u.because.push(`${d.path} ${unfinished ? `replaced by run ${resumed!.run}, which was cut off` : kind === 'create' ? 'created' : modeOnly ? 'mode changed' : 'changed'}`);
    perUnit.set(d.unit.name, u);
  }
  const unitChanges: UnitChange[] = [...perUnit].map(([name, u]) => {
    const daemonReload = u.effects.has('daemon-reload');
    const running = units.get(name) === 'active';
    // A changed unit file or environment needs a restart; a config the daemon re-reads, a reload.
    const action: UnitChange['action'] = !running ? 'start' : u.effects.has('restart') || daemonReload ? 'restart' : 'reload';
    return { name, action, daemonReload, because: u.because };
  });
  for (const [name, state] of units) {
    if (perUnit.has(name) || state === 'active') continue;
    if (desired.some((d) => d.unit?.name === name)) unitChanges.push({ name, action: 'start', daemonReload: false, because: [`${name} is ${state}`] });
  }
  unitChanges.sort((a, b) => a.name.localeCompare(b.name));
  return { host, files, units: unitChanges, changed: files.some((f) => f.kind !== 'keep') || unitChanges.length > 0 };
}
