// The VRRP router state machine of RFC 5798 §6.4 (and RFC 3768 §6.4 for v2), pure. It owns no timer:
// like keepalived's `sands`, it stores deadlines and exposes the earliest one; the driver calls
// `tick(now)` when that time comes. Every input returns the effects to carry out, as data.
import { addressRank } from './packet.js';

/** The states of RFC 5798 §6.4, plus keepalived's FAULT (a tracked interface or check failed). */
export type VrrpState = 'initialize' | 'backup' | 'master' | 'fault';

/** What the driver must do, in order. */
export type VrrpEffect =
  | { kind: 'transition'; from: VrrpState; to: VrrpState; reason: string }
  | { kind: 'sendAdvert'; priority: number }
  | { kind: 'addVips' }
  | { kind: 'removeVips' }
  | { kind: 'garp' }
  /**
   * A backup ignored an advert from `src`: it is worse than this router (lower priority, or equal and
   * a lower address) while a better master (`master`, `masterPriority`) is alive. A misconfigured or
   * stale peer, or a forger: the driver counts it and reports a second master.
   */
  | { kind: 'ignoredAdvert'; src: string; priority: number; master: string; masterPriority: number };

/** The settings the state machine needs (a subset of an instance's config). */
export interface MachineSettings {
  version: 2 | 3;
  /** The configured priority, 1..255 (255 = address owner). */
  priority: number;
  /** Our advertisement interval in centiseconds. */
  advertIntervalCs: number;
  preempt: boolean;
  preemptDelayMs: number;
  /** This router's primary address: the tie-breaker between equal priorities. */
  primaryAddress: string;
}

/** A valid advertisement of our VRID, as the driver hands it over. */
export interface AdvertIn {
  src: string;
  priority: number;
  advertIntervalCs: number;
}

const csToMs = (cs: number) => cs * 10;

/**
 * After a pause (a VM stun, SIGSTOP, a stalled thread) longer than any backup waits, a master that
 * finds a backup took over yields to it instead of taking the VIP straight back (a second move
 * within a second), and holds off preempting for this long, or preemptDelay if longer.
 */
export const PAUSE_HOLD_DOWN_MS = 10_000;
/** How long a master that just resumed from such a pause waits (for queued adverts to be read) before it advertises again. */
const PAUSE_CHECK_MS = 5;

/** One virtual router instance's protocol state. */
export class VrrpMachine {
  state: VrrpState = 'initialize';
  /** The priority we advertise: configured plus track weights (set by the driver). */
  effectivePriority: number;
  /** RFC 5798 §6.1: the interval learnt from the master (v3); ours in v2. */
  masterAdverIntervalCs: number;
  /** The address and priority of the master we last accepted (backup), or ours (master). */
  masterAddress: string | undefined;
  masterPriority: number | undefined;
  /** When the state was entered (ms). */
  since = 0;
  /** Deadlines in ms on the driver's clock; undefined = not armed. */
  private adverAt: number | undefined;
  private masterDownAt: number | undefined;
  private preemptAt: number | undefined;
  /** When a master last answered a lower-priority master at once (see receiveAsMaster). */
  private answeredAt: number | undefined;
  /** When this master last sent an advertisement (a pause shows as a long silence). */
  private lastSentAt = 0;
  /** A master resumed from a long pause and holds its next advert until this time (see tick). */
  private pauseCheckUntil: number | undefined;
  private faulted = false;
  /** Why the driver said we are faulted (for the start-up transition). */
  private faultReason = '';
  /** Our primary address as a number, for the tie-break: parsed once, not per advert. */
  private readonly ourAddress: bigint;

  constructor(readonly settings: MachineSettings) {
    this.effectivePriority = settings.priority;
    this.ourAddress = addressRank(settings.primaryAddress);
    this.masterAdverIntervalCs = settings.advertIntervalCs;
  }

  /** RFC 5798 §6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256 (v2: (256 - Priority) / 256 s). */
  skewMs(): number {
    const p = this.effectivePriority;
    if (this.settings.version === 2) return ((256 - p) * 1000) / 256;
    return ((256 - p) * csToMs(this.masterAdverIntervalCs)) / 256;
  }

  /** RFC 5798 §6.1: Master_Down_Interval = (3 * Master_Adver_Interval) + Skew_Time. */
  masterDownIntervalMs(): number {
    const interval = this.settings.version === 2 ? this.settings.advertIntervalCs : this.masterAdverIntervalCs;
    return 3 * csToMs(interval) + this.skewMs();
  }

  /** The earliest deadline, or undefined when nothing is armed: the driver ticks at that time. */
  get deadline(): number | undefined {
    const times = [this.adverAt, this.masterDownAt, this.preemptAt].filter((t): t is number => t !== undefined);
    return times.length ? Math.min(...times) : undefined;
  }

  /**
   * RFC 5798 §6.4.1: the Startup event. `takeover`: this process replaces one that was master a
   * moment ago (a restart handing over its sockets and state), so it starts as master at once, as
   * keepalived keeps its state across a reload, instead of waiting a Master_Down_Interval that would
   * let a backup take the VIP.
   */
  start(now: number, takeover = false): VrrpEffect[] {
    if (this.state !== 'initialize') return [];
    if (this.settings.preemptDelayMs > 0) this.preemptAt = now + this.settings.preemptDelayMs;
    if (this.faulted) return this.enter(now, 'fault', `at start-up: ${this.faultReason}`);
    if (takeover) return this.becomeMaster(now, 'taking over as master from the previous process');
    // RFC 5798 §6.4.1: "If the Priority = 255 ... transition to the Master state", else Backup.
    if (this.effectivePriority === 255) return this.becomeMaster(now, 'priority 255: address owner');
    return this.becomeBackup(now, 'start-up');
  }

  /** Fires every deadline that is due at `now`. */
  tick(now: number): VrrpEffect[] {
    const fx: VrrpEffect[] = [];
    if (this.state === 'master' && this.adverAt !== undefined && now >= this.adverAt) {
      if (this.pausedTooLong(now) && this.pauseCheckUntil === undefined) {
        // Silent for longer than a backup waits: one may have taken over, and its adverts are queued
        // on our socket. Read them first (receiveAsMaster yields to it), rather than advertise now
        // and make it yield back to us, which would move the VIP twice.
        this.pauseCheckUntil = now + PAUSE_CHECK_MS;
        this.adverAt = this.pauseCheckUntil;
        return fx;
      }
      // RFC 5798 §6.4.3: "If the Adver_Timer fires ... Send an ADVERTISEMENT; Reset the Adver_Timer".
      this.pauseCheckUntil = undefined;
      fx.push(this.advert(now));
      this.adverAt = now + csToMs(this.settings.advertIntervalCs);
    }
    if (this.state === 'backup') {
      // RFC 5798 §6.4.2: "If the Master_Down_Timer fires ... transition to the Master state".
      if (this.masterDownAt !== undefined && now >= this.masterDownAt) return this.becomeMaster(now, 'master down timer expired');
      if (this.preemptAt !== undefined && now >= this.preemptAt) {
        if (this.mayPreempt(now, this.masterPriority)) return this.becomeMaster(now, `preempt delay over, preempting priority ${this.masterPriority} master`);
        this.preemptAt = undefined;
      }
    }
    return fx;
  }

  /** An advertisement for our VRID arrived (already validated by the driver). */
  receive(now: number, a: AdvertIn): VrrpEffect[] {
    if (this.state === 'backup') return this.receiveAsBackup(now, a);
    if (this.state === 'master') return this.receiveAsMaster(now, a);
    return [];
  }

  private receiveAsBackup(now: number, a: AdvertIn): VrrpEffect[] {
    if (a.src !== this.masterAddress && this.betterMasterAlive(now) && this.outranks(this.effectivePriority, this.ourAddress, a.priority, addressRank(a.src))) {
      // A router worse than us (a priority-0 "I resign" included) claims to be master while a better
      // one is alive and advertising: RFC 5798 §6.4.2 discards it (with preemption on); so do we,
      // whether or not we preempt, and without touching the Master_Down_Timer or the learnt
      // interval. Only the live master's own adverts (a lowered priority included) can let us preempt it.
      return [{ kind: 'ignoredAdvert', src: a.src, priority: a.priority, master: this.masterAddress!, masterPriority: this.masterPriority! }];
    }
    if (a.priority === 0) {
      // RFC 5798 §6.4.2: "If the Priority is zero, then Set the Master_Down_Timer to Skew_Time".
      this.masterDownAt = now + this.skewMs();
      this.masterPriority = 0;
      return [];
    }
    if (this.mayPreempt(now, a.priority)) {
      // RFC 5798 §6.4.2 discards the advert and takes over when Master_Down_Timer fires. kubeha takes
      // over at once instead: the old master yields as soon as it hears our higher priority
      // (§6.4.3), so a demoted master hands over in one advert, not three and a skew. This is only
      // reached when no better master is alive (above): a stranger cannot make us flap.
      this.masterAddress = a.src;
      this.masterPriority = a.priority;
      return this.becomeMaster(now, `preempting lower priority ${a.priority} master ${a.src}`);
    }
    // RFC 5798 §6.4.2: "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is greater
    // than or equal to the local Priority, then: Reset the Master_Down_Timer to Master_Down_Interval".
    // (A lower-priority master inside our preempt delay is accepted the same way until the delay ends.)
    if (a.priority >= this.effectivePriority) this.preemptAt = undefined;
    if (this.settings.version === 3) this.masterAdverIntervalCs = a.advertIntervalCs; // "Set Master_Adver_Interval to Adver Interval contained in the ADVERTISEMENT"
    this.masterAddress = a.src;
    this.masterPriority = a.priority;
    this.masterDownAt = now + this.masterDownIntervalMs();
    return [];
  }

  private receiveAsMaster(now: number, a: AdvertIn): VrrpEffect[] {
    // RFC 5798 §6.4.3: "If the Priority is zero, then: Send an ADVERTISEMENT; Reset the Adver_Timer".
    if (a.priority === 0) return this.answer(now);
    const theirs = addressRank(a.src);
    // RFC 5798 §6.4.3: "If the Priority in the ADVERTISEMENT is greater than the local Priority, or the
    // Priority is equal and the primary IPvX Address of the sender is greater than the local primary
    // IPvX Address, then: Cancel Adver_Timer; Set Master_Adver_Interval; Transition to Backup".
    if (this.outranks(a.priority, theirs, this.effectivePriority, this.ourAddress)) {
      if (this.settings.version === 3) this.masterAdverIntervalCs = a.advertIntervalCs;
      this.masterAddress = a.src;
      this.masterPriority = a.priority;
      return this.becomeBackup(now, `higher priority ${a.priority} master ${a.src}`);
    }
    if (theirs === this.ourAddress) return []; // our own advert looped back
    if (this.pausedTooLong(now)) {
      // We were silent for longer than 3 intervals (paused), so this router took over as RFC 5798
      // says it must. Deviation from §6.4.3 (which discards a lower-priority advert): taking the VIP
      // straight back would move it twice within a second, and a node that stalls once may stall
      // again; yield, and preempt only after a hold-down.
      const silentMs = Math.round(now - this.lastSentAt);
      const holdMs = Math.max(this.settings.preemptDelayMs, PAUSE_HOLD_DOWN_MS);
      const fx = this.becomeBackup(now, `silent for ${silentMs} ms (paused?): ${a.src} took over; not preempting it for ${holdMs} ms`);
      if (this.settings.version === 3) this.masterAdverIntervalCs = a.advertIntervalCs;
      this.masterAddress = a.src;
      this.masterPriority = a.priority;
      this.masterDownAt = now + this.masterDownIntervalMs();
      this.preemptAt = now + holdMs;
      return fx;
    }
    // A lower-priority router thinks it is master (start-up, or a healed partition): answer at once,
    // as keepalived does, so it yields within one round trip instead of at our next advert.
    return this.answer(now);
  }

  /** A master that has not advertised for 3 intervals: every backup may have declared it down. */
  private pausedTooLong(now: number): boolean {
    return now - this.lastSentAt > 3 * csToMs(this.settings.advertIntervalCs);
  }

  /** An advertisement at our priority, noted as sent now. */
  private advert(now: number): VrrpEffect {
    this.lastSentAt = now;
    return { kind: 'sendAdvert', priority: this.effectivePriority };
  }

  /**
   * A master's advert out of turn, resetting the Adver_Timer. At most once a quarter interval: a
   * peer (or a forger) that floods adverts must not make us flood the segment too.
   */
  private answer(now: number): VrrpEffect[] {
    const intervalMs = csToMs(this.settings.advertIntervalCs);
    if (this.answeredAt !== undefined && now - this.answeredAt < intervalMs / 4) return [];
    this.answeredAt = now;
    this.adverAt = now + intervalMs;
    return [this.advert(now)];
  }

  /** Whether the master we follow is better than us and was heard within the Master_Down_Interval. */
  private betterMasterAlive(now: number): boolean {
    const { masterAddress, masterPriority } = this;
    if (masterAddress === undefined || masterPriority === undefined || masterPriority === 0) return false;
    if (this.masterDownAt === undefined || now >= this.masterDownAt) return false;
    return this.outranks(masterPriority, addressRank(masterAddress), this.effectivePriority, this.ourAddress);
  }

  /**
   * RFC 5798 §6.4.3's order between two routers: the higher priority wins, and between equal
   * priorities the higher primary address.
   */
  private outranks(priority: number, address: bigint, otherPriority: number, otherAddress: bigint): boolean {
    return priority > otherPriority || (priority === otherPriority && address > otherAddress);
  }

  /** The driver's tracked state changed the effective priority (configured + weights). */
  setPriority(now: number, priority: number): VrrpEffect[] {
    if (priority === this.effectivePriority) return [];
    this.effectivePriority = priority;
    if (this.state === 'master') {
      // Tell the backups now: one with preempt and a higher priority takes over at this advert.
      this.adverAt = now + csToMs(this.settings.advertIntervalCs);
      return [this.advert(now)];
    }
    if (this.state === 'backup' && this.mayPreempt(now, this.masterPriority)) {
      return this.becomeMaster(now, `priority rose to ${priority}, above the master's ${this.masterPriority}`);
    }
    return [];
  }

  /** A tracked interface or a weight-0 check failed (true) or recovered (false): keepalived's FAULT. */
  setFault(now: number, fault: boolean, reason: string): VrrpEffect[] {
    if (fault === this.faulted) return [];
    this.faulted = fault;
    this.faultReason = reason;
    if (this.state === 'initialize') return [];
    if (fault) return this.enter(now, 'fault', reason);
    return this.becomeBackup(now, `fault cleared: ${reason}`);
  }

  /** RFC 5798 §6.4.3 Shutdown: a master sends priority 0 so a backup takes over after Skew_Time. */
  shutdown(now: number): VrrpEffect[] {
    if (this.state === 'initialize') return [];
    return this.enter(now, 'initialize', 'shutdown');
  }

  private wouldPreempt(theirPriority: number | undefined): boolean {
    return this.settings.preempt && theirPriority !== undefined && theirPriority > 0 && theirPriority < this.effectivePriority;
  }

  /**
   * keepalived's preempt_delay: preempt a lower-priority master only once the delay since start-up, or
   * since that master was first seen, is over. Arms the delay on first sight. A hold-down after a
   * pause (receiveAsMaster) holds preemption off the same way, whatever the delay.
   */
  private mayPreempt(now: number, theirPriority: number | undefined): boolean {
    if (!this.wouldPreempt(theirPriority)) return false;
    if (this.preemptAt === undefined) {
      if (this.settings.preemptDelayMs <= 0) return true;
      this.preemptAt = now + this.settings.preemptDelayMs;
      return false;
    }
    if (now < this.preemptAt) return false; // the delay, or the hold-down after a pause
    this.preemptAt = undefined;
    return true;
  }

  private becomeMaster(now: number, reason: string): VrrpEffect[] {
    // RFC 5798 §6.4.1/§6.4.2: "Send an ADVERTISEMENT; Broadcast a gratuitous ARP ...; Set the Adver_Timer".
    const fx = this.enter(now, 'master', reason);
    this.masterAddress = this.settings.primaryAddress;
    this.masterPriority = this.effectivePriority;
    this.adverAt = now + csToMs(this.settings.advertIntervalCs);
    this.pauseCheckUntil = undefined;
    return [...fx, { kind: 'addVips' }, this.advert(now), { kind: 'garp' }];
  }

  private becomeBackup(now: number, reason: string): VrrpEffect[] {
    const fx = this.enter(now, 'backup', reason);
    // RFC 5798 §6.4.1: "Set Master_Adver_Interval to Advertisement_Interval; Set the Master_Down_Timer
    // to Master_Down_Interval" (from Master, §6.4.3 keeps the interval learnt from the new master).
    if (reason === 'start-up' || reason.startsWith('fault cleared')) {
      this.masterAdverIntervalCs = this.settings.advertIntervalCs;
      this.masterAddress = undefined;
      this.masterPriority = undefined;
    }
    this.masterDownAt = now + this.masterDownIntervalMs();
    return fx;
  }

  /** Leaves the current state (releasing what it held) and enters `to`. */
  private enter(now: number, to: VrrpState, reason: string): VrrpEffect[] {
    const from = this.state;
    const fx: VrrpEffect[] = [];
    if (from === 'master' && to !== 'backup') fx.push({ kind: 'sendAdvert', priority: 0 }); // §6.4.3 Shutdown, and keepalived on FAULT
    if (from === 'master') fx.push({ kind: 'removeVips' });
    this.state = to;
    this.since = now;
    this.adverAt = undefined;
    this.masterDownAt = undefined;
    if (to !== 'backup') this.preemptAt = undefined;
    if (to !== 'backup') {
      this.masterAddress = undefined;
      this.masterPriority = undefined;
    }
    return [{ kind: 'transition', from, to, reason }, ...fx];
  }
}
