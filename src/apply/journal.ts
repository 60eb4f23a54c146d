// The journal apply keeps on each host (/var/lib/kubeha/apply.log, one JSON object per line), read
// back, pure. A run writes a `file` line per file it replaced, a `unit` line per unit it started,
// reloaded or restarted, and `done` each time the host passed a gate; `rollback` when it put the
// host back. A run with files but neither `done` nor `rollback` was cut off (SSH dropped, apply killed):
// its files are in place but their units may not have been restarted nor the gate passed, so the
// next run finishes that work even though the files' hashes already match.

/** Where apply keeps its state on a host, and its journal. */
export const STATE_DIR = '/var/lib/kubeha';
export const JOURNAL = `${STATE_DIR}/apply.log`;

/** One line of the journal. */
export interface JournalEntry {
  at?: string;
  run?: string;
  step?: string;
  path?: string;
  result?: string;
  backup?: string;
  unit?: string;
}

/** Parses the journal; lines that are not JSON (a write cut off halfway) are skipped. */
export function parseJournal(text: string): JournalEntry[] {
  return text.split('\n').filter(Boolean).flatMap((l) => {
    try {
      const e: unknown = JSON.parse(l);
      return e && typeof e === 'object' ? [e as JournalEntry] : [];
    } catch {
      return [];
    }
  });
}

/** The files run `run` replaced on the host, in the order it replaced them. */
export function filesOfRun(entries: JournalEntry[], run: string): JournalEntry[] {
  return entries.filter((e) => e.run === run && e.step === 'file' && e.path);
}

/** The files run `run` replaced after the last gate it passed on the host (`done`): what a rollback puts back. */
export function unfinishedFiles(entries: JournalEntry[], run: string): JournalEntry[] {
  const ofRun = entries.filter((e) => e.run === run);
  return filesOfRun(ofRun.slice(ofRun.map((e) => e.step).lastIndexOf('done') + 1), run);
}

/** A run that was cut off on a host: its id, the files it replaced and their journal lines (with the backups). */
export interface InterruptedRun {
  run: string;
  paths: string[];
  files: JournalEntry[];
}

/**
 * The last run that changed files on the host and was neither finished nor rolled back. The run
 * that takes its work over journals those files as its own (same backups), so that a rollback of
 * the new run restores them and a cut of the new run is found the same way.
 */
export function interruptedRun(entries: JournalEntry[]): InterruptedRun | undefined {
  const last = [...entries].reverse().find((e) => e.run && (e.step === 'file' || e.step === 'done' || e.step === 'rollback'));
  if (!last || last.step !== 'file') return undefined;
  // `done` closes each phase that passed its gate: only the files after the run's last one are unfinished
  const files = unfinishedFiles(entries, last.run!);
  return { run: last.run!, paths: [...new Set(files.map((e) => e.path!))], files };
}
