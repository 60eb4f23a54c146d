// The VIP by election, for networks without VRRP (most clouds drop multicast and protocol 112):
// the leader of an etcd election holds the VIPs, announces them with gratuitous ARP, and removes
// them when it steps down, which happens before its lease can expire (campaign.ts), so the next
// leader never adds a VIP that the old one still holds — unless the old one was SIGKILLed, which
// no process can clean up after (its VIP stays until it restarts; see docs/operations.md).
import type { Clock } from '../clock.js';
import { SystemClock } from '../clock.js';
import type { VipElectionConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import { garpFrame } from '../vrrp/arp.js';
import type { VrrpHost } from '../vrrp/vrrp-host.js';
import { campaign, type CampaignEvent, type Leadership } from './campaign.js';
import { ElectionStats } from './election-stats.js';
import { EtcdClient } from './etcd-client.js';

/** Runs the campaign loop and moves the VIPs with the leadership. */
export class VipElection {
  private readonly client: EtcdClient;
  private readonly stop = new AbortController();
  private leadership: Leadership | undefined;
  private readonly clock: Clock;
  private running: Promise<void> | undefined;
  /** Ends the current campaign or leadership (maintenance); wakes the loop when maintenance ends. */
  private cancelTerm: (() => void) | undefined;
  private resume: (() => void) | undefined;
  readonly stats: ElectionStats;

  constructor(
    readonly cfg: VipElectionConfig,
    private readonly host: VrrpHost,
    private readonly log: Logger,
    identity: string,
    /** Called once the VIPs are on the interface (frontends waiting to bind them retry). */
    private readonly onLeader: () => void = () => {},
    clock?: Clock,
  ) {
    this.clock = clock ?? new SystemClock();
    this.client = new EtcdClient({ endpoints: cfg.etcd, tls: { caFile: cfg.caFile, certFile: cfg.certFile, keyFile: cfg.keyFile } });
    this.stats = new ElectionStats(cfg.name, cfg.identity ?? identity);
  }

  /** Removes stale VIPs (a SIGKILLed predecessor's) and starts campaigning in the background. */
  start(): void {
    for (const vip of this.cfg.vips) {
      if (this.host.removeAddress(this.cfg.interface, vip)) this.log.warn({ event: 'vip-stale', vip }, `vip-election: removed ${vip} left on ${this.cfg.interface} by an earlier run`);
    }
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    const onEvent = (e: CampaignEvent) => {
      this.stats.onEvent(e);
      if (e.kind === 'retry') this.log.warn({ event: 'vip-election-retry', error: e.error }, `vip-election: etcd: ${e.error}; retrying`);
    };
    while (!this.stop.signal.aborted) {
      if (this.stats.maintenance) {
        await new Promise<void>((resolve) => {
          this.resume = resolve;
          this.stop.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.resume = undefined;
        continue;
      }
      // One controller per term: shutdown or maintenance ends it (a leader's key is revoked).
      const term = new AbortController();
      const onStop = () => term.abort();
      this.stop.signal.addEventListener('abort', onStop, { once: true });
      this.cancelTerm = () => term.abort();
      let l: Leadership;
      try {
        l = await campaign({ client: this.client, name: this.cfg.name, identity: this.stats.identity, timing: { ttlMs: this.cfg.ttl, marginMs: this.cfg.margin }, clock: this.clock, signal: term.signal, onEvent });
      } catch {
        this.stop.signal.removeEventListener('abort', onStop);
        continue; // stopped (the loop ends) or put in maintenance while campaigning
      }
      if (!l.valid()) continue;
      this.leadership = l;
      this.take(l);
      await new Promise<void>((resolve) => l.signal.addEventListener('abort', () => resolve(), { once: true }));
      this.release(l.endReason());
      this.leadership = undefined;
      this.stop.signal.removeEventListener('abort', onStop);
    }
  }

  /**
   * Maintenance (admin API): on, a leader gives up the VIP at once (its key is revoked, so the next
   * candidate takes over) and the node stops campaigning; off, it campaigns again.
   */
  setMaintenance(on: boolean): void {
    if (this.stats.maintenance === on) return;
    this.stats.maintenance = on;
    this.log.warn({ event: 'vip-election-maintenance', maintenance: on }, `vip-election ${this.cfg.name}: maintenance ${on ? 'on: out of the election until cleared' : 'off: campaigning again'}`);
    if (on) this.cancelTerm?.();
    else this.resume?.();
  }

  private take(l: Leadership): void {
    this.stats.elected(l.epoch);
    try {
      for (const vip of this.cfg.vips) this.host.addAddress(this.cfg.interface, vip);
      const link = this.host.link(this.cfg.interface);
      if (link) for (let i = 0; i < this.cfg.garpRepeat; i++) for (const vip of this.cfg.vips) this.host.sendFrame(this.cfg.interface, garpFrame(link.mac, vip.split('/')[0]!));
    } catch (err) {
      this.log.error({ event: 'vip-add-failed', err: String(err) }, `vip-election: cannot add the VIPs: ${err instanceof Error ? err.message : String(err)}; resigning`);
      void l.resign();
      return;
    }
    this.onLeader();
    this.log.info({ event: 'vip-election-won', epoch: l.epoch.toString(), vips: this.cfg.vips }, `vip-election ${this.cfg.name}: leader with epoch ${l.epoch}; ${this.cfg.vips.join(' ')} added on ${this.cfg.interface}`);
  }

  private release(reason: string): void {
    this.stats.lost(reason);
    for (const vip of this.cfg.vips) {
      try {
        this.host.removeAddress(this.cfg.interface, vip);
      } catch (err) {
        this.log.error({ event: 'vip-remove-failed', vip, err: String(err) }, `vip-election: cannot remove ${vip}: ${String(err)}`);
      }
    }
    this.log.warn({ event: 'vip-election-lost', reason }, `vip-election ${this.cfg.name}: no longer leader (${reason}); VIPs removed`);
  }

  /** Resigns (the VIPs go first), stops campaigning and closes the host's sockets. */
  async shutdown(): Promise<void> {
    const l = this.leadership;
    this.stop.abort();
    if (l) await l.resign();
    await this.running;
    this.client.close();
    this.host.close();
  }
}
