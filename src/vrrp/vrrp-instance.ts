// The driver of one VRRP instance: it feeds the pure state machine with packets, time and tracked
// state, and carries out the effects it returns on a VrrpHost. It does nothing clever itself.
import type { Clock, Timer } from '../clock.js';
import type { VrrpInstanceConfig } from '../config/schema.js';
import { KubehaError } from '../errors.js';
import { garpFrame, macToString, parseArp } from './arp.js';
import { parseNdiscClaim, unsolicitedNaFrame } from './ndisc.js';
import {
  canonicalIp, encodeAdvert, familyOf, isRejected, parsePacket, senderOf, vridOf, VRRP_MULTICAST_GROUP, VRRP_MULTICAST_GROUP6, type DecodeOptions, type DropReason,
} from './packet.js';
import { VrrpMachine, type VrrpEffect, type VrrpState } from './state-machine.js';
import { TrackScript } from './track-script.js';
import type { LinkInfo, VrrpChannel, VrrpHost } from './vrrp-host.js';
import { killShell, spawnShell } from './shell.js';

/** Drop reasons of the driver, on top of the codec's. */
export type InstanceDropReason = DropReason | 'unknown_peer' | 'own_address' | 'second_master';

/** Senders remembered per instance, of dropped packets and of second-master episodes (the oldest is forgotten beyond it). */
const MAX_TRACKED_SENDERS = 32;
/** Senders of dropped packets shown in the status, most drops first. */
const SHOWN_DROP_SOURCES = 8;
/** At most one log line about dropped packets per this many ms: a flood must not flood the log. */
const DROP_LOG_INTERVAL_MS = 10_000;

/** What one sender's dropped packets were. */
interface DropSource {
  source: string;
  dropped: number;
  lastReason: InstanceDropReason;
  lastAtMs: number;
}

/**
 * Another router advertising as master for our VRID while a better master is alive: one episode per
 * sender, reported once the sender is still advertising an advert interval after it was first heard
 * (a peer that yields after one stale advert is not one). An episode ends after 3 quiet intervals.
 */
class SecondMasterEpisodes {
  private readonly bySource = new Map<string, { sinceMs: number; lastMs: number; reported: boolean }>();

  constructor(private readonly intervalMs: number) {}

  /** Records an advert from `src` at `now`; true when the episode is to be reported now. */
  heard(src: string, now: number): boolean {
    const e = this.bySource.get(src);
    if (!e || now - e.lastMs > 3 * this.intervalMs) {
      if (this.bySource.size >= MAX_TRACKED_SENDERS) this.forgetQuiet(now);
      this.bySource.set(src, { sinceMs: now, lastMs: now, reported: false });
      return false;
    }
    e.lastMs = now;
    if (e.reported || now - e.sinceMs < this.intervalMs) return false;
    e.reported = true;
    return true;
  }

  private forgetQuiet(now: number): void {
    for (const [src, e] of this.bySource) if (now - e.lastMs > 3 * this.intervalMs) this.bySource.delete(src);
    if (this.bySource.size >= MAX_TRACKED_SENDERS) this.bySource.delete(this.bySource.keys().next().value!);
  }
}

/** Where the instance reports what happens (logs go to the daemon's logger). */
export interface InstanceSink {
  log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string): void;
  /** A state or counter changed: the daemon refreshes metrics and the state API. */
  changed(): void;
}

/** The fault reason of an instance in maintenance. */
const MAINTENANCE_FAULT = 'maintenance';

/** Notify hooks that may wait behind a running one; beyond it the oldest waiting are dropped. */
const MAX_PENDING_NOTIFY = 8;

/** The instance as /api/v1/state and the metrics show it. */
export interface VrrpInstanceStatus {
  name: string;
  interface: string;
  virtualRouterId: number;
  version: 2 | 3;
  state: VrrpState;
  sinceMs: number;
  priority: number;
  effectivePriority: number;
  master: { address: string; priority: number } | null;
  vips: string[];
  transitions: number;
  lastTransition: { atMs: number; from: VrrpState; to: VrrpState; reason: string } | null;
  adverts: {
    sent: number;
    received: number;
    dropped: Partial<Record<InstanceDropReason, number>>;
    sendErrors: number;
    /** The longest gap between two adverts of one master, as this backup heard them (a missed advert shows here). */
    maxGapMs: number;
    /** Who sent the dropped packets, most drops first (a flood names its source here). */
    droppedBySource: { source: string; dropped: number; lastReason: InstanceDropReason; lastAtMs: number }[];
  };
  garpsSent: number;
  duplicateVip: { events: number; last: { atMs: number; kind: 'arp' | 'ndisc' | 'advert'; detail: string } | null };
  /** Adverts from a router worse than us while a better master is alive, ignored (a backup's view). */
  secondMaster: { events: number; last: { atMs: number; source: string; priority: number; detail: string } | null };
  track: {
    backends: { name: string; ok: boolean }[];
    scripts: { name: string; ok: boolean; weight: number; lastExit: number | string | null }[];
    interfaces: { name: string; up: boolean }[];
  };
  fault: string | null;
  /** Taken out of the election through the admin API. */
  maintenance: boolean;
}

/** One VRRP instance on a host. */
export class VrrpInstance {
  readonly machine: VrrpMachine;
  private channel: VrrpChannel | undefined;
  private timer: Timer | undefined;
  private linkTimer: Timer | undefined;
  /** Transitions whose notify hook has not started yet, oldest first. */
  private readonly notifyQueue: { command: string; state: VrrpState; priority: string }[] = [];
  private notifyRunning = false;
  private refreshTimer: Timer | undefined;
  /** keepalived's second burst of gratuitous ARPs, `garpMasterDelay` after becoming master. */
  private secondBurstTimer: Timer | undefined;
  private holdTimer: Timer | undefined;
  /** Lower-priority peers advertising as master while we are master, or while we follow a better one. */
  private readonly secondMasters: SecondMasterEpisodes;
  private readonly dropSources = new Map<string, DropSource>();
  private droppedSinceLog = 0;
  private dropLoggedAtMs: number | undefined;
  /** An ARP or NS/NA claim on our VIP waiting one advert interval before it counts (see onNeighbourFrame). */
  private arpClaimTimer: Timer | undefined;
  private stopArp: (() => void) | undefined;
  private link: LinkInfo | undefined;
  private readonly scripts: TrackScript[] = [];
  /** Tracked backends: whether each can serve; undefined until the data plane first reported on it. */
  private readonly backendOk = new Map<string, boolean | undefined>();
  private readonly interfaceUp = new Map<string, boolean>();
  private duplicateHold = false;
  private faultReason: string | null = null;
  /** Set through the admin API: out of the election (FAULT) until cleared, like keepalived's track_file at -254. */
  private maintenance = false;
  /** The VIPs without prefix, in RFC 5952 text for IPv6 (as packets and frames are printed). */
  private readonly vipSet: Set<string>;
  /** 4 or 6: the family of the VIPs, and so of the adverts and the neighbour frames. */
  readonly family: 4 | 6;
  /** The unicast peers, canonical like the sources of received packets. */
  private readonly peers: Set<string>;
  /** A member of this instance's sync group is in fault (set by the engine): the reason, else null. */
  private groupFault: string | null = null;
  /** This instance's own faults, without the group's (what the engine passes on to the group). */
  private ownFaults: string | null = null;
  /** What received adverts are checked against (v2's password), built once rather than per packet. */
  private readonly decodeOptions: DecodeOptions;
  /** Our VIPs sorted and joined, to compare with each advert's list without sorting ours every time. */
  private readonly vipKey: string;
  private readonly stats = {
    sent: 0, received: 0, sendErrors: 0, garps: 0, transitions: 0, maxGapMs: 0,
    /** When the master we follow was last heard (for maxGapMs). */
    lastMasterAdvert: undefined as { from: string; atMs: number } | undefined,
    dropped: {} as Partial<Record<InstanceDropReason, number>>,
    duplicates: 0,
    lastDuplicate: null as VrrpInstanceStatus['duplicateVip']['last'],
    secondMasters: 0,
    lastSecondMaster: null as VrrpInstanceStatus['secondMaster']['last'],
    lastTransition: null as VrrpInstanceStatus['lastTransition'],
  };
  private warnedGap = false;
  private readonly mismatchWarned = new Set<string>();

  constructor(
    readonly cfg: VrrpInstanceConfig,
    private readonly host: VrrpHost,
    private readonly clock: Clock,
    private readonly sink: InstanceSink,
  ) {
    this.link = host.link(cfg.interface);
    if (!this.link) throw new KubehaError('KUBEHA_ERR_VRRP_INTERFACE', `vrrp ${cfg.name}: interface ${cfg.interface} does not exist`, 'check `interface:` against `ip link`');
    this.vipSet = new Set(cfg.vips.map((v) => canonicalIp(v.split('/')[0]!)));
    this.vipKey = [...this.vipSet].sort().join(',');
    this.family = familyOf(cfg.vips[0] ?? '0.0.0.0');
    this.peers = new Set(cfg.unicastPeers.map(canonicalIp));
    const primary = cfg.unicastSrcIp !== undefined ? canonicalIp(cfg.unicastSrcIp) : this.defaultSource(this.link);
    if (!primary) {
      throw new KubehaError('KUBEHA_ERR_VRRP_INTERFACE', `vrrp ${cfg.name}: interface ${cfg.interface} has no ${this.family === 6 ? 'IPv6 link-local' : 'IPv4'} address to send from`,
        this.family === 6 ? 'bring the interface up with IPv6 enabled (it gets a link-local fe80:: address), or set unicastSrcIp' : 'give the interface an address of its own (never only the VIP), or set unicastSrcIp');
    }
    this.machine = new VrrpMachine({
      version: cfg.version,
      priority: cfg.priority,
      advertIntervalCs: Math.max(1, Math.round(cfg.advertInterval / 10)),
      preempt: cfg.preempt,
      preemptDelayMs: cfg.preemptDelay,
      primaryAddress: primary,
    });
    // A tracked backend is down until the data plane reports it can serve (its first passed check):
    // a rebooted node must not take the VIP back before it has seen an apiserver answer.
    for (const b of cfg.track.backends) this.backendOk.set(b, undefined);
    this.secondMasters = new SecondMasterEpisodes(cfg.advertInterval);
    this.decodeOptions = { authPass: cfg.version === 2 ? cfg.authPass : '', anyUnicastHopLimit: this.family === 6 && this.peers.size > 0 };
  }

  /**
   * Where adverts come from without unicastSrcIp. IPv4: the interface's first address that is not a
   * VIP. IPv6: RFC 5798 §5.1.2.1's link-local address for multicast; for unicast, the first global
   * address (a unicast peer list names global addresses, and keepalived checks the sender against
   * it), else the link-local one.
   */
  private defaultSource(link: LinkInfo): string | undefined {
    if (this.family === 4) return link.addresses.find((a) => !this.vipSet.has(a));
    if (this.peers.size > 0) return link.addresses6.find((a) => !this.vipSet.has(a)) ?? link.linkLocal6;
    return link.linkLocal6;
  }

  get name(): string {
    return this.cfg.name;
  }

  /** The address adverts are sent from. */
  get sourceAddress(): string {
    return this.machine.settings.primaryAddress;
  }

  /**
   * Opens the channel, clears stale VIPs (a SIGKILLed predecessor leaves them behind), and starts.
   * `takeover`: the previous process was master and stopped silently for us, so its VIPs are ours
   * (kept, not cleared) and we start as master.
   */
  start(takeover = false): void {
    this.channel = this.host.openChannel(this.cfg.interface, this.sourceAddress, (p) => this.onPacket(p));
    for (const vip of takeover ? [] : this.cfg.vips) {
      if (this.host.removeAddress(this.cfg.interface, vip)) this.sink.log('warn', { event: 'vrrp-stale-vip', instance: this.name, vip }, `vrrp ${this.name}: removed ${vip} left on ${this.cfg.interface} by an earlier run`);
    }
    this.stopArp = this.host.watchNeighbours(this.cfg.interface, this.family, (f) => this.onNeighbourFrame(f));
    for (const s of this.cfg.track.scripts) {
      const script = new TrackScript(s, this.clock, () => this.retrack(`script ${s.name} ${script.ok ? 'passes' : 'fails'}`));
      this.scripts.push(script);
      script.start();
    }
    this.pollLinks();
    this.retrack('start-up'); // so that a failing track starts the instance in FAULT, not BACKUP first
    this.apply(this.machine.start(this.clock.now(), takeover));
  }

  /**
   * RFC 5798 §6.4.3 Shutdown: priority 0 so a backup takes over after Skew_Time; VIPs removed.
   * `silently`: a restart hands the instance to the next process, which starts as master within an
   * advert interval: no priority 0, the VIPs stay.
   */
  stop(silently = false): void {
    for (const s of this.scripts) s.stop();
    this.linkTimer?.cancel();
    this.refreshTimer?.cancel();
    this.secondBurstTimer?.cancel();
    this.holdTimer?.cancel();
    this.arpClaimTimer?.cancel();
    if (!silently) this.apply(this.machine.shutdown(this.clock.now()));
    this.timer?.cancel();
    this.stopArp?.();
    this.channel?.close();
    this.channel = undefined;
  }

  /** The daemon reports whether a tracked backend has a healthy server and a listening frontend. */
  setBackend(name: string, ok: boolean): void {
    if (!this.backendOk.has(name) || this.backendOk.get(name) === ok) return;
    this.backendOk.set(name, ok);
    this.retrack(`backend ${name} ${ok ? 'has healthy servers' : 'has no healthy server or no listening frontend'}`);
  }

  /**
   * Maintenance: on, the instance leaves the election (a master hands the VIP over with priority 0,
   * as on shutdown) and stays out; off, it rejoins (and preempts if its priority says so).
   */
  setMaintenance(on: boolean): void {
    if (this.maintenance === on) return;
    this.maintenance = on;
    this.retrack(on ? 'maintenance set through the admin API' : 'maintenance cleared');
  }

  /** Recomputes the effective priority and the fault from every tracked input (keepalived's weights). */
  private retrack(reason: string): void {
    const now = this.clock.now();
    const faults: string[] = [];
    let weight = 0;
    for (const [name, ok] of this.backendOk) {
      if (ok) continue;
      if (this.cfg.track.backendWeight === 0) faults.push(ok === undefined ? `backend ${name}: waiting for its first passed check` : `backend ${name} down`);
      else weight += this.cfg.track.backendWeight;
    }
    for (const s of this.scripts) {
      const w = s.cfg.weight;
      if (w === 0 && !s.ok) faults.push(`script ${s.cfg.name} failed`);
      else if (w > 0 && s.ok) weight += w; // keepalived: a positive weight is added while the script passes
      else if (w < 0 && !s.ok) weight += w; // and a negative one while it fails
    }
    for (const [name, up] of this.interfaceUp) if (!up) faults.push(`interface ${name} down`);
    if (this.duplicateHold) faults.push('stepped down: duplicate VIP');
    if (this.maintenance) faults.push(MAINTENANCE_FAULT);
    this.ownFaults = faults.length ? faults.join(', ') : null;
    if (this.groupFault) faults.push(this.groupFault);
    // keepalived: an owner (255) is never changed by weights; others stay within 1..254.
    const priority = this.cfg.priority === 255 ? 255 : Math.min(254, Math.max(1, this.cfg.priority + weight));
    const fx = [...this.machine.setPriority(now, priority), ...this.machine.setFault(now, faults.length > 0, faults.length ? faults.join(', ') : reason)];
    this.faultReason = faults.length ? faults.join(', ') : null;
    this.apply(fx);
    this.sink.changed();
  }

  /** This instance's own faults (tracking, maintenance, duplicate VIP), without its sync group's: null when there are none. */
  get ownFault(): string | null {
    return this.ownFaults;
  }

  /** keepalived's vrrp_sync_group: another member of the group is in fault (`reason`), so this one is too; null clears it. */
  setGroupFault(reason: string | null): void {
    if (this.groupFault === reason) return;
    this.groupFault = reason;
    this.retrack(reason ?? 'sync group fault cleared');
  }

  private pollLinks(): void {
    let changed = false;
    for (const name of new Set([this.cfg.interface, ...this.cfg.track.interfaces])) {
      const up = this.host.isLinkUp(name);
      if (this.interfaceUp.get(name) === up) continue;
      changed = true;
      this.interfaceUp.set(name, up);
      // An interface that comes back may have been re-created with another MAC (GARPs carry it).
      if (up && name === this.cfg.interface) this.link = this.host.link(name) ?? this.link;
    }
    if (changed && this.machine.state !== 'initialize') this.retrack('interface state changed');
    this.linkTimer = this.clock.setTimeout(() => this.pollLinks(), Math.min(1000, Math.max(100, this.cfg.advertInterval)));
  }

  /**
   * Counts a dropped packet by reason and by sender. Nothing else happens per packet: no status
   * message to the data plane (the periodic one carries the counters) and at most one log line per
   * DROP_LOG_INTERVAL_MS, so a flood of garbage costs a map update per packet.
   */
  private drop(reason: InstanceDropReason, source: string): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
    const now = this.clock.now();
    let s = this.dropSources.get(source);
    if (!s) {
      if (this.dropSources.size >= MAX_TRACKED_SENDERS) {
        let oldest: DropSource | undefined;
        for (const d of this.dropSources.values()) if (!oldest || d.lastAtMs < oldest.lastAtMs) oldest = d;
        this.dropSources.delete(oldest!.source);
      }
      s = { source, dropped: 0, lastReason: reason, lastAtMs: now };
      this.dropSources.set(source, s);
    }
    s.dropped++;
    s.lastReason = reason;
    s.lastAtMs = now;
    this.droppedSinceLog++;
    if (this.dropLoggedAtMs !== undefined && now - this.dropLoggedAtMs < DROP_LOG_INTERVAL_MS) return;
    this.dropLoggedAtMs = now;
    const top = this.topDropSources().slice(0, 3).map((d) => `${d.source} (${d.dropped}, last ${d.lastReason})`);
    this.sink.log('warn', { event: 'vrrp-dropped', instance: this.name, dropped: this.droppedSinceLog, source, reason, top },
      `vrrp ${this.name}: dropped ${this.droppedSinceLog} packet(s) since the last report, the latest from ${source} (${reason}); most from ${top.join(', ')}`);
    this.droppedSinceLog = 0;
  }

  private topDropSources(): DropSource[] {
    return [...this.dropSources.values()].sort((x, y) => y.dropped - x.dropped);
  }

  private onPacket(packet: Uint8Array): void {
    // A packet for another VRID is another router's business (keepalived ignores it too); one too
    // short to name a VRID is nobody's, and is counted by every instance that hears it.
    const vrid = vridOf(packet);
    if (vrid !== undefined && vrid !== this.cfg.virtualRouterId) return;
    const decoded = parsePacket(packet, this.decodeOptions);
    if (isRejected(decoded)) return this.drop(decoded.rejected, senderOf(packet));
    const { ip, advert } = decoded;
    if (ip.src === this.sourceAddress) return this.drop('own_address', ip.src);
    if (advert.version !== this.cfg.version) return this.drop('version', ip.src);
    // RFC 3768 §7.1: a v2 advert with another interval is dropped (keepalived does the same).
    if (advert.version === 2 && advert.advertIntervalCs !== this.machine.settings.advertIntervalCs) return this.drop('interval', ip.src);
    if (this.peers.size > 0 && !this.peers.has(ip.src)) {
      this.drop('unknown_peer', ip.src);
      this.duplicate('advert', `advert for VRID ${advert.vrid} from ${ip.src}, which is not a configured peer`);
      return;
    }
    const now = this.clock.now();
    const fromOurMaster = this.machine.state === 'backup' && ip.src === this.machine.masterAddress;
    const wasMaster = this.machine.state === 'master';
    const fx = this.machine.receive(now, { src: ip.src, priority: advert.priority, advertIntervalCs: advert.advertIntervalCs });
    const ignored = fx.find((e) => e.kind === 'ignoredAdvert');
    if (ignored) {
      this.drop('second_master', ip.src);
      if (this.secondMasters.heard(ip.src, now)) {
        this.secondMaster(ip.src, advert.priority, `${ip.src} advertises VRID ${advert.vrid} as master with priority ${advert.priority} while ${ignored.master} (priority ${ignored.masterPriority}) is master: its adverts are ignored`);
      }
      return this.apply(fx);
    }
    this.stats.received++;
    this.checkAddresses(ip.src, advert.addresses);
    const last = this.stats.lastMasterAdvert;
    if (fromOurMaster && last?.from === ip.src) this.stats.maxGapMs = Math.max(this.stats.maxGapMs, now - last.atMs);
    if (this.machine.state === 'backup') this.stats.lastMasterAdvert = { from: ip.src, atMs: now };
    if (wasMaster && this.machine.state === 'master' && advert.priority > 0 && advert.priority < this.machine.effectivePriority) {
      // A peer yielding to us can send one more advert before ours reaches it; one still advertising
      // an interval later does not hear us (a one-way path): that is a second master, once per episode.
      if (this.secondMasters.heard(ip.src, now)) {
        this.duplicate('advert', `${ip.src} also claims to be master of VRID ${advert.vrid} (priority ${advert.priority}) and does not yield: it does not hear our adverts`);
      }
    }
    if (this.machine.state === 'backup' && advert.priority > this.machine.effectivePriority) this.checkWeightGap(ip.src, advert.priority);
    this.apply(fx);
  }

  /** A backup ignores a worse router that claims to be master: logged and counted, never followed. */
  private secondMaster(source: string, priority: number, detail: string): void {
    this.stats.secondMasters++;
    this.stats.lastSecondMaster = { atMs: this.clock.now(), source, priority, detail };
    this.sink.log('warn', { event: 'vrrp-second-master', instance: this.name, source, priority, detail }, `vrrp ${this.name}: second master: ${detail}`);
    this.sink.changed();
  }

  /** Warns once per sender whose advert lists other VIPs than ours: the nodes disagree on what they protect. */
  private checkAddresses(src: string, addresses: string[]): void {
    if (this.mismatchWarned.has(src)) return;
    const theirs = [...addresses].sort().join(',');
    if (theirs === this.vipKey) return;
    this.mismatchWarned.add(src);
    this.sink.log('warn', { event: 'vrrp-vips-mismatch', instance: this.name, peer: src, theirs: addresses, ours: [...this.vipSet] },
      `vrrp ${this.name}: ${src} advertises VRID ${this.cfg.virtualRouterId} with VIPs ${addresses.join(' ')}, we have ${[...this.vipSet].join(' ')}: give every node of the group the same vips`);
  }

  /** Warns once when no tracked weight can take the master below us: the VIP could never move here. */
  private checkWeightGap(master: string, theirPriority: number): void {
    if (this.warnedGap) return;
    const canDrop = -(this.cfg.track.backendWeight + this.cfg.track.scripts.reduce((n, s) => n + Math.min(0, s.weight), 0));
    const faultsExist = (this.cfg.track.backends.length > 0 && this.cfg.track.backendWeight === 0) || this.cfg.track.scripts.some((s) => s.weight === 0) || this.cfg.track.interfaces.length > 0;
    const gap = theirPriority - this.cfg.priority;
    if (faultsExist || canDrop > gap) return;
    this.warnedGap = true;
    this.sink.log('warn', { event: 'vrrp-weight-gap', instance: this.name, master, masterPriority: theirPriority, priority: this.cfg.priority, trackWeight: -canDrop },
      `vrrp ${this.name}: master ${master} has priority ${theirPriority}, ${gap} above ours, but the tracked weights (if it tracks what we track) lower it by at most ${canDrop}: the VIP can never move here when its checks fail; make the weights larger than the priority gap, or use weight 0 (fault) [KUBEHA_ERR_VRRP_WEIGHT_GAP]`);
  }

  /**
   * Another MAC claiming our VIP while we are master. A peer that preempts us sends its advert and
   * its gratuitous ARPs back to back, and the ARP can be read first; so a claim counts only if we
   * are still master one advert interval later (the peer's advert has demoted us by then if it was
   * a legitimate takeover). Claims during that wait are the same event.
   */
  private onNeighbourFrame(frame: Uint8Array): void {
    if (this.machine.state !== 'master' || !this.link || this.arpClaimTimer) return;
    const claim = this.family === 6 ? parseNdiscClaim(frame) : parseArp(frame);
    if (!claim || !this.vipSet.has(claim.senderIp)) return;
    if (claim.senderMac === macToString(this.link.mac)) return;
    this.arpClaimTimer = this.clock.setTimeout(() => {
      this.arpClaimTimer = undefined;
      if (this.machine.state === 'master') this.duplicate(this.family === 6 ? 'ndisc' : 'arp', `${this.family === 6 ? 'neighbour' : 'ARP'} ${claim.op} from ${claim.senderMac} claims ${claim.senderIp}, which this master holds`);
    }, this.cfg.advertInterval);
  }

  /** Someone else claims our VIP or VRID: log, count, and follow the configured policy. */
  private duplicate(kind: 'arp' | 'ndisc' | 'advert', detail: string): void {
    this.stats.duplicates++;
    this.stats.lastDuplicate = { atMs: this.clock.now(), kind, detail };
    const stepDown = this.cfg.duplicateVip.policy === 'stepDown' && this.machine.state === 'master';
    this.sink.log('warn', { event: 'vrrp-duplicate-vip', instance: this.name, kind, detail, policy: this.cfg.duplicateVip.policy },
      `vrrp ${this.name}: duplicate VIP: ${detail}${stepDown ? `; stepping down for ${this.cfg.duplicateVip.holdTime}ms` : ''}`);
    if (stepDown) {
      this.duplicateHold = true;
      this.retrack('duplicate VIP');
      this.holdTimer?.cancel();
      this.holdTimer = this.clock.setTimeout(() => {
        this.duplicateHold = false;
        this.retrack('duplicate VIP hold time over');
      }, this.cfg.duplicateVip.holdTime);
    }
    this.sink.changed();
  }

  private onTimer(): void {
    this.timer = undefined;
    this.apply(this.machine.tick(this.clock.now()));
  }

  /** Carries out the state machine's effects, then re-arms the one timer at its next deadline. */
  private apply(fx: VrrpEffect[]): void {
    for (const e of fx) {
      try {
        this.effect(e);
      } catch (err) {
        this.sink.log('error', { event: 'vrrp-effect-failed', instance: this.name, effect: e.kind, err: String(err) }, `vrrp ${this.name}: ${e.kind} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.timer?.cancel();
    const at = this.machine.deadline;
    this.timer = at === undefined ? undefined : this.clock.setTimeout(() => this.onTimer(), at - this.clock.now());
  }

  private effect(e: VrrpEffect): void {
    switch (e.kind) {
      case 'sendAdvert':
        return this.sendAdvert(e.priority);
      case 'addVips':
        for (const vip of this.cfg.vips) this.host.addAddress(this.cfg.interface, vip);
        return;
      case 'removeVips':
        this.refreshTimer?.cancel();
        this.secondBurstTimer?.cancel();
        for (const vip of this.cfg.vips) this.host.removeAddress(this.cfg.interface, vip);
        return;
      case 'garp':
        // A second burst later catches switches and neighbours that missed the first (a port still
        // in STP learning, a busy ARP queue), as keepalived's garp_master_delay does.
        this.secondBurstTimer?.cancel();
        if (this.cfg.garpMasterDelay > 0) this.secondBurstTimer = this.clock.setTimeout(() => this.garpBurst(this.cfg.garpRepeat, 'secondBurstTimer'), this.cfg.garpMasterDelay);
        return this.garpBurst(this.cfg.garpRepeat);
      case 'transition':
        return this.transition(e.from, e.to, e.reason);
      case 'ignoredAdvert':
        return; // counted and reported by onPacket, which alone knows the packet
    }
  }

  private sendAdvert(priority: number): void {
    if (!this.channel) return;
    const dsts = this.peers.size > 0 ? [...this.peers] : [this.family === 6 ? VRRP_MULTICAST_GROUP6 : VRRP_MULTICAST_GROUP];
    for (const dst of dsts) {
      const message = encodeAdvert({
        version: this.cfg.version,
        vrid: this.cfg.virtualRouterId,
        priority,
        advertIntervalCs: this.machine.settings.advertIntervalCs,
        addresses: [...this.vipSet],
        authPass: this.cfg.version === 2 ? this.cfg.authPass : '',
      }, { src: this.sourceAddress, dst });
      try {
        this.channel.send(message, dst);
        this.stats.sent++;
      } catch {
        this.stats.sendErrors++;
      }
    }
  }

  /**
   * `count` gratuitous ARPs (IPv6: unsolicited neighbour advertisements) per VIP, `garpDelay` apart (0: back to back, as keepalived), timed on
   * `slot`. The first burst (refreshTimer) then starts the `garpRefresh` cycle; the second burst
   * (secondBurstTimer) leaves it alone.
   */
  private garpBurst(count: number, slot: 'refreshTimer' | 'secondBurstTimer' = 'refreshTimer'): void {
    if (!this.link || count <= 0 || this.machine.state !== 'master') return;
    for (const vip of this.vipSet) {
      this.host.sendFrame(this.cfg.interface, this.family === 6 ? unsolicitedNaFrame(this.link.mac, vip) : garpFrame(this.link.mac, vip));
      this.stats.garps++;
    }
    if (count > 1) {
      if (this.cfg.garpDelay > 0) this[slot] = this.clock.setTimeout(() => this.garpBurst(count - 1, slot), this.cfg.garpDelay);
      else this.garpBurst(count - 1, slot);
    } else if (slot === 'refreshTimer' && this.cfg.garpRefresh > 0) {
      this.refreshTimer = this.clock.setTimeout(() => this.garpBurst(1), this.cfg.garpRefresh);
    }
  }

  private transition(from: VrrpState, to: VrrpState, reason: string): void {
    const now = this.clock.now();
    this.stats.transitions++;
    this.stats.lastTransition = { atMs: now, from, to, reason };
    const level = to === 'fault' ? 'warn' : 'info';
    this.sink.log(level, { event: 'vrrp-state', instance: this.name, from, to, reason, priority: this.machine.effectivePriority },
      `vrrp ${this.name}: ${from.toUpperCase()} → ${to.toUpperCase()} (${reason})`);
    const command = to === 'master' || to === 'backup' || to === 'fault' ? this.cfg.notify[to] : undefined;
    if (command) this.notify(command, to);
    this.sink.changed();
  }

  /**
   * keepalived's notify: the command runs with the instance, state and priority in env and as
   * arguments. Hooks run one at a time in transition order (each started after the previous one
   * exited or was killed at `notify.timeout`), so the last hook to run is always the one for the
   * state the instance ended in; two racing hooks could otherwise leave a "master" hook's effect
   * after a "backup" one.
   */
  private notify(command: string, state: VrrpState): void {
    this.notifyQueue.push({ command, state, priority: String(this.machine.effectivePriority) });
    if (this.notifyQueue.length > MAX_PENDING_NOTIFY) {
      const dropped = this.notifyQueue.splice(0, this.notifyQueue.length - MAX_PENDING_NOTIFY);
      this.sink.log('warn', { event: 'vrrp-notify-dropped', instance: this.name, states: dropped.map((d) => d.state) },
        `vrrp ${this.name}: ${dropped.length} notify hooks dropped behind a slow one; the newest still run in order`);
    }
    if (!this.notifyRunning) this.runNextNotify();
  }

  private runNextNotify(): void {
    const next = this.notifyQueue.shift();
    this.notifyRunning = next !== undefined;
    if (!next) return;
    const { command, state, priority } = next;
    const child = spawnShell(command, ['INSTANCE', this.name, state.toUpperCase(), priority],
      { ...process.env, KUBEHA_VRRP_INSTANCE: this.name, KUBEHA_VRRP_STATE: state, KUBEHA_VRRP_PRIORITY: priority });
    const killer = this.clock.setTimeout(() => {
      this.sink.log('warn', { event: 'vrrp-notify-failed', instance: this.name, command, code: 'timeout' }, `vrrp ${this.name}: notify ${command} ran past ${this.cfg.notify.timeout} ms and was killed`);
      killShell(child);
    }, this.cfg.notify.timeout);
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      killer.cancel();
      this.runNextNotify();
    };
    child.on('error', (err) => {
      this.sink.log('error', { event: 'vrrp-notify-failed', instance: this.name, command, err: err.message }, `vrrp ${this.name}: notify ${command} failed: ${err.message}`);
      finished();
    });
    child.on('exit', (code) => {
      if (code) this.sink.log('warn', { event: 'vrrp-notify-failed', instance: this.name, command, code }, `vrrp ${this.name}: notify ${command} exited ${code}`);
      finished();
    });
  }

  /** The instance for the state API and metrics. */
  status(): VrrpInstanceStatus {
    const m = this.machine;
    return {
      name: this.name,
      interface: this.cfg.interface,
      virtualRouterId: this.cfg.virtualRouterId,
      version: this.cfg.version,
      state: m.state,
      sinceMs: m.since,
      priority: this.cfg.priority,
      effectivePriority: m.effectivePriority,
      master: m.masterAddress !== undefined && m.masterPriority !== undefined ? { address: m.masterAddress, priority: m.masterPriority } : null,
      vips: this.cfg.vips,
      transitions: this.stats.transitions,
      lastTransition: this.stats.lastTransition,
      adverts: {
        sent: this.stats.sent, received: this.stats.received, dropped: { ...this.stats.dropped }, sendErrors: this.stats.sendErrors, maxGapMs: this.stats.maxGapMs,
        droppedBySource: this.topDropSources().slice(0, SHOWN_DROP_SOURCES).map((d) => ({ ...d })),
      },
      garpsSent: this.stats.garps,
      duplicateVip: { events: this.stats.duplicates, last: this.stats.lastDuplicate },
      secondMaster: { events: this.stats.secondMasters, last: this.stats.lastSecondMaster },
      track: {
        backends: [...this.backendOk].map(([name, ok]) => ({ name, ok: ok ?? false })),
        scripts: this.scripts.map((s) => ({ name: s.cfg.name, ok: s.ok, weight: s.cfg.weight, lastExit: s.lastExit ?? null })),
        interfaces: [...this.interfaceUp].map(([name, up]) => ({ name, up })),
      },
      fault: this.faultReason,
      maintenance: this.maintenance,
    };
  }
}
