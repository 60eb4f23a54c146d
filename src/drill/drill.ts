// Runs the drill's steps (drill-plan.ts) on the live cluster over apply's SSH transport, with a
// client loop through the VIP from this machine: before each step the cluster must be settled (one
// VIP holder, every apiserver ready, every LB unit active); the step's fault is made, observed,
// undone, the cluster must settle again, and the client's record of that window is the step's figure.
import { httpsGet } from '../doctor/probe.js';
import { clientWindow } from '../demo/client-record.js';
import type { ClientLoop } from '../demo/client-loop.js';
import type { Plan } from '../plan/inventory.js';
import type { SshSession } from '../apply/ssh-transport.js';
import type { DrillStep, StepReport } from './drill-plan.js';

export interface DrillRunOptions {
  /** How long a fault lasts before it is undone. */
  observeMs: number;
  /** How long the cluster may take to settle before and after a step. */
  settleTimeoutMs: number;
  log: (line: string) => void;
  ca?: Buffer;
}

/** What is true of the cluster at one moment. */
interface Snapshot {
  holders: string[];
  lbHosts: { host: string; holds: boolean; active: boolean }[];
  notReady: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `steps` in order; stops at the first step that could not be done or after which the cluster
 * did not settle (a drill never piles a fault on a broken cluster). Never throws.
 */
export async function runDrill(plan: Plan, steps: DrillStep[], sessions: Map<string, SshSession>, client: ClientLoop, o: DrillRunOptions): Promise<StepReport[]> {
  const units = plan.inv.lb.flavor === 'kubeha' ? ['kubeha'] : [plan.inv.lb.flavor, 'keepalived'];
  const session = (name: string) => {
    const s = sessions.get(name);
    if (!s) throw new Error(`no SSH session to ${name}`);
    return s;
  };
  const ready = async (m: { ip: string }) => (await httpsGet(m.ip, plan.inv.apiserverPort, '/readyz', { timeoutMs: 2000, ...(o.ca ? { ca: o.ca } : {}) })).status === 200;
  /** Runs `cmd` on `host`; a non-zero exit is an error saying the command's last words. */
  const runOn = async (id: string, host: string, cmd: string) => {
    o.log(`${id}: ${host}: ${cmd}`);
    const r = await session(host).exec(cmd, { timeoutMs: o.settleTimeoutMs });
    if (r.code !== 0) throw new Error(`${cmd} on ${host} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}`);
  };
  const snapshot = async (): Promise<Snapshot> => {
    const lbHosts = await Promise.all(plan.lbHosts.map(async (h) => {
      const r = await session(h.name).exec(`ip -4 -o addr show; for u in ${units.join(' ')}; do echo "unit $u $(systemctl is-active $u)"; done`, { timeoutMs: 10_000 });
      const lines = r.stdout.split('\n');
      return {
        host: h.name,
        holds: lines.some((l) => l.includes(` ${plan.vipAddress}/`)),
        active: units.every((u) => lines.includes(`unit ${u} active`)),
      };
    }));
    const notReady = await Promise.all(plan.inv.masters.map(async (m) => ((await ready(m)) ? [] : [m.name])));
    return { holders: lbHosts.filter((h) => h.holds).map((h) => h.host), lbHosts, notReady: notReady.flat() };
  };
  // The planner renders preemption (after preemptDelay): at rest the VIP is on the highest priority
  // LB host whose load balancer runs, so a step that gave it away is only over once it is back.
  const preferred = (s: Snapshot) => s.lbHosts.filter((h) => h.active).sort((a, b) => (plan.priorities.get(b.host) ?? 0) - (plan.priorities.get(a.host) ?? 0))[0]?.host;
  const settledIn = (s: Snapshot) => s.holders.length === 1 && s.holders[0] === preferred(s) && s.notReady.length === 0 && s.lbHosts.every((h) => h.active);
  const describe = (s: Snapshot) => [
    s.holders.length === 1 ? (s.holders[0] === preferred(s) ? '' : `the VIP on ${s.holders[0]}, not yet back on ${preferred(s)} (preemption)`) : `${s.holders.length} VIP holders${s.holders.length ? ` (${s.holders.join(', ')})` : ''}`,
    s.notReady.length ? `not ready: ${s.notReady.join(', ')}` : '',
    ...s.lbHosts.filter((h) => !h.active).map((h) => `${units.join('/')} not active on ${h.host}`),
  ].filter(Boolean).join('; ');
  /** Polls until the cluster is settled; the last snapshot, and whether it was. */
  const settle = async (): Promise<{ ok: boolean; last: Snapshot }> => {
    const end = Date.now() + o.settleTimeoutMs;
    for (;;) {
      const last = await snapshot();
      if (settledIn(last)) return { ok: true, last };
      if (Date.now() > end) return { ok: false, last };
      await sleep(250);
    }
  };

  const reports: StepReport[] = [];
  for (const step of steps) {
    const before = await settle();
    if (!before.ok) {
      o.log(`${step.id}: the cluster is not settled (${describe(before.last)}): the drill stops`);
      reports.push({ step, host: '-', window: { total: 0, failed: 0, outageMs: 0 }, fromMs: Date.now(), toMs: Date.now(), vipBefore: before.last.holders, vipPath: [before.last.holders.join('+') || 'nobody'], lbAfter: before.last.lbHosts.map(({ host, holds }) => ({ host, holds })), twoHolders: undefined, error: `not settled before the step: ${describe(before.last)}` });
      break;
    }
    const host = 'holder' in step.on ? before.last.holders[0]! : step.on.master;
    const fromMs = Date.now();
    let twoHolders: string[] | undefined;
    let watching = true;
    const vipPath = [before.last.holders.join('+')];
    // A takeover overlaps for an advert's round trip (the new master adds the VIP, the old one drops it
    // when it hears the advert), and the hosts are read one after the other: two holders count only
    // when two snapshots in a row (≥ 200 ms) see them — a split brain lasts.
    let overlapping = 0;
    const seen = (s: Snapshot) => {
      overlapping = s.holders.length > 1 ? overlapping + 1 : 0;
      if (overlapping === 1) return;
      if (overlapping > 1 && !twoHolders) twoHolders = s.holders;
      const now = s.holders.join('+') || 'nobody';
      if (vipPath[vipPath.length - 1] !== now) vipPath.push(now);
    };
    // split brain shows for a moment only: the VIP holders are watched all through the step
    const watch = (async () => {
      while (watching) {
        const s = await snapshot().catch(() => undefined);
        if (s) seen(s);
        await sleep(200);
      }
    })();
    let error: string | undefined;
    try {
      await runOn(step.id, host, step.act);
      if (step.waitReady) {
        const m = plan.inv.masters.find((x) => x.name === step.waitReady)!;
        const end = Date.now() + o.settleTimeoutMs;
        while (!(await ready(m))) {
          if (Date.now() > end) throw new Error(`${m.name}'s /readyz did not answer 200 within ${o.settleTimeoutMs / 1000} s`);
          await sleep(250);
        }
      } else {
        await sleep(o.observeMs);
      }
      if (step.restore) await runOn(step.id, host, step.restore);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const after = await settle();
    if (!error && !after.ok) error = `did not settle within ${o.settleTimeoutMs / 1000} s: ${describe(after.last)}`;
    watching = false;
    await watch;
    seen(after.last);
    // the requests of the window's last moments get their answers (or their deadline) before it is judged
    const toMs = Date.now();
    await client.settled(toMs);
    const window = clientWindow(client.record.samples, fromMs, toMs, client.periodMs);
    const report: StepReport = { step, host, window, fromMs, toMs, vipBefore: before.last.holders, vipPath, lbAfter: after.last.lbHosts.map(({ host: h, holds }) => ({ host: h, holds })), twoHolders, ...(error ? { error } : {}) };
    reports.push(report);
    o.log(`${step.id}: ${window.failed} of ${window.total} failed, outage ${window.outageMs} ms, VIP ${vipPath.join(' → ')}${error ? `; ${error}` : ''}`);
    if (error) break;
  }
  return reports;
}
