import { mkdir, readdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { formatProblem } from '../config/load.js';
import { loadInventoryFile, makePlan } from '../plan/inventory.js';
import { lineDiff } from '../plan/line-diff.js';
import { renderBundle } from '../plan/render-bundle.js';

let quiet: { write(text: string): void } | undefined;

/**
 * stdout that stops writing, quietly, once its reader went away (`kubeha render --diff | head`):
 * EPIPE is then no error of ours, and the exit code still says whether something would change.
 * bin/kubeha.js quiets every command, but ends the process at its next write with the code so far
 * (0 here); not writing any more lets the diff finish and exit 1 when something would change.
 */
function quietStdout(): { write(text: string): void } {
  if (quiet) return quiet;
  let closed = false;
  const onError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
      closed = true;
      return;
    }
    throw err;
  };
  process.stdout.on('error', onError);
  quiet = {
    write(text: string) {
      if (!closed && !process.stdout.destroyed) process.stdout.write(text);
    },
  };
  return quiet;
}

/**
 * `kubeha render --inventory F --out DIR [--diff]`: writes one folder per host with everything it
 * needs and an index README; with --diff, writes nothing and shows what would change (exit 1 when
 * something would). Warnings (a derived VRRP id) go to stderr, and into the README.
 */
export async function renderCommand(o: { inventory: string; out: string; diff?: boolean }): Promise<number> {
  const loaded = await loadInventoryFile(o.inventory);
  if (!loaded.ok) {
    for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const plan = makePlan(loaded.inventory);
  for (const w of plan.warnings) process.stderr.write(`kubeha render: warning: ${w}\n`);
  const bundle = renderBundle(plan);
  const stdout = quietStdout();
  if (o.diff) {
    let changed = 0;
    for (const [path, file] of bundle) {
      const old = await readFile(join(o.out, path), 'utf8').catch(() => undefined);
      if (old === file.content) continue;
      changed++;
      if (old === undefined) stdout.write(`+++ ${path} (new)\n`);
      else stdout.write(`--- ${path}\n+++ ${path}\n${lineDiff(old, file.content).join('\n')}\n`);
    }
    for (const path of await existingFiles(o.out)) {
      if (bundle.has(path)) continue;
      changed++;
      stdout.write(`--- ${path} (no longer rendered; kubeha render leaves it in place)\n`);
    }
    stdout.write(changed ? `${changed} file(s) would change\n` : 'no changes\n');
    return changed ? 1 : 0;
  }
  for (const [path, file] of bundle) {
    const target = join(o.out, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.content);
    await chmod(target, file.mode);
  }
  const hosts = new Set([...bundle.keys()].map((p) => p.split('/')[0]).filter((h) => h !== 'README.md'));
  stdout.write(`wrote ${bundle.size} files for ${hosts.size} hosts to ${o.out} (see ${join(o.out, 'README.md')})\n`);
  return 0;
}

/** Files below `dir` one folder deep (`host/file`), as render writes them. */
async function existingFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory()) continue;
    for (const f of await readdir(join(dir, entry.name)).catch(() => [])) out.push(`${entry.name}/${f}`);
  }
  return out;
}
