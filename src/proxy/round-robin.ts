import type { BalanceTarget, Balancer } from './balancer.js';

/**
 * Smooth weighted round robin (nginx's): each pick adds every server's weight to its running score
 * and takes the highest, then subtracts the total from the winner. Weights 5:1:1 give
 * a a b a c a a, not a a a a a b c, so no server gets a burst.
 */
export class RoundRobin implements Balancer {
  private readonly score = new Map<string, number>();

  pick<T extends BalanceTarget>(eligible: readonly T[]): T | undefined {
    let best: T | undefined;
    let bestScore = -Infinity;
    let total = 0;
    for (const t of eligible) {
      const s = (this.score.get(t.id) ?? 0) + t.effectiveWeight;
      this.score.set(t.id, s);
      total += t.effectiveWeight;
      if (s > bestScore) {
        best = t;
        bestScore = s;
      }
    }
    if (best) this.score.set(best.id, bestScore - total);
    return best;
  }

  reconcile(ids: readonly string[]): void {
    const keep = new Set(ids);
    for (const id of this.score.keys()) if (!keep.has(id)) this.score.delete(id);
  }
}
