// The health of one server as HAProxy keeps it: a single counter `health` in 0..rise+fall-1.
// The server is up while health >= rise. A passed check moves the counter up, a failed one down;
// crossing `rise` is a transition. Going down resets the counter to 0 (so it takes `rise` passes to
// come back) and going up sets it to rise+fall-1 (so it takes `fall` failures to go down).
// Pure: no timers, no I/O; `now` comes from the caller.

/** What a health verdict was last based on. */
export type HealthCause = 'init' | 'check' | 'passive' | 'reload';

/** The health of one server. */
export interface HealthState {
  health: number;
  up: boolean;
  /** Consecutive failed connects seen by the data plane since the last success. */
  passiveFailures: number;
  /** When `up` last changed (ms on the caller's clock). */
  changedAtMs: number;
  transitions: number;
  cause: HealthCause;
}

/** The rise/fall thresholds of a backend's check. */
export interface HealthThresholds {
  rise: number;
  fall: number;
}

/**
 * The starting state: up, but one failed check away from down (HAProxy's start-up), so a server
 * that is dead at start is out after its first check rather than after `fall` of them.
 */
export function initialHealth(t: HealthThresholds, nowMs: number): HealthState {
  return { health: t.rise, up: true, passiveFailures: 0, changedAtMs: nowMs, transitions: 0, cause: 'init' };
}

function maxHealth(t: HealthThresholds): number {
  return t.rise + t.fall - 1;
}

/**
 * Whether the server's "up" was confirmed by a check (or carried over from a process that had
 * checked it): the start-up state serves traffic, but is not proof that the server can serve.
 */
export function checkedUp(s: HealthState): boolean {
  return s.up && s.cause !== 'init';
}

/** Applies one check result. The first pass confirms the start-up state (cause `check`) without a transition. */
export function applyCheck(s: HealthState, passed: boolean, t: HealthThresholds, nowMs: number): HealthState {
  if (passed) {
    if (s.cause === 'init' && s.up) return { ...s, health: Math.min(maxHealth(t), s.health + 1), cause: 'check' };
    if (s.health >= maxHealth(t)) return s.health === maxHealth(t) ? s : { ...s, health: maxHealth(t) };
    const health = s.health + 1;
    if (!s.up && health >= t.rise) {
      return { ...s, health: maxHealth(t), up: true, changedAtMs: nowMs, transitions: s.transitions + 1, cause: 'check' };
    }
    return { ...s, health };
  }
  if (s.health === 0) return s;
  const health = s.health - 1;
  if (s.up && health < t.rise) {
    return { ...s, health: 0, up: false, changedAtMs: nowMs, transitions: s.transitions + 1, cause: 'check' };
  }
  return { ...s, health };
}

/**
 * Applies one connect outcome seen by the data plane. `limit` consecutive failures mark the server
 * down at once, without waiting for the next check (HAProxy's `observe layer4` + `on-error mark-down`).
 * A limit of 0 turns passive detection off.
 */
export function applyConnectResult(s: HealthState, connected: boolean, limit: number, nowMs: number): HealthState {
  if (connected) return s.passiveFailures === 0 ? s : { ...s, passiveFailures: 0 };
  const passiveFailures = s.passiveFailures + 1;
  if (limit > 0 && s.up && passiveFailures >= limit) {
    return { ...s, health: 0, up: false, passiveFailures, changedAtMs: nowMs, transitions: s.transitions + 1, cause: 'passive' };
  }
  return { ...s, passiveFailures };
}

/** The check intervals of a backend, in milliseconds. */
export interface CheckIntervals {
  intervalMs: number;
  fastIntervalMs: number;
  downIntervalMs: number;
}

/**
 * How long until the next check: `downInterval` while fully down, `fastInterval` while in
 * transition (a failure seen while up, or a pass seen while down), `interval` while fully up.
 */
export function nextCheckDelayMs(s: HealthState, t: HealthThresholds, iv: CheckIntervals): number {
  if (!s.up && s.health === 0) return iv.downIntervalMs;
  if (s.up && s.health === maxHealth(t)) return iv.intervalMs;
  return iv.fastIntervalMs;
}

/**
 * The weight a server gets while it ramps up after recovering (`slowStart`): it grows linearly
 * from 1 to `weight` over `slowStartMs`, so a server that just came back is not flooded.
 * Not applied after the start-up state: only a real recovery ramps.
 */
export function effectiveWeight(weight: number, s: HealthState, slowStartMs: number, nowMs: number): number {
  if (!s.up || weight === 0) return 0;
  if (slowStartMs <= 0 || s.cause === 'init' || s.transitions === 0) return weight;
  const elapsed = nowMs - s.changedAtMs;
  if (elapsed >= slowStartMs) return weight;
  return Math.max(1, Math.ceil((weight * elapsed) / slowStartMs));
}
