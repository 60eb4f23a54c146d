/** What a balancer sees of a server. Read at pick time, so a balancer holds no copy that can drift. */
export interface BalanceTarget {
  /** Stable identity across reloads (the server name). */
  readonly id: string;
  /** Effective weight now (slow start applied); eligible targets always have > 0. */
  readonly effectiveWeight: number;
  /** Sessions open on this server now. */
  readonly active: number;
  /** The RTT tier from the health checks (`balance: latency`), undefined until a check measured it. */
  readonly latencyTier?: number | undefined;
}

/**
 * How a backend chooses a server (HAProxy's lb_ops). The pool passes only eligible servers (up,
 * ready, below maxConnPerServer, not yet tried for this session); up/down and connection counts are
 * read from the targets, so the interface needs no onUp/onDown/onConnOpen/onConnClose hooks.
 */
export interface Balancer {
  /** Chooses among `eligible` (non-empty) for a client identified by `clientKey`. */
  pick<T extends BalanceTarget>(eligible: readonly T[], clientKey: string): T | undefined;
  /** Forgets state kept for servers that are gone (after a reload). */
  reconcile(ids: readonly string[]): void;
}
