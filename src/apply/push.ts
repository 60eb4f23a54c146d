// Pushing files to a host safely (issue 13 "Push safely"): each file goes to a temporary name
// beside its target, is checked on the host where a checker exists (kubeha check, haproxy -c,
// nginx -t, keepalived -t), and only then renamed over the target (atomic within a directory); the
// version it replaces is kept under /var/lib/kubeha/backups/RUN-ID/, every step is a JSON line in
// /var/lib/kubeha/apply.log, and a lock keeps two applies from interleaving on one host.
import { hostname } from 'node:os';
import { shellQuote } from './shell-quote.js';
import type { SshSession } from './ssh-transport.js';
import { fileHash, type DesiredFile } from './change-plan.js';
import { JOURNAL, parseJournal, STATE_DIR, unfinishedFiles } from './journal.js';

const LOCK_DIR = `${STATE_DIR}/apply.lock`;
/** The runs of this process that hold locks now: a lock naming this process but none of these is left over. */
const activeRuns = new Set<string>();

/** The checker for a file, as a command with `{}` for the temporary file; undefined: none. */
export function checkerFor(path: string): { program: string; command: string } | undefined {
  if (path.endsWith('/kubeha.yaml')) return { program: 'kubeha', command: 'kubeha check --host --config {}' };
  if (path === '/etc/haproxy/haproxy.cfg') return { program: 'haproxy', command: 'haproxy -c -q -f {}' };
  if (path === '/etc/nginx/nginx.conf') return { program: 'nginx', command: 'nginx -t -q -c {}' };
  if (path === '/etc/keepalived/keepalived.conf') return { program: 'keepalived', command: 'keepalived -t -f {}' };
  return undefined;
}

/** A refused push: the file did not pass its checker on the host (the target is untouched). */
export class CheckFailed extends Error {
  constructor(
    readonly path: string,
    readonly output: string,
  ) {
    super(`${path}: the host's own checker refused the new file (the old one stays): ${output.trim()} [KUBEHA_ERR_APPLY_CHECK]`);
    this.name = 'CheckFailed';
  }
}

/**
 * Whether a lock's holder (`RUN HOSTNAME PID`, as lockHost writes it) is certainly gone: it ran on
 * this machine and its process is dead, or it is this process and not one of its running runs.
 * A holder on another machine is never judged (its process cannot be seen from here).
 */
export function lockIsStale(holder: string, me: { hostname: string; pid: number; alive: (pid: number) => boolean; runs: Set<string> }): boolean {
  const [run, host, pidText] = holder.trim().split(' ');
  const pid = Number(pidText);
  if (!run || host !== me.hostname || !Number.isInteger(pid) || pid <= 0) return false;
  return pid === me.pid ? !me.runs.has(run) : !me.alive(pid);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Takes the host's apply lock (a directory: mkdir is atomic) for `runId`; refuses with who holds it.
 * A lock left by a run of this machine that is dead (killed, its SSH cut) is broken and journaled.
 */
export async function lockHost(s: SshSession, runId: string): Promise<void> {
  const take = `mkdir ${LOCK_DIR} 2>/dev/null && echo ${shellQuote(`${runId} ${hostname()} ${process.pid}`)} > ${LOCK_DIR}/run`;
  const r = await s.exec(`mkdir -p ${STATE_DIR} && ${take} || { head -n 1 ${LOCK_DIR}/run 2>/dev/null || echo; stat -c %y ${LOCK_DIR} 2>/dev/null; exit 1; }`);
  if (r.code === 0) {
    activeRuns.add(runId);
    return;
  }
  const [holder = '', since = ''] = r.stdout.split('\n');
  if (lockIsStale(holder, { hostname: hostname(), pid: process.pid, alive, runs: activeRuns })) {
    const again = await s.exec(`[ "$(cat ${LOCK_DIR}/run 2>/dev/null)" = ${shellQuote(holder.trim())} ] && rm -rf ${LOCK_DIR} && ${take}`);
    if (again.code === 0) {
      activeRuns.add(runId);
      await journal(s, { run: runId, step: 'lock-broken', holder: holder.trim() });
      return;
    }
  }
  throw new Error(`${s.target.name}: another apply holds this host (${LOCK_DIR}: run ${holder.trim() || '?'} since ${since.trim() || '?'}); wait for it, or, if that run is dead on another machine, remove the folder [KUBEHA_ERR_APPLY_LOCKED]`);
}

/** Releases the lock if this run holds it. */
export async function unlockHost(s: SshSession, runId: string): Promise<void> {
  await s.exec(`[ "$(cut -d' ' -f1 ${LOCK_DIR}/run 2>/dev/null)" = ${shellQuote(runId)} ] && rm -rf ${LOCK_DIR}; true`);
}

/** The run no longer holds locks in this process (after every host was unlocked, or could not be). */
export function endRun(runId: string): void {
  activeRuns.delete(runId);
}

/** Appends one step to the host's journal. */
export async function journal(s: SshSession, entry: Record<string, unknown>): Promise<void> {
  await s.exec(`mkdir -p ${STATE_DIR} && cat >> ${JOURNAL}`, { stdin: `${JSON.stringify({ at: new Date().toISOString(), host: s.target.name, ...entry })}\n` });
}

/**
 * Installs `file` on the host: temp file, check, backup of the old one, rename. Throws CheckFailed
 * (nothing changed) when the host's checker refuses it.
 */
export async function pushFile(s: SshSession, runId: string, file: DesiredFile): Promise<'created' | 'updated'> {
  const dir = file.path.replace(/\/[^/]+$/, '') || '/';
  const tmp = `${file.path}.kubeha-new.${runId}`;
  const q = shellQuote;
  // the mode is set before a byte is written: a key is never readable by others, not even for a moment
  const up = await s.exec(`mkdir -p ${q(dir)} && (umask 077 && : > ${q(tmp)}) && chmod ${file.mode.toString(8)} ${q(tmp)} && cat > ${q(tmp)} && sha256sum < ${q(tmp)} | cut -d' ' -f1`, { stdin: file.content, timeoutMs: 60_000 + file.content.length / 1000 });
  if (up.code !== 0 || up.stdout.trim() !== fileHash(file)) throw new Error(`${s.target.name}: ${file.path}: upload failed: ${up.stderr.trim() || 'hash mismatch'}`);
  const checker = checkerFor(file.path);
  if (checker) {
    const c = await s.exec(`if command -v ${checker.program} >/dev/null; then ${checker.command.replace('{}', q(tmp))} 2>&1; else echo "no ${checker.program} here: not checked"; fi`);
    if (c.code !== 0) {
      await s.exec(`rm -f ${q(tmp)}`);
      await journal(s, { run: runId, step: 'check', path: file.path, result: 'refused', output: c.stdout.slice(0, 2000) });
      throw new CheckFailed(file.path, c.stdout);
    }
  }
  const backup = `${STATE_DIR}/backups/${runId}${file.path}`;
  const mv = await s.exec(
    `if [ -e ${q(file.path)} ]; then mkdir -p ${q(backup.replace(/\/[^/]+$/, ''))} && cp -a ${q(file.path)} ${q(backup)} && echo updated; else echo created; fi && mv -f ${q(tmp)} ${q(file.path)}`,
  );
  if (mv.code !== 0) throw new Error(`${s.target.name}: ${file.path}: could not be put in place: ${mv.stderr.trim()}`);
  const done = mv.stdout.trim() === 'updated' ? 'updated' : 'created';
  await journal(s, { run: runId, step: 'file', path: file.path, result: done, sha256: fileHash(file), ...(done === 'updated' ? { backup } : {}) });
  return done;
}

/**
 * Keeps what is at each path now (a file or a symlink, not followed) under the run's backups and
 * journals it as replaced by the run, before something other than pushFile replaces it (the kubeha
 * release package): a rollback then puts it back like any pushed file.
 */
export async function keepForRollback(s: SshSession, runId: string, paths: string[]): Promise<void> {
  for (const p of paths) {
    const backup = `${STATE_DIR}/backups/${runId}${p}`;
    const q = shellQuote;
    const r = await s.exec(`if [ -e ${q(p)} ] || [ -L ${q(p)} ]; then mkdir -p ${q(backup.replace(/\/[^/]+$/, ''))} && cp -a ${q(p)} ${q(backup)} && echo updated; else echo created; fi`);
    if (r.code !== 0) throw new Error(`${s.target.name}: keeping ${p} for a rollback failed: ${r.stderr.trim()}`);
    const result = r.stdout.trim();
    await journal(s, { run: runId, step: 'file', path: p, result, ...(result === 'updated' ? { backup } : {}) });
  }
}

/**
 * Puts back what run `runId` changed on the host since the last gate it passed there, newest first:
 * updated files from their backup, created files removed (both read from the journal). Returns the
 * paths restored.
 */
export async function rollbackHost(s: SshSession, runId: string): Promise<string[]> {
  const r = await s.exec(`cat ${JOURNAL} 2>/dev/null || true`);
  const steps = unfinishedFiles(parseJournal(r.stdout), runId);
  const restored: string[] = [];
  for (const e of steps.reverse()) {
    const path = shellQuote(e.path!);
    // a copy beside the target renamed over it: atomic, and a symlink (kubeha's current release) stays a symlink
    const cmd = e.result === 'updated' && e.backup ? `cp -a ${shellQuote(e.backup)} ${path}.kubeha-restore && mv -Tf ${path}.kubeha-restore ${path}` : `rm -f ${path}`;
    const x = await s.exec(cmd);
    if (x.code !== 0) throw new Error(`${s.target.name}: rollback of ${e.path}: ${x.stderr.trim()}`);
    restored.push(e.path!);
  }
  await journal(s, { run: runId, step: 'rollback', paths: restored });
  return restored;
}
