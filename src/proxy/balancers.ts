import type { Balancer } from './balancer.js';
import { LatencyTiers } from './latency-tiers.js';
import { LeastConn } from './least-conn.js';
import { RoundRobin } from './round-robin.js';
import { SourceHash } from './source-hash.js';

/** The `balance` values of the config, each with the class that implements it (the one place that maps them). */
export const BALANCERS = {
  roundrobin: () => new RoundRobin(),
  leastconn: () => new LeastConn(),
  source: () => new SourceHash(),
  latency: () => new LatencyTiers(),
} satisfies Record<string, () => Balancer>;

export type BalanceName = keyof typeof BALANCERS;
