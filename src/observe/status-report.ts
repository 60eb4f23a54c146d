// `kubeha status` as a pure function: a node's /api/v1/state in, the operator's summary out, the
// way `haproxy show stat` and keepalived's state lines answer "is this node doing its job".
import { bindHost } from '../config/address.js';
import type { NodeState } from './node-state.js';

export interface StatusReport {
  /** The tables, ready to print. */
  text: string;
  /** What stops this node from serving (exit 1): no usable server, a fault, a frontend that should listen and does not. */
  problems: string[];
  /** Degraded but serving: a server down, drained or in maintenance, a refused reload. */
  warnings: string[];
}

/** Lays rows out in columns two spaces apart; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** 3d4h, 5m12s, 42s: the two largest units. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const units: [number, string][] = [[86_400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']];
  const parts: string[] = [];
  let rest = s;
  for (const [size, unit] of units) {
    if (rest >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join('');
}

/** The host part of a `host:port` bind. */
/** Dropped VRRP packets from one sender that make `kubeha status` name it (a stray packet does not). */
const FLOOD_WARNING_PACKETS = 100;

/** Whether frontend `f` is not listening only because its VIP is held elsewhere (a bind that waits, not a fault). */
function vipWaiter(s: NodeState): (f: NodeState['frontends'][number]) => boolean {
  const held = new Set<string>();
  const notHeld = new Set<string>();
  for (const v of s.vrrp) for (const cidr of v.vips) (v.state === 'master' ? held : notHeld).add(cidr.split('/')[0]!);
  if (s.vipElection) for (const cidr of s.vipElection.vips) (s.vipElection.leader ? held : notHeld).add(cidr.split('/')[0]!);
  for (const a of s.bgp?.announcements ?? []) (a.onInterface ? held : notHeld).add(a.vip.split('/')[0]!);
  return (f) => {
    const host = bindHost(f.bind);
    return !f.listening && notHeld.has(host) && !held.has(host);
  };
}

/**
 * What stops the node from serving and what is degraded: the verdict alone, without a clock or any
 * formatting (the daemon adds it to every /api/v1/state answer).
 */
export function nodeHealth(s: NodeState): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (s.reloads.lastErrors.length > 0) warnings.push(`the last reload was refused (the previous config still runs): ${s.reloads.lastErrors[0]}`);
  const waitsForVip = vipWaiter(s);
  for (const f of s.frontends) {
    if (f.dataPlane === 'kernel') {
      if (!f.listening && !s.kernel?.holding) problems.push(`frontend ${f.name} (dataPlane: kernel) is not programmed in nftables${s.kernel?.lastError ? `: ${s.kernel.lastError}` : ''}`);
    } else if (!f.listening && !waitsForVip(f)) problems.push(`frontend ${f.name} is not listening on ${f.bind}`);
  }
  if (s.kernel?.lastError && s.frontends.every((f) => f.dataPlane !== 'kernel' || f.listening)) problems.push(`the last update of the nftables table failed (the kernel forwards with the one before, retried every second): ${s.kernel.lastError}`);
  if (s.conntrackSync && !s.conntrackSync.running) problems.push(`conntrackd does not run: the kernel frontends' flows are not replicated to ${s.conntrackSync.peer}, a failover would break them${s.conntrackSync.lastError ? ` (${s.conntrackSync.lastError})` : ''}`);
  if (s.kernel?.holding) warnings.push('the nftables table of the previous run forwards as it was until the first health checks are in');
  for (const b of s.backends) {
    const live = b.servers.filter((x) => !x.removed);
    for (const x of live) {
      if (x.state === 'down') warnings.push(`server ${b.name}/${x.name} (${x.address}) is down${x.lastCheck && !x.lastCheck.ok ? `: ${x.lastCheck.detail}` : ''}`);
      else if (x.adminState !== 'ready') warnings.push(`server ${b.name}/${x.name} is in ${x.adminState}`);
    }
    if (!live.some((x) => x.state === 'up' && x.adminState === 'ready')) problems.push(`backend ${b.name} has no usable server (${live.length} configured)`);
    if (b.queue.length > 0) warnings.push(`backend ${b.name}: ${b.queue.length} connections queued`);
    const d = b.discovery;
    if (d && (d.source === 'bootstrap' || d.source === 'state-file') && d.errors > 0) {
      warnings.push(`backend ${b.name}: discovery has not reached the API (${d.errors} failed attempts${d.lastError ? `, last: ${d.lastError}` : ''}); serving the ${d.servers} servers of the ${d.source === 'bootstrap' ? 'bootstrap list' : 'state file'}`);
    }
  }
  for (const v of s.vrrp) {
    if (v.maintenance) warnings.push(`vrrp ${v.name} is in maintenance, out of the election (kubeha maintenance off brings it back)`);
    else if (v.state === 'fault') problems.push(`vrrp ${v.name} is in FAULT: ${v.fault ?? 'unknown cause'}`);
    else if (v.effectivePriority < v.priority) warnings.push(`vrrp ${v.name} runs at priority ${v.effectivePriority} of ${v.priority}: ${describeTrack(v.track)}`);
    if (v.duplicateVip.events > 0 && v.duplicateVip.last) warnings.push(`vrrp ${v.name}: duplicate VIP seen (${v.duplicateVip.last.kind}: ${v.duplicateVip.last.detail}) at ${v.duplicateVip.last.at}`);
    if (v.secondMaster.events > 0 && v.secondMaster.last) warnings.push(`vrrp ${v.name}: second master ${v.secondMaster.last.source} (priority ${v.secondMaster.last.priority}) ignored, ${v.secondMaster.events} time(s), last at ${v.secondMaster.last.at}`);
    const flooder = v.adverts.droppedBySource[0];
    if (flooder && flooder.dropped >= FLOOD_WARNING_PACKETS) warnings.push(`vrrp ${v.name}: ${flooder.dropped} packets dropped from ${flooder.source} (last: ${flooder.lastReason}) at ${flooder.lastAt}`);
  }
  const g = s.bgp;
  if (g) {
    for (const p of g.peers) if (p.state !== 'established') problems.push(`bgp peer ${p.address} (AS ${p.asn}) is ${p.state}: no routes through it${p.lastError ? ` (${p.lastError})` : ''}`);
    for (const p of g.peers) if (p.bfd && p.bfd.state !== 'up' && p.state === 'established') warnings.push(`bfd with ${p.address} is ${p.bfd.state}: a dead node is noticed at the hold time, not in ${p.bfd.detectionMs || 'interval × multiplier'} ms`);
    // a route the session cannot carry (a family the router did not offer, no IPv6 next hop): that router does not lead to the VIP
    for (const p of g.peers) for (const w of p.withheld ?? [] /* absent from an older daemon's state */) problems.push(`bgp peer ${p.address} is not sent ${w.prefix}: ${w.reason}`);
    for (const a of g.announcements) if (!a.announced) (a.reason === 'maintenance' ? warnings : problems).push(`bgp: ${a.vip} is not announced: ${a.reason}${a.reason === 'maintenance' ? ' (kubeha maintenance off announces it again)' : ''}`);
  }
  const e = s.vipElection;
  if (e && e.keepAliveFailures > 0) warnings.push(`vip election ${e.name}: ${e.keepAliveFailures} keepalive failures`);
  if (e?.maintenance) warnings.push(`vip election ${e.name} is in maintenance, out of the election (kubeha maintenance off brings it back)`);
  return { problems, warnings };
}

/** `kubeha status`: the verdict of {@link nodeHealth} under tables of the state, ages as of `nowMs`. */
export function statusReport(s: NodeState, nowMs: number): StatusReport {
  const { problems, warnings } = nodeHealth(s);
  const sections: string[] = [];
  sections.push(
    `kubeha up ${formatAge(nowMs - Date.parse(s.startedAt))}${s.configPath ? `, config ${s.configPath}` : ''}, reloads ${s.reloads.success} ok / ${s.reloads.failure} refused, ` +
      `event loop p99 ${s.eventLoopDelayMs.p99.toFixed(1)} ms`,
  );
  if (s.frontends.length > 0) {
    const waitsForVip = vipWaiter(s);
    const rows = [['FRONTEND', 'BIND', 'LISTENING', 'ACTIVE', 'ACCEPTED', 'REJECTED', 'BACKEND']];
    for (const f of s.frontends) {
      const bind = f.port && /:0$/.test(f.bind) ? f.bind.replace(/:0$/, `:${f.port}`) : f.bind;
      if (f.dataPlane === 'kernel') rows.push([f.name, bind, f.listening ? 'kernel' : 'NO (kernel)', String(f.active), '-', '-', f.backend]);
      else rows.push([f.name, bind, f.listening ? 'yes' : waitsForVip(f) ? 'no (VIP elsewhere)' : 'NO', String(f.active), String(f.accepted), String(Object.values(f.rejected).reduce((a, b) => a + b, 0)), f.backend]);
    }
    sections.push(table(rows));
  }
  const kernel = s.frontends.filter((f) => f.kernel);
  if (s.kernel && kernel.length > 0) {
    const k = s.kernel;
    const rows = [['KERNEL FRONTEND', 'SERVER', 'FLOWS', 'ESTABLISHED', 'PACKETS', 'BYTES']];
    for (const f of kernel) for (const x of f.kernel!.servers) rows.push([f.name, x.name, String(x.flows), String(x.established), String(x.packets), String(x.bytes)]);
    sections.push(`nftables table inet kubeha: ${k.updates} updates, ${k.failures} failed${k.adopted ? ', adopted from the previous run' : ''}${k.holding ? ' (held until the first checks)' : ''}${k.lastUpdate ? `, last ${formatAge(nowMs - Date.parse(k.lastUpdate))} ago` : ''}${k.flowsDeleted ? `, ${k.flowsDeleted} flows deleted (shutdown)` : ''}${s.conntrackSync ? `; flows replicated to ${s.conntrackSync.peer} by conntrackd${s.conntrackSync.running ? '' : ' (NOT RUNNING)'}` : ''}\n${table(rows)}`);
  }
  if (s.bgp) {
    const g = s.bgp;
    const rows = [['BGP PEER', 'AS', 'STATE', 'UP', 'BFD', 'MESSAGES IN/OUT', 'ADVERTISED', 'LAST ERROR']];
    for (const p of g.peers) rows.push([p.address, String(p.asn), p.state === 'established' ? 'Established' : p.state.toUpperCase(), p.uptimeS === null ? '-' : formatAge(p.uptimeS * 1000), p.bfd ? `${p.bfd.state}${p.bfd.state === 'up' ? ` (${p.bfd.detectionMs} ms)` : ''}` : '-', `${p.counters.messagesIn}/${p.counters.messagesOut}`, p.advertised.join(' ') || '-', p.lastError ?? '-']);
    const vips = g.announcements.map((a) => `${a.vip} ${a.announced ? 'announced' : `NOT announced (${a.reason})`}${a.med !== null ? `, MED ${a.med}` : ''}${a.localPref !== null ? `, LOCAL_PREF ${a.localPref}` : ''}${a.prepend ? `, prepend ${a.prepend}` : ''}`);
    sections.push(`bgp AS ${g.localAsn}, router id ${g.routerId}${g.maintenance ? ', in maintenance' : ''}: ${vips.join('; ')}\n${table(rows)}`);
  }
  if (s.backends.length > 0) {
    const rows = [['BACKEND', 'SERVER', 'ADDRESS', 'STATE', 'WEIGHT', 'ACTIVE', 'TOTAL', 'LAST CHECK']];
    for (const b of s.backends) {
      for (const x of b.servers) {
        const state = x.removed ? 'removed' : x.adminState !== 'ready' ? `${x.state}/${x.adminState}` : x.state;
        const tier = b.balance === 'latency' && x.latencyTier !== undefined && x.latencyTier !== null ? `, tier ${x.latencyTier}` : '';
        const check = x.lastCheck ? `${x.lastCheck.ok ? 'ok' : 'FAIL'} ${x.lastCheck.latencyMs.toFixed(1)} ms${tier}${x.lastCheck.ok ? '' : ` ${x.lastCheck.detail}`}` : '-';
        const weight = x.effectiveWeight === x.weight ? String(x.weight) : `${x.effectiveWeight}/${x.weight}`;
        rows.push([b.name, x.name, x.address, state === 'up' ? 'up' : state.toUpperCase(), weight, String(x.sessions.active), String(x.sessions.total), check]);
      }
    }
    sections.push(table(rows));
    const discovered = s.backends.filter((b) => b.discovery);
    if (discovered.length > 0) {
      const drows = [['DISCOVERY', 'SOURCE', 'API', 'SERVERS', 'GENERATION', 'LAST SYNC', 'VIA', 'ERRORS']];
      for (const b of discovered) {
        const d = b.discovery!;
        drows.push([b.name, d.source, d.api ?? '-', String(d.servers), String(d.generation), d.lastSync ? `${formatAge(nowMs - Date.parse(d.lastSync))} ago` : 'never', d.via ?? '-', d.errors > 0 ? `${d.errors}${d.lastError ? ` (last: ${d.lastError})` : ''}` : '0']);
      }
      sections.push(table(drows));
    }
  }
  if (s.vrrp.length > 0) {
    const rows = [['VRRP', 'INTERFACE', 'VRID', 'VERSION', 'STATE', 'PRIORITY', 'MASTER', 'SINCE', 'VIPS']];
    for (const v of s.vrrp) {
      const prio = v.effectivePriority === v.priority ? String(v.priority) : `${v.effectivePriority}/${v.priority}`;
      const master = v.state === 'master' ? 'this node' : v.master ? `${v.master.address} (${v.master.priority})` : '-';
      rows.push([v.name, v.interface, String(v.virtualRouterId), `v${v.version}`, v.maintenance ? 'MAINTENANCE' : v.state.toUpperCase(), prio, master, formatAge(nowMs - Date.parse(v.since)), v.vips.join(',')]);
    }
    sections.push(table(rows));
  }
  const e = s.vipElection;
  if (e) sections.push(`vip election ${e.name}: ${e.leader ? `LEADER (epoch ${e.epoch})` : e.maintenance ? 'MAINTENANCE' : 'follower'} as ${e.identity}, VIPs ${e.vips.join(',')}` + (e.lastLoss ? `; last loss: ${e.lastLoss}` : ''));
  if (s.events.length > 0) {
    const recent = s.events.slice(-5).reverse();
    sections.push(['LAST TRANSITIONS', ...recent.map((ev) => `  ${formatAge(nowMs - Date.parse(ev.at))} ago  ${ev.backend}/${ev.server} ${ev.up ? 'UP' : 'DOWN'} (${ev.cause}: ${ev.detail})`)].join('\n'));
  }
  if (problems.length > 0) sections.push(['PROBLEMS', ...problems.map((p) => `  ${p}`)].join('\n'));
  if (warnings.length > 0) sections.push(['WARNINGS', ...warnings.map((w) => `  ${w}`)].join('\n'));
  if (problems.length === 0 && warnings.length === 0) sections.push('all good');
  return { text: `${sections.join('\n\n')}\n`, problems, warnings };
}

function describeTrack(t: NodeState['vrrp'][number]['track']): string {
  const failing = [
    ...t.backends.filter((b) => !b.ok).map((b) => `backend ${b.name}`),
    ...t.scripts.filter((x) => !x.ok).map((x) => `script ${x.name} (exit ${x.lastExit ?? '-'})`),
    ...t.interfaces.filter((i) => !i.up).map((i) => `interface ${i.name} down`),
  ];
  return failing.length ? `failing ${failing.join(', ')}` : 'a tracked check failed';
}
