import type { Socket } from 'node:net';
import { effectiveWeight, initialHealth, type HealthState, type HealthThresholds } from '../health/health-state.js';
import type { BalanceTarget } from './balancer.js';

/** The operator's say over a server (HAProxy's admin state): `drain` takes no new sessions, `maint` none at all. */
export type AdminState = 'ready' | 'drain' | 'maint';

/** The last active check of a server. */
export interface LastCheck {
  ok: boolean;
  latencyMs: number;
  detail: string;
  atMs: number;
}

/** How many recent checks a server remembers for the dashboard. */
export const CHECK_HISTORY_LENGTH = 40;

/** One backend server at run time: its health, its sessions and its counters. */
export class Server implements BalanceTarget {
  health: HealthState;
  adminState: AdminState;
  effectiveWeight: number;
  active = 0;
  sessionsTotal = 0;
  bytesIn = 0;
  bytesOut = 0;
  connectErrors = 0;
  retries = 0;
  /** Set once a reload removed this server: it takes no new sessions and leaves when its last one ends. */
  removed = false;
  lastCheck: LastCheck | undefined;
  /** The checks' RTT, smoothed, and the tier it puts the server in (`balance: latency`); undefined until a check passed. */
  rttMs: number | undefined;
  latencyTier: number | undefined;
  /** The latest checks, oldest first (the dashboard's sparkline), at most CHECK_HISTORY_LENGTH. */
  readonly checkHistory: { latencyMs: number; ok: boolean }[] = [];
  /** Upstream sockets of the sessions on this server, for `onMarkedDown: shutdown` and drain. */
  readonly sockets = new Set<Socket>();
  /** Weight and admin state as the config file last said; a reload applies only what it changes. */
  configWeight: number;
  configState: AdminState;

  constructor(
    readonly id: string,
    readonly host: string,
    readonly port: number,
    public weight: number,
    adminState: AdminState,
    thresholds: HealthThresholds,
    nowMs: number,
  ) {
    this.adminState = adminState;
    this.configWeight = weight;
    this.configState = adminState;
    this.health = initialHealth(thresholds, nowMs);
    this.effectiveWeight = weight;
  }

  /** `host:port` as configured. */
  get address(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  /** Recomputes the weight the balancer sees (slow start), returning whether it changed. */
  refreshWeight(slowStartMs: number, nowMs: number): boolean {
    const w = this.adminState === 'ready' && !this.removed ? effectiveWeight(this.weight, this.health, slowStartMs, nowMs) : 0;
    const changed = w !== this.effectiveWeight;
    this.effectiveWeight = w;
    return changed;
  }
}
