import type { BalanceTarget, Balancer } from './balancer.js';

/**
 * Least connections, weighted: the server with the fewest sessions per unit of weight. Ties rotate
 * so that equal servers take turns (long-lived watches would otherwise pile onto the first one).
 */
export class LeastConn implements Balancer {
  private rotation = 0;

  pick<T extends BalanceTarget>(eligible: readonly T[]): T | undefined {
    const n = eligible.length;
    if (n === 0) return undefined;
    const start = this.rotation++ % n;
    let best: T | undefined;
    let bestLoad = Infinity;
    for (let i = 0; i < n; i++) {
      const t = eligible[(start + i) % n] as T;
      const load = t.active / t.effectiveWeight;
      if (load < bestLoad) {
        best = t;
        bestLoad = load;
      }
    }
    return best;
  }

  reconcile(): void {}
}
