import type { Clock, Timer } from '../clock.js';
import type { BackendConfig } from '../config/schema.js';
import { parseHostPort } from '../config/address.js';
import { applyCheck, applyConnectResult, type HealthState } from '../health/health-state.js';
import type { Balancer } from './balancer.js';
import { nextTier, smoothRtt } from './latency-tiers.js';
import { BALANCERS, type BalanceName } from './balancers.js';
import { WaitQueue } from './queue.js';
import { CHECK_HISTORY_LENGTH, Server, type LastCheck } from './server.js';

/** A backend's settings with their units in their names (from the config, where durations are ms). */
export interface PoolSettings {
  balance: BalanceName;
  retries: number;
  maxConnPerServer: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  slowStartMs: number;
  passiveFailures: number;
  onMarkedDown: 'keep' | 'shutdown';
  shutdownJitterMs: number;
  /** TCP_USER_TIMEOUT and early keepalive on the sessions' sockets; 0: the kernel's defaults. */
  tcpUserTimeoutMs: number;
  rise: number;
  fall: number;
}

function settingsOf(cfg: BackendConfig): PoolSettings {
  return {
    balance: cfg.balance,
    retries: cfg.retries,
    maxConnPerServer: cfg.maxConnPerServer,
    connectTimeoutMs: cfg.connectTimeout,
    idleTimeoutMs: cfg.idleTimeout,
    slowStartMs: cfg.slowStart,
    passiveFailures: cfg.passiveFailures,
    onMarkedDown: cfg.onMarkedDown,
    shutdownJitterMs: cfg.shutdownJitter,
    tcpUserTimeoutMs: cfg.tcpUserTimeout,
    rise: cfg.healthCheck.rise,
    fall: cfg.healthCheck.fall,
  };
}

/** A server's up/down change, as reported to listeners (metrics, logs, VRRP tracking). */
export interface ServerTransition {
  pool: ServerPool;
  server: Server;
  up: boolean;
  cause: HealthState['cause'];
  detail: string;
}

/**
 * One backend at run time: its servers, its balancer and its queue. Decides which server a new
 * session gets, keeps health verdicts, and reconciles itself against a new config on reload.
 */
export class ServerPool {
  name: string;
  servers: Server[] = [];
  /** Servers a reload removed that still carry sessions. */
  readonly retired = new Set<Server>();
  settings: PoolSettings;
  readonly queue: WaitQueue;
  private balancer: Balancer;
  private rampTimer: Timer | undefined;
  private readonly listeners: ((t: ServerTransition) => void)[] = [];
  private readonly confirmListeners: ((s: Server) => void)[] = [];
  private readonly changeListeners: (() => void)[] = [];

  constructor(
    cfg: BackendConfig,
    private readonly clock: Clock,
    private readonly rng: () => number = Math.random,
  ) {
    this.name = cfg.name;
    this.settings = settingsOf(cfg);
    this.balancer = BALANCERS[cfg.balance]();
    this.queue = new WaitQueue(clock, cfg.maxQueue, cfg.queueTimeout);
    this.reconcile(cfg);
  }

  /** Registers a callback for every up/down transition. */
  onTransition(fn: (t: ServerTransition) => void): void {
    this.listeners.push(fn);
  }

  /** Registers a callback for a server whose start-up "up" a first passed check confirmed (no transition). */
  onConfirmed(fn: (s: Server) => void): void {
    this.confirmListeners.push(fn);
  }

  /**
   * Registers a callback for any change of which servers take new sessions and how many: health,
   * a first passed check, a weight (slow start, the runtime API), a latency tier, a reload. The
   * in-kernel data plane follows the pool through it.
   */
  onChange(fn: () => void): void {
    this.changeListeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.changeListeners) fn();
  }

  /**
   * Picks a server for a new session, preferring one not in `tried` (retries go to another server
   * when one exists). Returns undefined when no server can take it now.
   */
  pick(clientKey: string, tried: ReadonlySet<Server>): Server | undefined {
    let eligible = this.servers.filter((s) => this.usable(s) && this.hasRoom(s));
    if (tried.size > 0 && this.hasUntried(tried)) eligible = eligible.filter((s) => !tried.has(s));
    return eligible.length > 0 ? this.balancer.pick(eligible, clientKey) : undefined;
  }

  // The questions below only look: `pick` moves the balancer's state (round-robin scores, the
  // leastconn rotation), so asking it "is anyone free?" would count a pick that never happens.

  /** True when a server not in `tried` could take a session now. */
  hasUntried(tried: ReadonlySet<Server>): boolean {
    return this.servers.some((s) => this.usable(s) && this.hasRoom(s) && !tried.has(s));
  }

  /** True when some usable server is only at its connection limit, so waiting in the queue makes sense. */
  hasServerAtLimit(): boolean {
    return this.servers.some((s) => this.usable(s) && !this.hasRoom(s));
  }

  /** Up, with a weight: the balancer may send it sessions (admin state and reloads act through the weight). */
  usable(s: Server): boolean {
    return s.health.up && s.effectiveWeight > 0;
  }

  /** Below `maxConnPerServer` (always, when that is 0). */
  private hasRoom(s: Server): boolean {
    const max = this.settings.maxConnPerServer;
    return max === 0 || s.active < max;
  }

  /** Counts a session onto a server. */
  claim(s: Server): void {
    s.active++;
    s.sessionsTotal++;
  }

  /** Releases a session's slot, lets the oldest queued session in, and lets a retired server go. */
  release(s: Server): void {
    s.active--;
    if (s.removed && s.active === 0) this.retired.delete(s);
    if (this.queue.length > 0) this.queue.resumeNext();
  }

  /** Feeds a data-plane connect outcome into passive health detection. */
  recordConnect(s: Server, connected: boolean, detail: string): void {
    if (!connected) s.connectErrors++;
    this.setHealth(s, applyConnectResult(s.health, connected, this.settings.passiveFailures, this.clock.now()), detail);
  }

  /** Feeds an active check result into the health counter. */
  recordCheck(s: Server, check: LastCheck): void {
    s.lastCheck = check;
    if (check.ok) {
      s.rttMs = smoothRtt(s.rttMs, check.latencyMs);
      const tier = s.latencyTier;
      s.latencyTier = nextTier(s.latencyTier, s.rttMs);
      if (tier !== s.latencyTier && this.settings.balance === 'latency') this.changed();
    }
    s.checkHistory.push({ latencyMs: check.latencyMs, ok: check.ok });
    if (s.checkHistory.length > CHECK_HISTORY_LENGTH) s.checkHistory.shift();
    this.setHealth(s, applyCheck(s.health, check.ok, this.settings, check.atMs), check.detail);
  }

  /**
   * The runtime API (HAProxy's `set server`): an admin state (drain/maint stop new sessions, ready
   * resumes them) and/or a weight. Open sessions are left alone.
   */
  setServer(s: Server, change: { state?: Server['adminState']; weight?: number }): void {
    if (change.state !== undefined) s.adminState = change.state;
    if (change.weight !== undefined) s.weight = change.weight;
    s.refreshWeight(this.settings.slowStartMs, this.clock.now());
    this.drainQueue();
    this.changed();
  }

  private setHealth(s: Server, next: HealthState, detail: string): void {
    const wasUp = s.health.up;
    const confirmed = s.health.cause === 'init' && next.cause !== 'init' && next.up;
    s.health = next;
    if (confirmed) for (const fn of this.confirmListeners) fn(s);
    if (confirmed && next.up === wasUp) this.changed();
    if (next.up === wasUp) return;
    s.refreshWeight(this.settings.slowStartMs, this.clock.now());
    if (next.up) {
      this.scheduleRamp();
      this.drainQueue();
    } else if (this.settings.onMarkedDown === 'shutdown') {
      this.shutdownSessions(s);
    }
    for (const fn of this.listeners) fn({ pool: this, server: s, up: next.up, cause: next.cause, detail });
    this.changed();
  }

  /** Closes a server's sessions, each after a random delay, so their clients do not reconnect in one burst. */
  private shutdownSessions(s: Server): void {
    for (const socket of s.sockets) {
      this.clock.setTimeout(() => socket.destroy(), this.rng() * this.settings.shutdownJitterMs);
    }
  }

  private drainQueue(): void {
    while (this.queue.length > 0 && this.hasUntried(new Set())) {
      if (!this.queue.resumeNext()) break;
    }
  }

  /** Re-reads slow-start weights while any server is ramping, then stops ticking. */
  private scheduleRamp(): void {
    if (this.settings.slowStartMs <= 0 || this.rampTimer) return;
    const stepMs = Math.max(100, Math.min(1000, this.settings.slowStartMs / 50));
    const tick = () => {
      this.rampTimer = undefined;
      const now = this.clock.now();
      let ramping = false;
      let moved = false;
      for (const s of this.servers) {
        if (s.refreshWeight(this.settings.slowStartMs, now)) moved = true;
        if (s.health.up && s.effectiveWeight < s.weight && s.adminState === 'ready') ramping = true;
      }
      if (ramping) this.rampTimer = this.clock.setTimeout(tick, stepMs);
      if (moved) this.changed();
    };
    this.rampTimer = this.clock.setTimeout(tick, stepMs);
  }

  /**
   * Applies a new config for this backend. A server whose name and address are unchanged keeps its
   * health and sessions; a changed or removed one is retired (drains); a new one starts fresh.
   */
  reconcile(cfg: BackendConfig): void {
    this.name = cfg.name;
    const old = this.settings;
    this.settings = settingsOf(cfg);
    if (old.balance !== cfg.balance) this.balancer = BALANCERS[cfg.balance]();
    this.queue.maxLength = cfg.maxQueue;
    this.queue.timeoutMs = cfg.queueTimeout;
    const now = this.clock.now();
    const byKey = new Map(this.servers.map((s) => [`${s.id}\u0000${s.address}`, s]));
    const next: Server[] = [];
    for (const sc of cfg.servers) {
      const hp = parseHostPort(sc.address);
      if (typeof hp === 'string') throw new Error(`unvalidated server address ${sc.address}`);
      const probe = new Server(sc.name, hp.host, hp.port, sc.weight, sc.state, this.settings, now);
      const kept = byKey.get(`${probe.id}\u0000${probe.address}`);
      if (kept) {
        byKey.delete(`${kept.id}\u0000${kept.address}`);
        // What the runtime API changed survives a reload, unless the file changes that key itself.
        if (sc.weight !== kept.configWeight) kept.weight = kept.configWeight = sc.weight;
        if (sc.state !== kept.configState) kept.adminState = kept.configState = sc.state;
        next.push(kept);
      } else next.push(probe);
    }
    for (const gone of byKey.values()) {
      gone.removed = true;
      if (gone.active > 0) this.retired.add(gone);
    }
    this.servers = next;
    for (const s of next) s.refreshWeight(this.settings.slowStartMs, now);
    this.balancer.reconcile(next.map((s) => s.id));
    this.drainQueue();
    this.changed();
  }
}
