import type { BalanceTarget, Balancer } from './balancer.js';
import { RoundRobin } from './round-robin.js';

// `balance: latency` (KubePrism's idea): the health checks' round-trip time puts every server in a
// tier, and new sessions go round robin among the usable servers of the lowest tier; the others
// wait as hot spares. The tier's upper edges are a half-decade apart (1, 3, 10, 30, 100, 300 ms,
// 1 s): KubePrism's decades (0.1, 1, 10, 100 ms) put a server in the same rack (~0.3 ms) and one in
// the next zone (~2-5 ms for an https /readyz, which includes a TLS handshake) in neighbouring tiers
// only by luck of where the handshake lands; half-decades separate them reliably and still leave a
// band of 3x inside a tier, so ordinary jitter does not reorder servers.

/** The upper edge of each tier in ms; a server slower than the last edge is in the last tier. */
export const TIER_EDGES_MS: readonly number[] = [1, 3, 10, 30, 100, 300, 1000];
/** How far past an edge the smoothed RTT must go before a server changes tier (hysteresis). */
export const TIER_HYSTERESIS = 0.25;
/** The weight of a new sample in the smoothed RTT (an exponentially weighted moving average). */
export const RTT_SMOOTHING = 0.3;

/** The tier of an RTT without hysteresis: the first edge it is below. */
export function rawTier(rttMs: number, edges: readonly number[] = TIER_EDGES_MS): number {
  const i = edges.findIndex((edge) => rttMs < edge);
  return i < 0 ? edges.length : i;
}

/**
 * The tier after a new smoothed RTT. A server leaves its tier only when the RTT is beyond the tier's
 * band widened by {@link TIER_HYSTERESIS} on both sides, so an RTT that wanders around an edge keeps
 * the server where it is.
 */
export function nextTier(current: number | undefined, rttMs: number, edges: readonly number[] = TIER_EDGES_MS, band = TIER_HYSTERESIS): number {
  if (current === undefined) return rawTier(rttMs, edges);
  const lower = current === 0 ? 0 : edges[current - 1]! * (1 - band);
  const upper = current >= edges.length ? Infinity : edges[current]! * (1 + band);
  return rttMs >= lower && rttMs < upper ? current : rawTier(rttMs, edges);
}

/** The smoothed RTT after a sample. */
export function smoothRtt(previous: number | undefined, sampleMs: number, alpha = RTT_SMOOTHING): number {
  return previous === undefined ? sampleMs : previous + alpha * (sampleMs - previous);
}

/**
 * Round robin among the eligible servers of the lowest tier. A server not yet measured (just added
 * by discovery or a reload) counts as slower than every measured one, so it takes sessions only
 * when no measured server can: its first check places it within one check interval.
 */
export class LatencyTiers implements Balancer {
  private readonly rr = new RoundRobin();

  pick<T extends BalanceTarget>(eligible: readonly T[]): T | undefined {
    const tierOf = (t: T) => t.latencyTier ?? Infinity;
    let best = Infinity;
    for (const t of eligible) best = Math.min(best, tierOf(t));
    return this.rr.pick(eligible.filter((t) => tierOf(t) === best));
  }

  reconcile(ids: readonly string[]): void {
    this.rr.reconcile(ids);
  }
}
