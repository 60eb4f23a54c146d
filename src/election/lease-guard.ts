// When a leader must stop believing it leads: the timing decisions of a campaign, pure.
//
// etcd expires a lease TTL seconds after the last keepalive it *received*; we only know when we
// *sent* it, which is earlier. So a lease renewed by a keepalive sent at time s cannot expire before
// s + TTL, and a leader that steps down at s + TTL - margin, unless a later keepalive was acked,
// can never overlap a successor (who needs the lease to expire first). Clocks only need equal rates.

/** The timing settings of a campaign. */
export interface LeaseTiming {
  ttlMs: number;
  /** Step down this long before the earliest moment the lease could expire. */
  marginMs: number;
}

/** Keepalives go out every TTL/3, as etcd's own clients do: two may be lost before the margin bites. */
export function keepAliveIntervalMs(t: LeaseTiming): number {
  return t.ttlMs / 3;
}

/** Checks that the margin leaves room for keepalives; returns a problem or undefined. */
export function checkTiming(t: LeaseTiming): string | undefined {
  if (t.ttlMs < 2000) return `a TTL of ${t.ttlMs}ms is below etcd's minimum of 2s (it would round it up, and leaders would step down needlessly on every etcd leader change)`;
  if (t.marginMs <= 0 || t.marginMs >= t.ttlMs - keepAliveIntervalMs(t)) return `the step-down margin must be above 0 and below TTL - TTL/3 (${Math.round(t.ttlMs - keepAliveIntervalMs(t))}ms)`;
  return undefined;
}

/** The deadline of one lease, moved forward only by acknowledged keepalives. */
export class LeaseGuard {
  /** Until when (ms, monotonic) this lease certainly exists; step down at this time. */
  private validUntilMs: number;
  private lost = false;

  constructor(
    readonly timing: LeaseTiming,
    /** When the grant request was sent, and the TTL etcd granted (ms). */
    grantSentAtMs: number,
    grantedTtlMs: number,
  ) {
    this.validUntilMs = grantSentAtMs + grantedTtlMs - timing.marginMs;
  }

  /** The moment to step down unless a keepalive is acknowledged before. */
  get deadlineMs(): number {
    return this.lost ? -Infinity : this.validUntilMs;
  }

  /**
   * A keepalive sent at `sentAtMs` was answered with `ttlMs` (0: the lease is gone). Answers to
   * requests sent after the deadline do not revive the lease: the term already ended.
   */
  onKeepAliveAck(sentAtMs: number, ttlMs: number): void {
    if (this.lost) return;
    if (ttlMs <= 0) {
      this.lost = true;
      return;
    }
    if (sentAtMs >= this.validUntilMs) {
      this.lost = true;
      return;
    }
    this.validUntilMs = Math.max(this.validUntilMs, sentAtMs + ttlMs - this.timing.marginMs);
  }

  /** Whether the lease may still be relied on at `nowMs`. */
  valid(nowMs: number): boolean {
    return !this.lost && nowMs < this.validUntilMs;
  }

  /** Marks the lease lost (revoked, resigned, key deleted). */
  expire(): void {
    this.lost = true;
  }
}
