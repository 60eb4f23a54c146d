import type { BalanceTarget, Balancer } from './balancer.js';

/** A 53-bit string hash (cyrb53): fast, well mixed, deterministic across processes. */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Source affinity by weighted rendezvous hashing (highest random weight): each (client, server)
 * pair gets a score and the client goes to the best one. Adding or removing a server moves only the
 * clients that win or lose that server; everybody else stays put, which a modulo hash cannot do.
 */
export class SourceHash implements Balancer {
  pick<T extends BalanceTarget>(eligible: readonly T[], clientKey: string): T | undefined {
    let best: T | undefined;
    let bestScore = -Infinity;
    for (const t of eligible) {
      // u in (0, 1); -ln(u) is exponential, so weight / -ln(u) gives each server a share ∝ weight.
      const u = (hash53(`${clientKey}\u0000${t.id}`) + 1) / 9007199254740993;
      const score = t.effectiveWeight / -Math.log(u);
      if (score > bestScore) {
        best = t;
        bestScore = score;
      }
    }
    return best;
  }

  reconcile(): void {}
}
