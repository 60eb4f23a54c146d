// `kubeha drill`: the failover test every install guide ends with, done on the live cluster and
// measured as a client sees it. This file is the pure part: the steps an inventory gets (by LB
// flavor), the commands each runs on which host, its target, and the report. drill.ts runs them.
import type { Plan } from '../plan/inventory.js';
import type { ClientWindow } from '../demo/client-record.js';
import { table } from '../observe/status-report.js';

/** Who a step acts on: the LB host holding the VIP when the step starts, or one master. */
export type StepHost = { holder: true } | { master: string };

/** One drill step: what it does, on which host, how it is undone, and what the client may see. */
export interface DrillStep {
  id: string;
  title: string;
  on: StepHost;
  /** Shell commands on that host: the fault, then (after the observation time) the repair. */
  act: string;
  restore?: string;
  /** For an apiserver restart: the master whose /readyz must answer again before the step ends. */
  waitReady?: string;
  target: { kind: 'failed'; max: number } | { kind: 'outage'; maxMs: number };
}

/** The LB flavor's units: the load balancer, and what floats the VIP. */
function lbUnits(plan: Plan): { lb: string; vip: string } {
  const flavor = plan.inv.lb.flavor;
  return flavor === 'kubeha' ? { lb: 'kubeha', vip: 'kubeha' } : { lb: flavor, vip: 'keepalived' };
}

/** The kubeha config on an LB host (apply's layout). */
const KUBEHA_CONFIG = '/etc/kubeha/kubeha.yaml';

/**
 * The steps, in order (issue 14): (a) a graceful VIP handover, (b) the holder's load balancer
 * stopped, (c) each apiserver restarted in turn, (d) with `kill`, the holder's kubeha (or
 * keepalived) SIGKILLed. Each is undone before the next.
 */
export function drillSteps(plan: Plan, o: { kill: boolean }): DrillStep[] {
  const u = lbUnits(plan);
  const kubeha = plan.inv.lb.flavor === 'kubeha';
  const steps: DrillStep[] = [
    kubeha
      ? { id: 'handover', title: 'graceful VIP handover (maintenance on the VIP holder)', on: { holder: true }, act: `kubeha maintenance on --config ${KUBEHA_CONFIG}`, restore: `kubeha maintenance off --config ${KUBEHA_CONFIG}`, target: { kind: 'failed', max: 0 } }
      // keepalived resigns with a priority-0 advert when it stops: its graceful handover
      : { id: 'handover', title: 'graceful VIP handover (keepalived stopped on the VIP holder)', on: { holder: true }, act: 'systemctl stop keepalived', restore: 'systemctl start keepalived', target: { kind: 'failed', max: 0 } },
    {
      id: 'lb-stopped',
      title: kubeha ? 'the VIP holder\'s kubeha stopped' : `the VIP holder's ${u.lb} stopped (keepalived's track script demotes it)`,
      on: { holder: true }, act: `systemctl stop ${u.lb}`, restore: `systemctl start ${u.lb}`, target: { kind: 'outage', maxMs: 500 },
    },
    ...plan.inv.masters.map((m): DrillStep => ({
      id: `apiserver-${m.name}`, title: `${m.name}'s kube-apiserver restarted`, on: { master: m.name },
      act: 'systemctl restart kube-apiserver', waitReady: m.name, target: { kind: 'failed', max: 0 },
    })),
  ];
  if (o.kill) {
    steps.push({
      id: 'killed', title: `the VIP holder's ${u.vip} SIGKILLed`, on: { holder: true },
      // systemd's Restart= brings it back; the start is for a unit that has none
      act: `systemctl kill --signal=SIGKILL ${u.vip}`, restore: `systemctl is-active --quiet ${u.vip} || { systemctl reset-failed ${u.vip}; systemctl start ${u.vip}; }`, target: { kind: 'outage', maxMs: 500 },
    });
  }
  return steps;
}

/** The name --steps knows a step by: its id, or `apiservers` for every apiserver restart. */
export const stepKind = (s: DrillStep) => (s.id.startsWith('apiserver-') ? 'apiservers' : s.id);

/** Whether a step's client record meets its target. */
export function meets(step: DrillStep, w: ClientWindow): boolean {
  return step.target.kind === 'failed' ? w.failed <= step.target.max : w.outageMs <= step.target.maxMs;
}

export const targetText = (s: DrillStep) => (s.target.kind === 'failed' ? `${s.target.max} failed` : `outage ≤ ${s.target.maxMs} ms`);

/** What one step did, as measured. */
export interface StepReport {
  step: DrillStep;
  /** The host it acted on. */
  host: string;
  window: ClientWindow;
  /** The window judged: the client's requests on the wire in [fromMs, toMs) (client-record.ts inWindow). */
  fromMs: number;
  toMs: number;
  vipBefore: string[];
  /** The VIP's holders as they changed during the step, from before to after ('a+b': both at once). */
  vipPath: string[];
  /** Every LB host, and whether it holds the VIP once the step is undone and settled. */
  lbAfter: { host: string; holds: boolean }[];
  /** More than one LB host held the VIP at one moment during the step (split brain). */
  twoHolders: string[] | undefined;
  /** Why the step could not be done or the cluster did not come back (the drill stops). */
  error?: string;
}

/** A step passed: done, target met, one holder throughout and after. */
export const passed = (r: StepReport) => !r.error && !r.twoHolders && holdersAfter(r).length === 1 && meets(r.step, r.window);

/** The LB hosts holding the VIP after the step. */
export const holdersAfter = (r: StepReport) => r.lbAfter.filter((h) => h.holds).map((h) => h.host);

/** The `--dry-run` listing. */
export function formatDrillPlan(plan: Plan, steps: DrillStep[], clientFrom: string): string {
  const lines = [
    `kubeha drill: ${plan.inv.cluster}, VIP ${plan.vipAddress}:${plan.frontendPort}, LB hosts ${plan.lbHosts.map((h) => h.name).join(', ')} (${plan.inv.lb.flavor}), ${plan.inv.masters.length} masters`,
    `client: a new TLS connection to https://${plan.vipAddress}:${plan.frontendPort}/version every 20 ms, from ${clientFrom}`,
    'first: kubeha doctor must find no failure (a degraded cluster is not drilled)',
    '',
  ];
  steps.forEach((s, i) => {
    const where = 'holder' in s.on ? 'on the LB host holding the VIP' : `on ${s.on.master}`;
    lines.push(`${String.fromCharCode(97 + i)}. ${s.title} — target ${targetText(s)}`);
    lines.push(`   ${where}: ${s.act}${s.restore ? `; then: ${s.restore}` : ''}`);
  });
  lines.push('', 'each step is undone and the cluster must settle (one VIP holder, every apiserver ready) before the next');
  return `${lines.join('\n')}\n`;
}

/** The report: one line per step, the figures beside their targets. */
export function formatDrillReport(reports: StepReport[]): string {
  const rows = [['STEP', 'OUTAGE', 'FAILED', 'VIP WENT', 'LB HOSTS AFTER', 'TARGET', 'RESULT']];
  const notes: string[] = [];
  reports.forEach((r, i) => {
    const after = holdersAfter(r);
    const moved = r.vipPath.join(' → ');
    const result = r.error ? `FAILED: ${r.error}` : r.twoHolders ? `FAILED: two VIP holders (${r.twoHolders.join(', ')})` : after.length !== 1 ? `FAILED: ${after.length} VIP holders afterwards` : meets(r.step, r.window) ? 'ok' : 'MISSED';
    const letter = String.fromCharCode(97 + i);
    rows.push([letter, `${r.window.outageMs} ms`, `${r.window.failed} of ${r.window.total}`, moved, r.lbAfter.map((h) => `${h.host} ${h.holds ? 'VIP' : '-'}`).join(', '), targetText(r.step), result]);
    notes.push(`${letter}. ${r.step.title} (on ${r.host})${r.window.firstError ? `; first error: ${r.window.firstError}` : ''}`);
  });
  const lines = [table(rows), '', ...notes];
  const ok = reports.filter(passed).length;
  lines.push('', `${ok} of ${reports.length} steps passed`);
  return `${lines.join('\n')}\n`;
}
