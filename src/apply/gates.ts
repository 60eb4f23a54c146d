// What `kubeha apply` waits for before it touches the next host (issue 13 "Order and gates"),
// judged here, pure: observations in, a verdict out. The driver (rollout-driver.ts) gathers the
// observations over SSH and HTTPS and asks again until a gate passes or its time is up. The
// apiserver and VIP judgments are `kubeha doctor`'s own (doctor/assess.ts), so apply and doctor
// never disagree about what healthy means.
import { certFindings, readyFinding, vipFindings, type Finding, type MasterObservation } from '../doctor/assess.js';
import type { HttpsObservation } from '../doctor/probe.js';

/** A gate's verdict: passed, or why not (said the way a person reads it in the run's table). */
export type GateVerdict = { pass: true; detail: string } | { pass: false; detail: string };

const fail = (detail: string): GateVerdict => ({ pass: false, detail });
const failed = (fs: Finding[]) => fs.filter((f) => f.verdict === 'fail' || (f.verdict === 'warn' && f.check === 'vip-spread'));

/** One etcd member's health, as `etcdctl endpoint health` says it. */
export interface MemberHealth {
  name: string;
  healthy: boolean;
  detail: string;
}

/**
 * The new member's id in what `etcdctl member add` prints ("Member %16x added to cluster %16x":
 * an id under 16 hex digits is padded with spaces, so one in sixteen has two before it).
 */
export function addedMemberId(output: string): string | undefined {
  return /Member\s+([0-9a-f]+)\s+added/.exec(output)?.[1];
}

/**
 * Reads `etcdctl endpoint health -w json` (an array of {endpoint, health, error}); `names` maps an
 * endpoint URL to its member. A member etcdctl did not list (it timed out before printing) is unhealthy.
 */
export function parseEtcdHealth(output: string, names: Map<string, string>): MemberHealth[] {
  let rows: { endpoint?: string; health?: boolean; error?: string }[] = [];
  try {
    const parsed: unknown = JSON.parse(output.trim() || '[]');
    if (Array.isArray(parsed)) rows = parsed as typeof rows;
  } catch {
    rows = [];
  }
  return [...names].map(([endpoint, name]) => {
    const r = rows.find((x) => x.endpoint === endpoint);
    if (!r) return { name, healthy: false, detail: `${endpoint}: no answer` };
    return { name, healthy: r.health === true, detail: r.health === true ? `${endpoint} healthy` : `${endpoint}: ${r.error ?? 'unhealthy'}` };
  });
}

/**
 * Where etcd's leadership should go before member `restarting` (at `endpoint`) goes down, from
 * `etcdctl endpoint status -w simple` ("URL, ID, version, db size, is leader, is learner, raft term,
 * raft index, applied index, errors", one line per endpoint that answered): undefined when it is
 * not the leader; else a voting member that answered without an error, or `to: undefined` when
 * there is none. Restarting the leader without this costs an election (1–2 s without a leader),
 * and the requests etcd held then fail with "etcdserver: leader changed" through every apiserver.
 */
export function leaderHandOff(status: string, endpoint: string): { leaderId: string; to?: string } | undefined {
  const rows = status.split('\n').map((l) => l.split(',').map((x) => x.trim())).filter((c) => c.length >= 6 && /^[0-9a-f]+$/.test(c[1]!));
  const leader = rows.find((c) => c[0] === endpoint && c[4] === 'true');
  if (!leader) return undefined;
  const to = rows.find((c) => c[1] !== leader[1] && c[5] === 'false' && !c[9]);
  return { leaderId: leader[1]!, ...(to ? { to: to[1]! } : {}) };
}

/** Members needed for quorum: a majority of all members (3 → 2, 5 → 3). */
export const quorumOf = (members: number) => Math.floor(members / 2) + 1;

/**
 * May member `restarting` be taken down now? Only when the others that are healthy still make a
 * quorum without it; otherwise the restart would stop the cluster (k0sctl #1142: every controller
 * restarted at once).
 */
export function quorumGate(members: MemberHealth[], restarting: string): GateVerdict {
  const others = members.filter((m) => m.name !== restarting);
  const healthy = others.filter((m) => m.healthy);
  const need = quorumOf(members.length);
  if (healthy.length >= need) return { pass: true, detail: `${healthy.length} other member(s) healthy, quorum is ${need} of ${members.length}` };
  const down = others.filter((m) => !m.healthy).map((m) => m.detail);
  return fail(`restarting ${restarting} would lose etcd quorum: only ${healthy.length} other member(s) healthy, ${need} of ${members.length} needed (${down.join('; ')}); bring them back first`);
}

/** Is every member healthy (a fresh cluster formed, or a member back after its restart)? */
export function etcdHealthyGate(members: MemberHealth[], only?: string): GateVerdict {
  const asked = only ? members.filter((m) => m.name === only) : members;
  const sick = asked.filter((m) => !m.healthy);
  if (sick.length === 0) return { pass: true, detail: asked.map((m) => m.detail).join('; ') };
  return fail(`etcd not healthy: ${sick.map((m) => m.detail).join('; ')}`);
}

/** An apiserver: /readyz 200 on its own address, and a serving certificate that names the VIP (and, dual stack, the IPv6 VIP). */
export function apiserverGate(m: MasterObservation, vips: string[], nowMs: number): GateVerdict {
  const bad = failed([readyFinding(`${m.name} ${m.readyz.target}`, m.name, m.readyz, 'is kube-apiserver running?'), ...certFindings(m, vips, nowMs)]);
  if (bad.length === 0) return { pass: true, detail: `${m.readyz.target} /readyz 200, certificate names ${vips.join(' and ')}` };
  return fail(bad.map((f) => f.message).join('; '));
}

/** What the LB gate looks at after one LB host changed. */
export interface LbObservation {
  host: string;
  /** GET /readyz on the host's own address and frontend port: its LB serves. */
  local: HttpsObservation;
  /** The LB hosts that hold the VIP now. */
  holders: string[];
  /** Each master's own /readyz (its certificate tells it apart behind the VIP). */
  masters: MasterObservation[];
  /** GETs of /readyz through the VIP, each on a new connection. */
  viaVip: HttpsObservation[];
  vip: string;
  frontendPort: number;
  /** Dual stack: the IPv6 VIP and the LB hosts that hold it now (the IPv4 holder, by the sync group). */
  vip6?: { address: string; holders: string[] };
}

/**
 * An LB host: its own LB serves, exactly one LB host holds the VIP (two is a split brain, none an
 * outage), and the VIP answers and reaches every ready apiserver.
 */
export function lbGate(o: LbObservation): GateVerdict {
  const problems: string[] = [];
  if (o.local.status !== 200) problems.push(`${o.host}'s own load balancer on ${o.local.target}: ${o.local.error ?? `/readyz ${o.local.status}`}`);
  if (o.holders.length !== 1) problems.push(o.holders.length === 0 ? `no LB host holds the VIP ${o.vip}` : `${o.holders.length} LB hosts hold the VIP ${o.vip} (${o.holders.join(', ')}): split brain`);
  const v6 = o.vip6;
  // the sync group moves both VIPs together: any other picture is a half-failed node or a split
  if (v6 && o.holders.length === 1 && (v6.holders.length !== 1 || v6.holders[0] !== o.holders[0])) {
    problems.push(`the IPv6 VIP ${v6.address} is ${v6.holders.length === 0 ? 'held by no LB host' : `on ${v6.holders.join(', ')}`}, not with the IPv4 VIP on ${o.holders[0]}: both instances of the sync group must be on one node (kubeha status there says which one is not MASTER)`);
  }
  problems.push(...failed(vipFindings(o)).map((f) => f.message));
  if (problems.length === 0) return { pass: true, detail: `${o.host} serves, ${o.holders[0]} holds ${o.vip}${v6 ? ` and ${v6.address}` : ''}, the VIP reaches every ready apiserver` };
  return fail(problems.join('; '));
}

/**
 * An LB host while no apiserver runs yet (a fresh cluster, before `kubeadm init`): its load balancer
 * listens, and at most one LB host holds the VIP — kubeha takes it only once an apiserver passes
 * its check (operations.md, "Bootstrap: the VIP before the first apiserver").
 */
export function lbBootstrapGate(o: { host: string; target: string; listenError: string | undefined; holders: string[]; vip: string }): GateVerdict {
  const problems: string[] = [];
  if (o.listenError) problems.push(`${o.host}'s own load balancer does not listen on ${o.target}: ${o.listenError}`);
  if (o.holders.length > 1) problems.push(`${o.holders.length} LB hosts hold the VIP ${o.vip} (${o.holders.join(', ')}): split brain`);
  if (problems.length === 0) return { pass: true, detail: `${o.host} listens on ${o.target}; no apiserver yet, so ${o.holders.length ? `${o.holders[0]} holds the VIP` : 'nobody holds the VIP until one passes its check'}` };
  return fail(problems.join('; '));
}

/**
 * A worker moved to the VIP: its node Lease (kube-node-lease/NAME, renewed by the kubelet every 10 s)
 * renewed after `sinceMs` — the kubelet was restarted at `sinceMs` with the new kubeconfig, so a
 * renewal after it came through the new endpoint. Both times are the worker's own clock.
 */
export function leaseGate(leaseJson: string, node: string, sinceMs: number): GateVerdict {
  let renew: string | undefined;
  try {
    renew = (JSON.parse(leaseJson) as { spec?: { renewTime?: string } }).spec?.renewTime;
  } catch {
    return fail(`the Lease of ${node} could not be read: ${leaseJson.trim().slice(0, 200)}`);
  }
  const at = renew ? Date.parse(renew) : NaN;
  if (!Number.isFinite(at)) return fail(`the Lease of ${node} has no renewTime`);
  if (at > sinceMs) return { pass: true, detail: `${node}'s Lease renewed ${at - sinceMs} ms after its kubelet restarted on the new endpoint` };
  return fail(`${node}'s Lease was last renewed ${new Date(at).toISOString()}, before its kubelet restarted (${new Date(sinceMs).toISOString()}): the kubelet does not reach the API through the new endpoint`);
}
