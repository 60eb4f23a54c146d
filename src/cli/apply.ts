import { formatProblem } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { survey, formatDryRun, hostsOf, type SurveyOptions } from '../apply/dry-run.js';
import { freshInstallFiles } from '../apply/binaries.js';
import type { DesiredFile } from '../apply/change-plan.js';
import { packageRelease } from '../apply/kubeha-package.js';
import { applyRun, formatRun } from '../apply/run.js';
import { loadInventoryFile, makePlan } from '../plan/inventory.js';
import { renderBundle } from '../plan/render-bundle.js';

/** Options of `kubeha apply` (DESIGN.md, second wave). */
export interface ApplyOptions {
  inventory: string;
  dryRun?: boolean;
  hosts?: string;
  maxUnavailable?: string;
  gateTimeout?: string;
  acceptNewHostKeys?: boolean;
  kubehaPackage?: string;
}

/**
 * `kubeha apply --inventory F [--dry-run]`: connects to every host (host keys verified). With
 * --dry-run it prints what would change: exit 2 when something would, 0 when nothing would, 1 when
 * a host failed. Without, it runs the ordered, gated rollout (apply/rollout.ts) and prints a table
 * of the hosts: exit 0 when every host is applied or unchanged, 1 otherwise.
 */
export async function applyCommand(o: ApplyOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const loaded = await loadInventoryFile(o.inventory);
  if (!loaded.ok) {
    for (const p of loaded.problems) err.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const maxUnavailable = Number(o.maxUnavailable ?? '1');
  const gateTimeoutMs = parseDuration(o.gateTimeout ?? '90s');
  if (!Number.isInteger(maxUnavailable) || maxUnavailable < 1 || gateTimeoutMs === undefined || gateTimeoutMs <= 0) {
    err.write('--max-unavailable is a whole number of workers, at least 1, and --gate-timeout a duration like 90s [KUBEHA_ERR_USAGE]\n');
    return 1;
  }
  if (loaded.inventory.vipMode === 'bgp') {
    // apply's gates judge the VIP by its one VRRP holder; with BGP every LB host holds it and the routers decide
    err.write(`${o.inventory}: vipMode: bgp is rendered by \`kubeha render\` (the LB hosts' kubeha.yaml and each router's BIRD or FRR config), but \`kubeha apply\` does not drive it yet: its health gates expect one VRRP holder. Render, install the files, and check with \`kubeha status\` on each LB host [KUBEHA_ERR_USAGE]\n`);
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
  let kubehaPackage: { file: string; release: string } | undefined;
  if (o.kubehaPackage) {
    try {
      kubehaPackage = { file: o.kubehaPackage, release: await packageRelease(o.kubehaPackage) };
    } catch (e) {
      err.write(`--kubeha-package: ${e instanceof Error ? e.message : String(e)} [KUBEHA_ERR_USAGE]\n`);
      return 1;
    }
  }
  const bundle = renderBundle(plan);
  const acceptNewHostKeys = !!o.acceptNewHostKeys;
  const log = (line: string) => err.write(`${line}\n`);
  let extraFiles: Map<string, DesiredFile[]> | undefined;
  if (plan.inv.binaries) {
    try {
      extraFiles = await freshInstallFiles(plan, o.inventory, log);
    } catch (e) {
      err.write(`${e instanceof Error ? e.message : String(e)} [KUBEHA_ERR_APPLY_PKI]\n`);
      return 1;
    }
  }
  const surveyOptions: SurveyOptions = { acceptNewHostKeys, ...(only ? { only } : {}), ...(kubehaPackage ? { kubehaRelease: kubehaPackage.release } : {}), ...(extraFiles ? { extraFiles } : {}) };
  if (o.dryRun) {
    const r = formatDryRun(await survey(plan, bundle, surveyOptions));
    out.write(r.text);
    return r.failed ? 1 : r.pending ? 2 : 0;
  }
  const { runId, result } = await applyRun(plan, bundle, { survey: surveyOptions, maxUnavailable, gateTimeoutMs, log, ...(kubehaPackage ? { kubehaPackage } : {}) });
  out.write(formatRun(runId, result));
  return result.ok ? 0 : 1;
}
