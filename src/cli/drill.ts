import { readFile, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { formatProblem } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { hostsOf, knownHostsPath, sshTargetFor } from '../apply/dry-run.js';
import { connect, type SshSession } from '../apply/ssh-transport.js';
import { startClientLoop } from '../demo/client-loop.js';
import { drillSteps, formatDrillPlan, formatDrillReport, passed, stepKind } from '../drill/drill-plan.js';
import { runDrill } from '../drill/drill.js';
import { startRemoteClientLoop } from '../drill/remote-client.js';
import { loadInventoryFile, makePlan } from '../plan/inventory.js';
import { doctorCommand } from './doctor.js';

/** Options of `kubeha drill`. */
export interface DrillOptions {
  inventory: string;
  dryRun?: boolean;
  kill?: boolean;
  observe: string;
  settleTimeout: string;
  cacert?: string;
  /** Write the client's record (every request) and the steps' windows here, as JSON lines. */
  record?: string;
  /** Run the client loop on this host of the inventory (a worker: what its kubelet sees) instead of here. */
  from?: string;
  /** Only these steps: handover, lb-stopped, apiservers, killed (comma-separated). */
  steps?: string;
}

/** The client loop's period: 50 new connections a second. */
const CLIENT_PERIOD_MS = 20;

/** Collects what a command writes. */
function sink(): { stream: Writable; text: () => string } {
  let text = '';
  return { stream: new Writable({ write(chunk: Buffer, _e, cb) { text += chunk.toString(); cb(); } }), text: () => text };
}

/**
 * `kubeha drill --inventory F`: the failover test of the install guides on the live cluster, as a
 * client sees it — a client loop through the VIP from this machine while, one at a time and each
 * undone before the next, the VIP is handed over, the holder's load balancer stopped, each
 * apiserver restarted and (--kill) the holder's kubeha or keepalived SIGKILLed. Refuses a cluster
 * `kubeha doctor` finds a failure in. Exit 0: every step met its target; 1: one did not, or the
 * drill could not run; 2: the inventory or the options are wrong.
 */
export async function drillCommand(o: DrillOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const loaded = await loadInventoryFile(o.inventory);
  if (!loaded.ok) {
    for (const p of loaded.problems) err.write(`${formatProblem(p)}\n`);
    return 2;
  }
  const observeMs = parseDuration(o.observe);
  const settleTimeoutMs = parseDuration(o.settleTimeout);
  if (!observeMs || !settleTimeoutMs || observeMs < 0 || settleTimeoutMs <= 0) {
    err.write('--observe and --settle-timeout take a duration like 5s [KUBEHA_ERR_USAGE]\n');
    return 2;
  }
  const plan = makePlan(loaded.inventory);
  const all = drillSteps(plan, { kill: !!o.kill || !!o.steps?.split(',').includes('killed') });
  const only = o.steps?.split(',').map((x) => x.trim()).filter(Boolean);
  const kinds = new Set(all.map(stepKind));
  const unknownSteps = only?.filter((x) => !kinds.has(x)) ?? [];
  const hosts = hostsOf(plan);
  const from = o.from ? hosts.find((h) => h.host.name === o.from) : undefined;
  if (unknownSteps.length > 0 || (o.from && !from)) {
    err.write(`${unknownSteps.length ? `--steps: ${unknownSteps.join(', ')} is none of ${[...kinds].join(', ')}` : `--from ${o.from}: not a host of ${o.inventory}`} [KUBEHA_ERR_USAGE]\n`);
    return 2;
  }
  const steps = only ? all.filter((s) => only.includes(stepKind(s))) : all;
  if (o.dryRun) {
    out.write(formatDrillPlan(plan, steps, from ? from.host.name : 'this machine'));
    return 0;
  }
  let ca: Buffer | undefined;
  if (o.cacert) {
    try {
      ca = await readFile(o.cacert);
    } catch (e) {
      err.write(`--cacert ${o.cacert}: ${e instanceof Error ? e.message : String(e)} [KUBEHA_ERR_USAGE]\n`);
      return 2;
    }
  }
  // A degraded cluster is not drilled: the drill's faults would be on top of the one it has.
  const doctor = sink();
  const verdict = await doctorCommand({ inventory: o.inventory, timeout: '3s', etcd: true, vrrp: false, ...(o.cacert ? { cacert: o.cacert } : {}) }, doctor.stream, doctor.stream);
  if (verdict !== 0) {
    err.write(`kubeha drill: kubeha doctor finds a failure: the cluster is degraded already, so no fault is added to it [KUBEHA_ERR_DRILL_DEGRADED]\n\n${doctor.text()}`);
    return 1;
  }
  const log = (line: string) => err.write(`${line}\n`);
  const file = knownHostsPath(plan.inv);
  const knownHosts = await readFile(file, 'utf8').catch(() => '');
  const wanted = hosts.filter((h) => h.roles.includes('lb') || h.roles.includes('master') || h === from);
  const sessions = new Map<string, SshSession>();
  try {
    try {
      await Promise.all(wanted.map(async ({ host }) => sessions.set(host.name, await connect(sshTargetFor(plan.inv, host, knownHosts, false)))));
    } catch (e) {
      err.write(`kubeha drill: ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
    log(`kubeha drill: ${steps.length} steps on ${plan.inv.cluster}; client on ${from ? from.host.name : 'this machine'} through https://${plan.vipAddress}:${plan.frontendPort}/version every ${CLIENT_PERIOD_MS} ms`);
    const client = await (from
      ? startRemoteClientLoop(sessions.get(from.host.name)!, { url: `https://${plan.vipAddress}:${plan.frontendPort}/version`, periodMs: CLIENT_PERIOD_MS })
      : Promise.resolve(startClientLoop({ host: plan.vipAddress, port: plan.frontendPort, path: '/version', periodMs: CLIENT_PERIOD_MS, keepMs: 24 * 3600_000, ...(ca ? { ca } : {}) }))
    ).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    if (client instanceof Error) {
      err.write(`kubeha drill: --from ${o.from}: ${client.message}\n`);
      return 1;
    }
    const reports = await runDrill(plan, steps, sessions, client, { observeMs, settleTimeoutMs, log, ...(ca ? { ca } : {}) }).finally(() => client.stop());
    out.write(formatDrillReport(reports));
    if (o.record) {
      const lines = [
        ...client.record.samples.map((x) => JSON.stringify({ request: x })),
        ...reports.map((r) => JSON.stringify({ step: r.step.id, host: r.host, fromMs: r.fromMs, toMs: r.toMs, ...r.window, vipBefore: r.vipBefore, vipPath: r.vipPath, lbAfter: r.lbAfter, ...(r.twoHolders ? { twoHolders: r.twoHolders } : {}), ...(r.error ? { error: r.error } : {}) })),
      ];
      await writeFile(o.record, `${lines.join('\n')}\n`);
    }
    out.write(`client: ${client.record.ok} answered, ${client.record.failed} failed${client.record.errors.size ? ` (${[...client.record.errors].map(([e, n]) => `${e} ${n}`).join(', ')})` : ''}\n`);
    return reports.length === steps.length && reports.every(passed) ? 0 : 1;
  } finally {
    for (const s of sessions.values()) s.close();
  }
}
