// Every VRRP instance of a node, reconciled against the config on reload: an instance whose config
// did not change keeps running untouched (no state change, no advert gap); a changed one is
// stopped (priority 0, VIPs released) before its replacement starts. Instances that name one
// syncGroup fault together (keepalived's vrrp_sync_group).
import type { Clock } from '../clock.js';
import type { VrrpInstanceConfig } from '../config/schema.js';
import { VrrpInstance, type InstanceSink, type VrrpInstanceStatus } from './vrrp-instance.js';
import type { VrrpHost } from './vrrp-host.js';

type WithAt<T> = Omit<T, 'atMs'> & { at: string };

/** An instance's status with its times as ISO wall-clock times. */
export type VrrpStatus = Omit<VrrpInstanceStatus, 'sinceMs' | 'lastTransition' | 'duplicateVip' | 'secondMaster' | 'adverts'> & {
  since: string;
  lastTransition: WithAt<NonNullable<VrrpInstanceStatus['lastTransition']>> | null;
  duplicateVip: { events: number; last: WithAt<NonNullable<VrrpInstanceStatus['duplicateVip']['last']>> | null };
  secondMaster: { events: number; last: WithAt<NonNullable<VrrpInstanceStatus['secondMaster']['last']>> | null };
  adverts: Omit<VrrpInstanceStatus['adverts'], 'droppedBySource'> & {
    droppedBySource: (Omit<VrrpInstanceStatus['adverts']['droppedBySource'][number], 'lastAtMs'> & { lastAt: string })[];
  };
};

/** The VRRP side of a node. */
export class VrrpEngine {
  private readonly instances = new Map<string, { cfg: string; inst: VrrpInstance }>();
  private readonly backends = new Map<string, boolean>();
  /** Instances in maintenance, by name: kept across a reload that recreates the instance. */
  private readonly maintenance = new Set<string>();
  /** What every instance reports to: the daemon's sink, with the sync groups brought in line first. */
  private readonly instanceSink: InstanceSink;
  private syncing = false;

  constructor(
    private readonly host: VrrpHost,
    private readonly clock: Clock,
    sink: InstanceSink,
  ) {
    this.instanceSink = {
      log: (level, fields, msg) => sink.log(level, fields, msg),
      changed: () => {
        this.syncGroups();
        sink.changed();
      },
    };
  }

  /**
   * keepalived's vrrp_sync_group: a member in fault by its own tracking (or maintenance) puts every
   * other member of its group in fault, so that the group's VIPs (an IPv4 and an IPv6 one, say)
   * always leave a node together; once no member has a fault of its own, the others rejoin.
   */
  private syncGroups(): void {
    if (this.syncing) return; // a member's retrack reports back here: the outer pass finishes the job
    this.syncing = true;
    try {
      const members = [...this.instances.values()].map((e) => e.inst).filter((i) => i.cfg.syncGroup !== undefined);
      for (const inst of members) {
        const faulted = members.find((o) => o !== inst && o.cfg.syncGroup === inst.cfg.syncGroup && o.ownFault !== null);
        inst.setGroupFault(faulted ? `sync group ${inst.cfg.syncGroup}: ${faulted.name} in fault (${faulted.ownFault})` : null);
      }
    } finally {
      this.syncing = false;
    }
  }

  /**
   * Reconciles the running instances with `configs`. Instances that cannot be created (no such
   * interface, no address) are reported and nothing is changed; a failure to start one (no
   * permission) is reported after the others were applied.
   */
  apply(configs: VrrpInstanceConfig[], takeover: ReadonlySet<string> = new Set()): string[] {
    const fresh: { cfg: VrrpInstanceConfig; key: string; inst: VrrpInstance }[] = [];
    try {
      for (const cfg of configs) {
        const key = JSON.stringify(cfg);
        if (this.instances.get(cfg.name)?.cfg === key) continue;
        fresh.push({ cfg, key, inst: new VrrpInstance(cfg, this.host, this.clock, this.instanceSink) });
      }
    } catch (err) {
      return [err instanceof Error ? err.message : String(err)];
    }
    const wanted = new Set(configs.map((c) => c.name));
    for (const [name, { inst }] of this.instances) {
      if (wanted.has(name) && !fresh.some((f) => f.cfg.name === name)) continue;
      inst.stop();
      this.instances.delete(name);
    }
    const errors: string[] = [];
    for (const f of fresh) {
      try {
        for (const [b, ok] of this.backends) f.inst.setBackend(b, ok);
        if (this.maintenance.has(f.cfg.name)) f.inst.setMaintenance(true);
        f.inst.start(takeover.has(f.cfg.name));
        this.instances.set(f.cfg.name, { cfg: f.key, inst: f.inst });
      } catch (err) {
        f.inst.stop();
        errors.push(`vrrp ${f.cfg.name}: ${err instanceof Error ? err.toString() : String(err)}`);
      }
    }
    this.syncGroups(); // a member removed or replaced takes its fault with it
    return errors;
  }

  /** A tracked backend's health as the data plane sees it. */
  setBackend(name: string, ok: boolean): void {
    this.backends.set(name, ok);
    for (const { inst } of this.instances.values()) inst.setBackend(name, ok);
  }

  /**
   * Puts the instance `name` in maintenance or takes it out; false when there is no such instance
   * (yet: the setting is kept, so an instance that starts later starts in maintenance).
   */
  setMaintenance(name: string, on: boolean): boolean {
    if (on) this.maintenance.add(name);
    else this.maintenance.delete(name);
    const entry = this.instances.get(name);
    entry?.inst.setMaintenance(on);
    return !!entry;
  }

  /** Stops every instance: masters send priority 0 and release their VIPs (unless `silently`: a restart hands them over). */
  stop(silently = false): void {
    for (const { inst } of this.instances.values()) inst.stop(silently);
    this.instances.clear();
  }

  /** Every instance's status, with wall-clock times. */
  status(): VrrpStatus[] {
    const iso = (ms: number) => new Date(Date.now() - (this.clock.now() - ms)).toISOString();
    return [...this.instances.values()].map(({ inst }) => {
      const { sinceMs, lastTransition, duplicateVip, secondMaster, adverts, ...rest } = inst.status();
      const withAt = <T extends { atMs: number }>({ atMs, ...fields }: T) => ({ ...fields, at: iso(atMs) });
      return {
        ...rest,
        since: iso(sinceMs),
        lastTransition: lastTransition && withAt(lastTransition),
        duplicateVip: { events: duplicateVip.events, last: duplicateVip.last && withAt(duplicateVip.last) },
        secondMaster: { events: secondMaster.events, last: secondMaster.last && withAt(secondMaster.last) },
        adverts: { ...adverts, droppedBySource: adverts.droppedBySource.map(({ lastAtMs, ...d }) => ({ ...d, lastAt: iso(lastAtMs) })) },
      };
    });
  }
}
