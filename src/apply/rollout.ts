// The order `kubeha apply` changes hosts in, and what stops it (issue 13 "Order and gates"):
//   1. etcd — a fresh cluster (no member running) starts together; an existing one changes one member
//      at a time, each only when the others still make a quorum without it, gated on it healthy again;
//   2. apiservers, one master at a time, gated on /readyz and a certificate that names the VIP;
//   3. LB hosts, one at a time, gated on: their LB serves, exactly one VIP holder, the VIP reaches
//      every ready apiserver;
//   4. workers, `maxUnavailable` at a time: kubeconfigs moved, kubelet restarted, gated on the
//      node's Lease renewed through the new endpoint. Workers are independent: an unreachable one is
//      reported and skipped;
//   5. running apiservers whose unit changed restart last, one at a time, behind the VIP (before
//      that they are only gated), so that no client that still talks to one directly sees it go.
// A gate that fails rolls its host back and stops the run: hosts not yet touched stay untouched.
// Pure orchestration over a driver (rollout-driver.ts does the SSH and the probing, tests a fake).
import type { DesiredFile, UnitChange } from './change-plan.js';
import type { Role } from './dry-run.js';
import { quorumGate, type GateVerdict, type MemberHealth } from './gates.js';

/** The stages of a run, in order. */
export type Phase = 'etcd' | 'apiserver' | 'lb' | 'worker';
const PHASES: Phase[] = ['etcd', 'apiserver', 'lb', 'worker'];

/** What a gate waits for (the driver polls it until it passes or its timeout). */
export type GateKind = 'etcd-cluster' | 'etcd-member' | 'apiserver' | 'lb' | 'lb-bootstrap' | 'worker';

/** A kubeconfig of a worker, rewritten to the new endpoint. */
export interface KubeconfigWrite {
  path: string;
  content: string;
  mode: number;
}

/** One reachable host and what the run should do to it. */
export interface RolloutHost {
  name: string;
  roles: Role[];
  /** Files to create or update (the plan's `keep`s left out). */
  files: DesiredFile[];
  units: UnitChange[];
  /** Whether etcd runs on it now (facts): no member running = a fresh cluster. */
  etcdActive: boolean;
  /** A master with `join: true` whose etcd does not run yet: it is added to the running cluster (etcdctl member add) before it starts. */
  joinsEtcd?: boolean;
  kubeconfigs: KubeconfigWrite[];
  /** Restart the kubelet and gate even with nothing to rewrite: a cut-off run moved its kubeconfigs. */
  resumeWorker: boolean;
  /** Install the kubeha release package (an LB host whose `kubeha version` differs from it). */
  installKubeha?: boolean;
}

/** What the rollout needs done on hosts; every call resolves (a failure is a verdict or a throw caught here). */
export interface RolloutDriver {
  /** Installs files safely (temp name, the host's checker, backup, rename, journal). */
  push(host: string, files: DesiredFile[]): Promise<void>;
  /** daemon-reload when any unit asks, then start/reload/restart each; `noBlock`: do not wait for start-up (etcd members that wait for each other). */
  units(host: string, units: UnitChange[], o?: { noBlock?: boolean }): Promise<void>;
  /** Uploads and unpacks the kubeha release package (the old program kept for a rollback). */
  installKubeha(host: string): Promise<void>;
  /** Restarts a running kubeha onto the program now installed, without a gap (SIGUSR2); nothing when it does not run. */
  handOverKubeha(host: string): Promise<void>;
  /** Writes the kubeconfigs, restarts the kubelet (and kube-proxy when it runs), noting the host's clock at the restart for the worker gate. */
  moveWorker(host: string, kubeconfigs: KubeconfigWrite[]): Promise<void>;
  /** Puts back what this run changed on the host (files from the backup, units restarted) and says what. */
  rollback(host: string): Promise<string>;
  /** Records on the host that its changes so far passed their gate (journal `done`). */
  done(host: string): Promise<void>;
  /** The masters whose apiserver answers at all now (any HTTP status): none = a cluster not bootstrapped yet. */
  apiserversAnswering(): Promise<string[]>;
  /**
   * Adds `host` to the running etcd cluster (`etcdctl member add`, unless it is a member already),
   * after every current member answered healthy; throws with why not.
   */
  etcdAddMember(host: string): Promise<string>;
  /** The health of every etcd member now (asked once, not polled). */
  etcdMembers(): Promise<MemberHealth[]>;
  /**
   * When `host`'s etcd member leads, moves the leadership to another voting member first (its
   * restart then costs no election); what it did, or undefined when the member does not lead.
   * Never throws: a hand-off that fails leaves the restart as it was (an election).
   */
  etcdHandOffLeadership(host: string): Promise<string | undefined>;
  /** Waits for a gate on `host` until it passes or times out (the worker gate: a Lease renewed after the kubelet's last restart). */
  gate(host: string, kind: GateKind): Promise<GateVerdict>;
  log(line: string): void;
}

/** A host the run cannot work on: not reached (connect, host key, lock), or refused (a kubeconfig it will not edit). */
export interface LeftOut {
  name: string;
  roles: Role[];
  error: string;
  refused?: boolean;
}

/** A host's outcome in the run's table. */
export interface HostOutcome {
  host: string;
  roles: Role[];
  /** `partly applied`: some phases passed their gates before the run stopped; the others not reached. */
  status: 'unchanged' | 'applied' | 'partly applied' | 'rolled back' | 'failed' | 'not reached' | 'unreachable';
  detail: string;
}

export interface RolloutResult {
  ok: boolean;
  outcomes: HostOutcome[];
  /** Why the run stopped early (undefined: it ran to the end). */
  stopped?: string;
  /** What the operator should do next (a cluster not bootstrapped yet). */
  notes: string[];
}

const LB_UNITS = new Set(['kubeha', 'haproxy', 'nginx', 'keepalived']);

/** The phase a file or unit of `host` belongs to (by its unit; files without one go with the host's main role). */
export function phaseOf(roles: Role[], unit: string | undefined): Phase {
  if (unit === 'etcd') return 'etcd';
  if (roles.includes('lb') && unit && LB_UNITS.has(unit)) return 'lb';
  if (roles.includes('master')) return 'apiserver';
  return roles.includes('lb') ? 'lb' : 'worker';
}

/** A host's share of one phase. */
function partOf(h: RolloutHost, phase: Phase): { files: DesiredFile[]; units: UnitChange[]; worker: boolean; kubeha: boolean } {
  return {
    // the new kubeha goes on in the phase of its unit: an LB host's in lb, a node-local one with its master or worker
    kubeha: phase === phaseOf(h.roles, 'kubeha') && !!h.installKubeha,
    files: h.files.filter((f) => phaseOf(h.roles, f.unit?.name) === phase),
    units: h.units.filter((u) => phaseOf(h.roles, u.name) === phase),
    worker: phase === 'worker' && (h.kubeconfigs.length > 0 || h.resumeWorker),
  };
}

const hasWork = (p: ReturnType<typeof partOf>) => p.files.length > 0 || p.units.length > 0 || p.worker || p.kubeha;

/** Runs the rollout; never throws (a driver error fails its host and stops the run). */
export async function rollout(hosts: RolloutHost[], unreachable: LeftOut[], d: RolloutDriver, o: { maxUnavailable: number }): Promise<RolloutResult> {
  const outcomes = new Map<string, HostOutcome>();
  const remaining = new Map<string, Set<Phase>>();
  const donePhases = new Map<string, Phase[]>();
  const notes: string[] = [];
  let bootstrap = false;
  for (const h of hosts) {
    const phases = new Set(PHASES.filter((p) => hasWork(partOf(h, p))));
    remaining.set(h.name, phases);
    outcomes.set(h.name, { host: h.name, roles: h.roles, status: phases.size ? 'not reached' : 'unchanged', detail: phases.size ? '' : 'nothing to change' });
  }
  for (const u of unreachable) outcomes.set(u.name, { host: u.name, roles: u.roles, status: u.refused ? 'failed' : 'unreachable', detail: u.error });
  const result = (stopped?: string): RolloutResult => {
    const list = [...outcomes.values()];
    for (const x of list) {
      if (x.status !== 'not reached' || !stopped) continue;
      const done = donePhases.get(x.host) ?? [];
      if (done.length === 0) x.detail = `untouched: ${stopped}`;
      else Object.assign(x, { status: 'partly applied', detail: `${done.join(', ')} applied; ${[...remaining.get(x.host)!].join(', ')} not reached: ${stopped}` });
    }
    return { ok: !stopped && list.every((x) => x.status === 'applied' || x.status === 'unchanged' || (bootstrap && x.status === 'not reached')), outcomes: list, notes, ...(stopped ? { stopped } : {}) };
  };
  const cpDown = unreachable.filter((u) => u.roles.some((r) => r !== 'worker'));
  if (cpDown.length > 0) return result(`control-plane host(s) ${cpDown.map((u) => u.name).join(', ')} not reached: nothing was changed (leave them out with --hosts to go on without them)`);

  const set = (h: string, status: HostOutcome['status'], detail: string) => Object.assign(outcomes.get(h)!, { status, detail });
  /** A phase of `h` passed its gate: journaled; when it was the host's last, the host is applied. */
  const passed = async (h: RolloutHost, phase: Phase, detail: string) => {
    const left = remaining.get(h.name)!;
    d.log(`${h.name}: ${phase} ok: ${detail}`);
    if (!left.delete(phase)) return;
    donePhases.set(h.name, [...(donePhases.get(h.name) ?? []), phase]);
    // journaled per phase: a run stopped later does not leave this phase's work looking unfinished
    await d.done(h.name);
    if (left.size === 0) set(h.name, 'applied', detail);
  };
  /** A gate failed (or a step threw): the host is rolled back, its gate run again, the run stops. */
  const giveUp = async (h: RolloutHost, phase: Phase, why: string, kind?: GateKind): Promise<string> => {
    d.log(`${h.name}: ${phase} failed: ${why}; rolling back`);
    let detail = why;
    try {
      detail += `; rolled back: ${await d.rollback(h.name)}`;
      if (kind) {
        const again = await d.gate(h.name, kind);
        detail += again.pass ? ' (gate passes again)' : ` (gate still fails after the rollback: ${again.detail})`;
      }
      set(h.name, 'rolled back', detail);
    } catch (err) {
      set(h.name, 'failed', `${detail}; rollback failed: ${message(err)}`);
    }
    return `${h.name} failed its ${phase} gate [KUBEHA_ERR_APPLY_GATE]`;
  };
  /** Changes one host's share of a phase and waits for its gate (none: nothing to wait for); resolves with why the run must stop, if it must. */
  const step = async (h: RolloutHost, phase: Phase, kind: GateKind | undefined): Promise<string | undefined> => {
    const part = partOf(h, phase);
    if (!kind && !hasWork(part)) return undefined;
    try {
      // the new kubeha first: it is the checker of its own config file
      if (part.kubeha) await d.installKubeha(h.name);
      if (part.files.length > 0) await d.push(h.name, part.files);
      if (part.units.length > 0) await d.units(h.name, part.units);
      if (part.kubeha && !part.units.some((u) => u.name === 'kubeha' && u.action !== 'reload')) await d.handOverKubeha(h.name);
      if (part.worker) await d.moveWorker(h.name, h.kubeconfigs);
      if (!kind) {
        await passed(h, phase, 'no gate: no apiserver runs yet');
        return undefined;
      }
      const v = await d.gate(h.name, kind);
      if (!v.pass && !hasWork(part)) {
        // nothing changed here: nothing to roll back, but nothing after it may go on
        set(h.name, 'failed', v.detail);
        return `${h.name} failed its ${phase} gate [KUBEHA_ERR_APPLY_GATE]`;
      }
      if (!v.pass) return giveUp(h, phase, v.detail, kind);
      await passed(h, phase, v.detail);
      return undefined;
    } catch (err) {
      return giveUp(h, phase, message(err), kind);
    }
  };
  const withWork = (phase: Phase, role: Role) => hosts.filter((h) => h.roles.includes(role) && hasWork(partOf(h, phase)));

  // 1. etcd
  const masters = hosts.filter((h) => h.roles.includes('master'));
  const etcdHosts = withWork('etcd', 'master');
  if (etcdHosts.length > 0 && masters.every((m) => !m.etcdActive)) {
    d.log(`etcd: no member runs: ${etcdHosts.map((h) => h.name).join(', ')} start together`);
    try {
      await Promise.all(etcdHosts.map(async (h) => {
        const part = partOf(h, 'etcd');
        await d.push(h.name, part.files);
        await d.units(h.name, part.units, { noBlock: true });
      }));
    } catch (err) {
      for (const h of etcdHosts) await giveUp(h, 'etcd', message(err));
      return result(`etcd could not be started: ${message(err)}`);
    }
    const v = await d.gate(etcdHosts[0]!.name, 'etcd-cluster');
    if (!v.pass) {
      for (const h of etcdHosts) await giveUp(h, 'etcd', v.detail);
      return result('the new etcd cluster did not become healthy [KUBEHA_ERR_APPLY_GATE]');
    }
    for (const h of etcdHosts) await passed(h, 'etcd', v.detail);
  } else {
    for (const h of etcdHosts) {
      if (h.joinsEtcd) {
        // a new member: the cluster as it is must be healthy, and it learns of the member just before it starts
        try {
          d.log(`${h.name}: etcd: ${await d.etcdAddMember(h.name)}`);
        } catch (err) {
          set(h.name, 'failed', message(err));
          return result(`${h.name} could not join etcd [KUBEHA_ERR_APPLY_QUORUM]`);
        }
        const stop = await step(h, 'etcd', 'etcd-member');
        if (stop) return result(stop);
        continue;
      }
      const q = quorumGate(await d.etcdMembers().catch((err: unknown) => [{ name: '?', healthy: false, detail: message(err) }]), h.name);
      if (!q.pass) {
        set(h.name, 'failed', q.detail);
        return result(`the etcd quorum gate refused to restart ${h.name} [KUBEHA_ERR_APPLY_QUORUM]`);
      }
      d.log(`${h.name}: etcd quorum gate: ${q.detail}`);
      if (partOf(h, 'etcd').units.some((u) => u.name === 'etcd' && u.action === 'restart')) {
        const handOff = await d.etcdHandOffLeadership(h.name);
        if (handOff) d.log(`${h.name}: ${handOff}`);
      }
      const stop = await step(h, 'etcd', 'etcd-member');
      if (stop) return result(stop);
    }
  }

  // 2. apiservers, 3. LB hosts: one at a time. Every master is gated, changed or not: workers move
  // to the VIP only when every apiserver serves a certificate that names it. A cluster where no
  // apiserver answers yet is being bootstrapped: the front door goes up first (without a VIP
  // until an apiserver passes its check), kubeadm init comes after, and the workers wait.
  // (with `binaries:` apply starts the apiservers itself, in this phase, and gates them)
  const startsApiservers = masters.some((h) => partOf(h, 'apiserver').units.some((u) => u.name === 'kube-apiserver'));
  bootstrap = masters.length > 0 && !startsApiservers && (await d.apiserversAnswering().catch(() => ['?'])).length === 0;
  if (bootstrap) {
    d.log('bootstrap: no apiserver answers on any master: the LB hosts go up without the apiserver gates');
    notes.push(`no apiserver runs yet: run kubeadm init on ${masters[0]!.name} (/var/lib/kubeha/rendered/kubeadm-config.yaml), join the other masters, then run apply again to gate them and move the workers`);
  }
  // A running apiserver that must restart (its unit changed: more etcd members, new flags) restarts
  // last, after the workers moved to the VIP, where the LB takes it out while it restarts; before
  // that it is only gated. New apiservers start first: capacity before any restart.
  const restartsLater = (h: RolloutHost) => !bootstrap && partOf(h, 'apiserver').units.some((u) => u.name === 'kube-apiserver' && u.action === 'restart');
  for (const h of masters) {
    if (restartsLater(h)) {
      const v = await d.gate(h.name, 'apiserver');
      if (!v.pass) {
        set(h.name, 'failed', v.detail);
        return result(`${h.name} failed its apiserver gate [KUBEHA_ERR_APPLY_GATE]`);
      }
      continue;
    }
    const stop = await step(h, 'apiserver', bootstrap ? undefined : 'apiserver');
    if (stop) return result(stop);
  }
  const lbHosts = hosts.filter((h) => h.roles.includes('lb'));
  for (const h of withWork('lb', 'lb')) {
    const stop = await step(h, 'lb', bootstrap ? 'lb-bootstrap' : 'lb');
    if (stop) return result(stop);
  }
  if (bootstrap) {
    for (const h of withWork('worker', 'worker')) set(h.name, 'not reached', 'waits for an apiserver: moved by the apply after kubeadm init');
    return result();
  }

  // 4. workers, in batches; one failed batch stops the next ones.
  const workers = withWork('worker', 'worker');
  if (workers.length > 0 && lbHosts.length > 0 && !withWork('lb', 'lb').length) {
    const v = await d.gate(lbHosts[0]!.name, 'lb');
    if (!v.pass) return result(`the VIP is not ready for the workers: ${v.detail} [KUBEHA_ERR_APPLY_GATE]`);
  }
  for (let i = 0; i < workers.length; i += o.maxUnavailable) {
    const batch = workers.slice(i, i + o.maxUnavailable);
    d.log(`workers: ${batch.map((h) => h.name).join(', ')}`);
    const stops = (await Promise.all(batch.map((h) => step(h, 'worker', 'worker')))).filter((s): s is string => !!s);
    if (stops.length > 0) return result(stops.join('; '));
  }
  // 5. the running apiservers that restart, one at a time, behind the VIP now
  for (const h of masters.filter(restartsLater)) {
    const stop = await step(h, 'apiserver', 'apiserver');
    if (stop) return result(stop);
  }
  return result();
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
