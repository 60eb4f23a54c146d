// `kubeha apply` without --dry-run: survey every host (connected, host key verified, locked, facts),
// turn the reports into the rollout's hosts, run the ordered, gated rollout, unlock, and print one
// table of what happened to each host.
import { randomBytes } from 'node:crypto';
import type { Plan } from '../plan/inventory.js';
import type { Bundle } from '../plan/render-bundle.js';
import { resumesWorker, survey, type HostReport, type SurveyOptions } from './dry-run.js';
import { endRun, journal, unlockHost } from './push.js';
import { sshDriver } from './rollout-driver.js';
import { rollout, type LeftOut, type RolloutHost, type RolloutResult } from './rollout.js';
import type { SshSession } from './ssh-transport.js';

/** Options of a run. */
export interface RunOptions {
  /** What the survey is told (the run adds its id, to lock the hosts). */
  survey: Omit<SurveyOptions, 'runId'>;
  maxUnavailable: number;
  gateTimeoutMs: number;
  pollMs?: number;
  log: (line: string) => void;
  /** The release package for the LB hosts, and its `kubeha version` line (the survey's kubehaRelease). */
  kubehaPackage?: { file: string; release: string };
}

/** A run's id: when it started (UTC, sortable) and a random tail; it names the backups folder. */
const newRunId = (now = new Date()) => `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;

/** What the rollout does to a surveyed host. */
function rolloutHostOf(r: HostReport & { ok: true }): RolloutHost {
  const byPath = new Map(r.want.map((f) => [f.path, f]));
  return {
    name: r.host.name,
    roles: r.roles,
    files: r.plan.files.filter((f) => f.kind !== 'keep').map((f) => byPath.get(f.path)!),
    units: r.plan.units,
    etcdActive: r.facts.units.get('etcd') === 'active',
    ...('join' in r.host && r.host.join && r.facts.units.get('etcd') !== 'active' ? { joinsEtcd: true } : {}),
    kubeconfigs: r.kubeconfigs.flatMap((k) => (k.kind === 'move' && k.content !== undefined ? [{ path: k.path, content: k.content, mode: k.mode ?? 0o600 }] : [])),
    resumeWorker: resumesWorker(r),
    ...(r.upgrade ? { installKubeha: true } : {}),
  };
}

/** The run's table: one line per host. */
export function formatRun(runId: string, r: RolloutResult): string {
  const lines = [`run ${runId}: ${r.ok ? 'applied' : r.stopped ? `stopped: ${r.stopped}` : 'finished with failures'}`];
  const w = Math.max(4, ...r.outcomes.map((o) => o.host.length));
  for (const o of r.outcomes) lines.push(`  ${o.host.padEnd(w)}  ${o.roles.join('+').padEnd(16)} ${o.status.padEnd(11)} ${o.detail}`);
  for (const n of r.notes) lines.push(`next: ${n}`);
  return `${lines.join('\n')}\n`;
}

/** Runs apply over the plan's hosts; never throws after the survey (a failure is in the result). */
export async function applyRun(plan: Plan, bundle: Bundle, o: RunOptions): Promise<{ runId: string; result: RolloutResult }> {
  const runId = newRunId();
  o.log(`run ${runId}: surveying ${o.survey.only ? o.survey.only.join(', ') : 'every host'}`);
  const { reports, vipConflict } = await survey(plan, bundle, { ...o.survey, runId });
  const sessions = new Map<string, SshSession>();
  for (const r of reports) if (r.ok && r.session) sessions.set(r.host.name, r.session);
  try {
    const hosts: RolloutHost[] = [];
    const unreachable: LeftOut[] = [];
    for (const r of reports) {
      if (!r.ok) unreachable.push({ name: r.host.name, roles: r.roles, error: r.error });
      else if (r.kubeconfigs.some((k) => k.kind === 'refused')) unreachable.push({ name: r.host.name, roles: r.roles, refused: true, error: r.kubeconfigs.filter((k) => k.kind === 'refused').map((k) => `${k.path} not changed: ${k.detail}`).join('; ') });
      else hosts.push(rolloutHostOf(r));
    }
    if (vipConflict) return { runId, result: { ok: false, outcomes: reports.map((r) => ({ host: r.host.name, roles: r.roles, status: r.ok ? 'not reached' as const : 'unreachable' as const, detail: r.ok ? 'untouched' : r.error })), stopped: `${vipConflict}: nothing was changed [KUBEHA_ERR_APPLY_HOST]`, notes: [] } };
    // A run that takes over a cut-off run's files journals them as its own (journal.ts).
    for (const r of reports) {
      if (!r.ok || !r.resumed || !r.session) continue;
      o.log(`${r.host.name}: run ${r.resumed.run} was cut off after replacing ${r.resumed.paths.join(', ')}: finishing its work`);
      for (const f of r.resumed.files) await journal(r.session, { run: runId, step: 'file', path: f.path, result: f.result, ...(f.backup ? { backup: f.backup } : {}), resumedFrom: r.resumed.run });
    }
    const driver = sshDriver(plan, sessions, { runId, gateTimeoutMs: o.gateTimeoutMs, pollMs: o.pollMs ?? 1000, log: o.log, ...(o.kubehaPackage ? { kubehaPackage: o.kubehaPackage } : {}) });
    return { runId, result: await rollout(hosts, unreachable, driver, { maxUnavailable: o.maxUnavailable }) };
  } finally {
    await Promise.all([...sessions.values()].map(async (s) => {
      await unlockHost(s, runId).catch(() => undefined);
      s.close();
    }));
    endRun(runId);
  }
}
