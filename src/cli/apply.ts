import { formatProblem } from '../config/load.js';
import { dryRun, formatDryRun, hostsOf } from '../apply/dry-run.js';
import { loadInventoryFile, makePlan } from '../plan/inventory.js';
import { renderBundle } from '../plan/render-bundle.js';

/** Options of `kubeha apply` (DESIGN.md, second wave). */
export interface ApplyOptions {
  inventory: string;
  dryRun?: boolean;
  hosts?: string;
  maxUnavailable?: string;
  acceptNewHostKeys?: boolean;
}

/**
 * `kubeha apply --inventory F --dry-run`: connects to every host (host keys verified), gathers its
 * facts and prints what apply would change: exit 2 when something would, 0 when nothing would, 1
 * when a host failed. Changing hosts comes with the ordered, gated rollout (issue 13): until then
 * apply without --dry-run refuses.
 */
export async function applyCommand(o: ApplyOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const loaded = await loadInventoryFile(o.inventory);
  if (!loaded.ok) {
    for (const p of loaded.problems) err.write(`${formatProblem(p)}\n`);
    return 1;
  }
  if (!o.dryRun) {
    err.write('kubeha apply: this version plans only (--dry-run): the ordered rollout with health gates and rollback that changes hosts is not built yet; run with --dry-run to see what it would do [KUBEHA_ERR_USAGE]\n');
    return 1;
  }
  const plan = makePlan(loaded.inventory);
  const only = o.hosts?.split(',').map((h) => h.trim()).filter(Boolean);
  const known = new Set(hostsOf(plan).map((h) => h.host.name));
  const unknown = only?.filter((h) => !known.has(h)) ?? [];
  if (unknown.length > 0) {
    err.write(`--hosts: ${unknown.join(', ')} not in ${o.inventory} (its hosts: ${[...known].join(', ')}) [KUBEHA_ERR_USAGE]\n`);
    return 1;
  }
  const reports = await dryRun(plan, renderBundle(plan), { acceptNewHostKeys: !!o.acceptNewHostKeys, ...(only ? { only } : {}) });
  const r = formatDryRun(reports);
  out.write(r.text);
  return r.failed ? 1 : r.pending ? 2 : 0;
}
