import { Histogram, type Registry } from 'prom-client';
import type { ElectionStats } from '../election/election-stats.js';
import { scrapedMetric } from './scraped-metric.js';

/**
 * Registers the kubeha_election_* metrics on `registry`, read from `stats()` at each scrape. Shared
 * by the daemon (vipElection) and `kubeha elect --metrics`.
 */
export function registerElectionMetrics(registry: Registry, stats: () => ElectionStats | undefined): void {
  const one = (name: string, help: string, kind: 'counter' | 'gauge', read: (s: ElectionStats) => number | null) =>
    scrapedMetric(registry, name, help, kind, ['election'], function* () {
      const s = stats();
      const v = s ? read(s) : null;
      if (s && v !== null) yield [{ election: s.name }, v];
    });
  one('kubeha_election_is_leader', '1 while this candidate leads the election, else 0.', 'gauge', (s) => (s.leader ? 1 : 0));
  one('kubeha_election_epoch', 'Fencing epoch of the current term (the leader key\'s create revision); 0 when not leading.', 'gauge', (s) => Number(s.epoch ?? 0));
  one('kubeha_election_transitions_total', 'Times this candidate became or stopped being leader.', 'counter', (s) => s.transitions);
  one('kubeha_election_acquire_seconds', 'Time the last won campaign took, from its start to leadership.', 'gauge', (s) => (s.lastAcquireMs === null ? null : s.lastAcquireMs / 1000));
  one('kubeha_election_keepalive_failures_total', 'Lease keepalives that failed or timed out.', 'counter', (s) => s.keepAliveFailures);
  const keepAlive = new Histogram<'election'>({
    name: 'kubeha_election_keepalive_latency_seconds', help: 'Round trip of lease keepalives to etcd.', labelNames: ['election'], registers: [registry],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    collect() {
      const s = stats();
      if (!s) return;
      for (const ms of s.keepAliveLatencies.splice(0)) keepAlive.observe({ election: s.name }, ms / 1000);
    },
  });
}
