import type { CampaignEvent } from './campaign.js';

/** ElectionStats as the state API serves it. */
export type ElectionStatsJson = Omit<ElectionStats, 'keepAliveLatencies' | 'onEvent' | 'elected' | 'lost' | 'toJSON'>;

/** One candidate's election figures, for the state API and the kubeha_election_* metrics. */
export class ElectionStats {
  leader = false;
  epoch: string | null = null;
  transitions = 0;
  lastAcquireMs: number | null = null;
  lastKeepAliveMs: number | null = null;
  keepAliveFailures = 0;
  lastLoss: string | null = null;
  /** Out of the election through the admin API (VIP election only): no campaign until cleared. */
  maintenance = false;
  /** Keepalive round trips (ms) not yet scraped: the metrics histogram drains them. */
  readonly keepAliveLatencies: number[] = [];

  constructor(
    readonly name: string,
    readonly identity: string,
  ) {}

  /** Feeds a campaign event in. */
  onEvent(e: CampaignEvent): void {
    if (e.kind === 'keepalive') {
      if (!e.ok) this.keepAliveFailures++;
      else {
        this.lastKeepAliveMs = e.latencyMs;
        if (this.keepAliveLatencies.length < 10_000) this.keepAliveLatencies.push(e.latencyMs);
      }
    } else if (e.kind === 'elected') {
      this.lastAcquireMs = e.waitedMs;
    }
  }

  /** This candidate leads from now on, with `epoch`. */
  elected(epoch: bigint): void {
    this.leader = true;
    this.epoch = epoch.toString();
    this.transitions++;
  }

  /** This candidate's leadership ended. */
  lost(reason: string): void {
    this.leader = false;
    this.epoch = null;
    this.transitions++;
    this.lastLoss = reason;
  }

  /** A plain copy for JSON. */
  toJSON(): ElectionStatsJson {
    const { keepAliveLatencies: _, ...rest } = this;
    return rest;
  }
}
