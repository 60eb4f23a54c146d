// The survey every apply starts with, and `kubeha apply --dry-run`'s report of it: for every host
// of the inventory, connect (host keys verified), lock it for a run, gather its facts and check
// them, and work out what apply would change — files by content hash with diffs, units and why,
// workers' kubeconfigs moved to the VIP, a kubeha release to install — without changing anything.
// The report is pure; the survey only connects and gathers.
import { readFile, appendFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { tcpProbe } from '../health/tcp-probe.js';
import { INSTALL_PATHS, type Bundle } from '../plan/render-bundle.js';
import type { Host, HostSsh, Inventory, Plan } from '../plan/inventory.js';
import { desiredFiles, fileHash, planHost, type DesiredFile, type HostPlan } from './change-plan.js';
import { gatherFacts, readFiles, type HostFacts } from './facts.js';
import { hostProblems, vipConflict } from './host-checks.js';
import { interruptedRun, parseJournal, type InterruptedRun } from './journal.js';
import { lockHost, unlockHost } from './push.js';
import { rewriteKubeconfigServer } from './kubeconfig-server.js';
import { connect, type SshSession, type SshTarget } from './ssh-transport.js';

/** The kubeconfigs a worker's kubelet and kube-proxy use (where render puts them). */
const WORKER_KUBECONFIGS = [INSTALL_PATHS['kubelet.kubeconfig']!, INSTALL_PATHS['kube-proxy.kubeconfig']!];

/** A worker kubeconfig's part of the plan. */
export interface KubeconfigMove {
  path: string;
  /** `move`: its clusters point at masters and move to the VIP; `keep`: already there; `absent`: no file (not joined yet). */
  kind: 'move' | 'keep' | 'absent' | 'refused';
  detail: string;
  /** For a move: the rewritten text, and the file's mode now (kept). */
  content?: string;
  mode?: number;
}

/** The kubeha release apply would install on an LB host: what the host runs now and what the package holds. */
export interface KubehaUpgrade {
  from: string;
  to: string;
}

/** One host's outcome. `session`: the connection, still open, when the survey was for a run (it holds the host's lock). */
export type HostReport =
  | { host: Host; roles: Role[]; ok: true; facts: HostFacts; plan: HostPlan; want: DesiredFile[]; kubeconfigs: KubeconfigMove[]; resumed?: InterruptedRun; upgrade?: KubehaUpgrade; session?: SshSession }
  | { host: Host; roles: Role[]; ok: false; error: string };

/** What a host is in the inventory. */
export type Role = 'master' | 'lb' | 'worker';

/** Resolves a host's SSH settings: its own `ssh:` key by key over the inventory's, over OpenSSH's defaults. */
export function sshTargetFor(inv: Inventory, host: Host & { ssh?: HostSsh }, knownHosts: string, acceptNewHostKeys: boolean): SshTarget {
  const s = { ...inv.ssh, ...host.ssh };
  return {
    name: host.name,
    host: host.ip,
    port: s.port ?? 22,
    user: s.user ?? 'root',
    ...(s.identityFile ? { identityFile: expandHome(s.identityFile) } : {}),
    knownHosts,
    ...(host.ssh?.hostKey ? { hostKey: host.ssh.hostKey } : {}),
    acceptNewHostKeys,
    sudo: s.sudo ?? false,
    ...(s.jumpHost ? { jumpHost: s.jumpHost } : {}),
  };
}

/** The known_hosts file apply reads (and appends accepted keys to). */
export function knownHostsPath(inv: Inventory): string {
  return expandHome(inv.ssh.knownHostsFile ?? '~/.ssh/known_hosts');
}

/** `~/x` → `$HOME/x`, as ssh reads its paths. */
const expandHome = (p: string) => p.replace(/^~(?=\/|$)/, homedir());

/** Every host once, with its roles (a master that is also an LB host is one host). */
export function hostsOf(plan: Plan): { host: Host; roles: Role[] }[] {
  const roles = new Map<string, { host: Host; roles: Role[] }>();
  const add = (h: Host, role: Role) => {
    const e = roles.get(h.name) ?? { host: h, roles: [] };
    e.roles.push(role);
    roles.set(h.name, e);
  };
  for (const m of plan.inv.masters) add(m, 'master');
  for (const h of plan.lbHosts) add(h, 'lb');
  for (const w of plan.inv.workers) add(w, 'worker');
  return [...roles.values()];
}

/** What moving a worker's kubeconfig to the VIP would do (`text` undefined: no such file). */
export function planKubeconfigMove(path: string, text: string | undefined, plan: Plan, mode = 0o600): KubeconfigMove {
  if (text === undefined) return { path, kind: 'absent', detail: 'no such file: the node has not joined yet' };
  const masters = plan.inv.masters.map((m) => `https://${m.ip}:${plan.inv.apiserverPort}`);
  const r = rewriteKubeconfigServer(text, plan.endpoint, masters);
  if (!r.ok) return { path, kind: 'refused', detail: r.error };
  if (r.changed.length === 0) return { path, kind: 'keep', detail: text.includes(plan.endpoint) ? `already on ${plan.endpoint}` : 'its clusters point at no master of this inventory: left alone' };
  return { path, kind: 'move', detail: r.changed.map((c) => `cluster ${c.cluster}: ${c.from} → ${c.to}`).join('; '), content: r.text, mode };
}

/** The units a worker's kubeconfigs feed, restarted after a move. */
export const WORKER_UNITS = ['kubelet', 'kube-proxy'];

/**
 * Connects to one host and works out its report; never throws. With `runId` the host's lock is
 * taken before anything is read and the session stays open for the run.
 */
async function reportHost(plan: Plan, bundle: Bundle, host: Host, roles: Role[], target: SshTarget, accepted: string[], o: SurveyOptions): Promise<HostReport> {
  const runId = o.runId;
  let s: SshSession | undefined;
  try {
    s = await connect(target);
    if (s.acceptedKeyLine) accepted.push(s.acceptedKeyLine);
    if (runId) await lockHost(s, runId);
    const want: DesiredFile[] = [...desiredFiles(bundle, host.name, plan.inv.keepalivedScriptDir), ...(o.extraFiles?.get(host.name) ?? [])].sort((a, b) => a.path.localeCompare(b.path));
    const workerFiles = roles.includes('worker') ? WORKER_KUBECONFIGS : [];
    const units = [...new Set([...want.flatMap((f) => (f.unit ? [f.unit.name] : [])), ...(roles.includes('master') ? ['etcd'] : []), ...(workerFiles.length ? WORKER_UNITS : [])])];
    const facts = await gatherFacts(s, want.map((f) => f.path), units);
    const problems = hostProblems(plan, host, roles, facts);
    if (problems.length > 0) throw new Error(`${problems.join('; ')} [KUBEHA_ERR_APPLY_HOST]`);
    const resumed = interruptedRun(parseJournal(facts.journal));
    // apply issues a PKI only for a cluster it installs: another cluster's CA is never replaced
    const ca = o.extraFiles?.get(host.name)?.find((f) => f.path === `${plan.inv.pkiDir}/ca.crt`);
    const theirs = ca && facts.files.get(ca.path);
    if (ca && theirs && theirs.sha256 !== fileHash(ca)) throw new Error(`${host.name}: ${ca.path} is another CA than the one apply issued for this cluster (in its PKI folder): apply never replaces a cluster's CA; leave binaries: unset to keep this cluster's own PKI`);
    // one more round trip: the old text of the files that differ (for the diff) and the worker's kubeconfigs
    const differing = want.filter((f) => typeof f.content === 'string' && !f.secret && facts.files.get(f.path) && facts.files.get(f.path)!.sha256 !== fileHash(f)).map((f) => f.path);
    const read = await readFiles(s, [...differing, ...workerFiles]);
    for (const p of differing) {
      const back = read.get(p);
      if (back) facts.files.get(p)!.content = back.text;
    }
    const kubeconfigs = workerFiles.map((path) => {
      const back = read.get(path);
      return planKubeconfigMove(path, back?.text, plan, back?.mode ?? 0o600);
    });
    // every host that runs kubeha: an LB host of the kubeha flavor, a node-local LB on a master or worker
    const runsKubeha = want.some((f) => f.path === INSTALL_PATHS['kubeha.yaml']);
    const upgrade = o.kubehaRelease && runsKubeha && facts.kubeha !== o.kubehaRelease ? { from: facts.kubeha || 'none', to: o.kubehaRelease } : undefined;
    const report: HostReport = { host, roles, ok: true, facts, plan: planHost(host.name, want, facts.files, facts.units, resumed), want, kubeconfigs, ...(resumed ? { resumed } : {}), ...(upgrade ? { upgrade } : {}) };
    if (runId) {
      report.session = s;
      s = undefined;
    }
    return report;
  } catch (err) {
    if (runId && s) await unlockHost(s, runId).catch(() => undefined);
    return { host, roles, ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    s?.close();
  }
}

/** Options of {@link survey}. */
export interface SurveyOptions {
  acceptNewHostKeys: boolean;
  only?: string[];
  concurrency?: number;
  /** For a run: each host locked, its session left open in its report. */
  runId?: string;
  /** The `kubeha version` line of the release package apply would install on the LB hosts (--kubeha-package). */
  kubehaRelease?: string;
  /** More files per host than the rendered ones: the programs and the PKI of a fresh install (`binaries:`). */
  extraFiles?: Map<string, DesiredFile[]>;
}

/**
 * Surveys every host (or `only` those), `concurrency` at a time; accepted new host keys are appended
 * to known_hosts. `runId`: for a run — each host locked, its session left open in its report.
 */
export async function survey(plan: Plan, bundle: Bundle, o: SurveyOptions): Promise<Survey> {
  const file = knownHostsPath(plan.inv);
  const knownHosts = await readFile(file, 'utf8').catch(() => '');
  const hosts = hostsOf(plan).filter((h) => !o.only || o.only.includes(h.host.name));
  const accepted: string[] = [];
  const reports: HostReport[] = new Array(hosts.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < hosts.length; i = next++) {
      const { host, roles } = hosts[i]!;
      reports[i] = await reportHost(plan, bundle, host, roles, sshTargetFor(plan.inv, host, knownHosts, o.acceptNewHostKeys), accepted, o);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 8, hosts.length) }, worker));
  if (accepted.length > 0) await appendFile(file, accepted.join(''));
  // Nobody of ours holds the VIP: then nothing may answer on it either.
  const holders = reports.flatMap((r) => (r.ok && r.roles.includes('lb') && [...r.facts.addresses.values()].flat().some((a) => a.startsWith(`${plan.vipAddress}/`)) ? [r.host.name] : []));
  const answers = holders.length > 0 ? [] : await Promise.all([plan.frontendPort, 22].map(async (port) => ({ port, ok: (await tcpProbe({ host: plan.vipAddress, port }, AbortSignal.timeout(1500))).ok })));
  const conflict = o.only ? undefined : vipConflict(plan, holders, answers);
  return { reports, ...(conflict ? { vipConflict: conflict } : {}) };
}

/** What the survey found: each host's report, and a VIP that another machine answers on. */
export interface Survey {
  reports: HostReport[];
  vipConflict?: string;
}

/** Whether a cut-off run moved this worker's kubeconfigs without finishing (restart and gate still owed). */
export function resumesWorker(r: HostReport & { ok: true }): boolean {
  return !!r.resumed && r.kubeconfigs.some((k) => k.kind === 'keep' && r.resumed!.paths.includes(k.path));
}

/** The report as text, and whether anything would change. */
export function formatDryRun({ reports, vipConflict }: Survey, maxDiffLines = 20): { text: string; pending: boolean; failed: boolean } {
  const out: string[] = [];
  let pending = false;
  let failed = !!vipConflict;
  if (vipConflict) out.push(`VIP: FAILED: ${vipConflict} [KUBEHA_ERR_APPLY_HOST]`);
  for (const r of reports) {
    if (!r.ok) {
      failed = true;
      out.push(`${r.host.name} (${r.host.ip}, ${r.roles.join('+')}): FAILED: ${r.error}`);
      continue;
    }
    const f = r.facts;
    out.push(`${r.host.name} (${r.host.ip}, ${r.roles.join('+')}): ${f.os.id} ${f.os.versionId} ${f.arch}, systemd ${f.systemd || 'none'}, clock ${f.clockSkewMs >= 0 ? '+' : ''}${f.clockSkewMs} ms`);
    for (const c of r.plan.files) {
      out.push(`  ${c.kind.padEnd(6)} ${c.path}${c.modeOnly ? ` (mode → ${c.mode.toString(8)})` : c.kind === 'create' ? ` (${c.mode.toString(8)})` : ''}`);
      const diff = c.kind === 'update' ? c.diff : [];
      for (const l of diff.slice(0, maxDiffLines)) out.push(`      ${l}`);
      if (diff.length > maxDiffLines) out.push(`      ... ${diff.length - maxDiffLines} more lines`);
    }
    for (const k of r.kubeconfigs) out.push(`  ${k.kind.padEnd(6)} ${k.path}: ${k.detail}`);
    for (const u of r.plan.units) out.push(`  unit   ${u.name}: ${u.daemonReload ? 'daemon-reload, ' : ''}${u.action} (${u.because.join('; ')})`);
    if (r.upgrade) out.push(`  upload kubeha: ${r.upgrade.from} → ${r.upgrade.to}`);
    if (resumesWorker(r)) out.push(`  resume ${WORKER_UNITS.join(', ')}: restart and Lease gate (run ${r.resumed!.run} moved the kubeconfigs and was cut off)`);
    if (r.plan.changed || r.kubeconfigs.some((k) => k.kind === 'move') || resumesWorker(r) || r.upgrade) pending = true;
    else out.push('  nothing to do');
    if (r.kubeconfigs.some((k) => k.kind === 'refused')) failed = true;
  }
  const bad = reports.filter((r) => !r.ok).length;
  out.push(`${reports.length} host(s): ${pending ? 'changes pending' : 'nothing to change'}${bad ? `, ${bad} failed` : ''}`);
  return { text: `${out.join('\n')}\n`, pending, failed };
}
