// The in-kernel data plane at run time (issue 16): kubeha decides, the kernel forwards. The
// frontends with `dataPlane: kernel` are programmed into kubeha's nftables table from their pools
// (health, weights with slow start, drain, maintenance), and every change of a pool is one
// transaction on the table. The table outlives the process: a restarted kubeha adopts it and
// rewrites it only once its checks know as much as the table does, so a restart, a crash or a
// reload never interrupts forwarding.
import { isIPv4 } from 'node:net';
import type { Clock, Timer } from '../clock.js';
import type { Logger } from '../observe/logger.js';
import type { ServerPool } from '../proxy/server-pool.js';
import type { Server } from '../proxy/server.js';
import type { FlowCount, ServerCounter } from './nft.js';
import { checkKernelFrontends, counterName, renderSlotUpdate, renderTable, type KernelFrontend, type KernelServer } from './ruleset.js';

/** What the plane needs of the kernel (NftDriver; a fake in the unit tests). */
export interface KernelDriver {
  apply(script: string): Promise<void>;
  tableExists(): Promise<boolean>;
  counters(): Promise<Map<string, ServerCounter>>;
  flows(vip: string, port: number): Promise<Map<string, FlowCount>>;
  deleteFlows(vip: string, port: number, server: { ip: string; port: number }): Promise<number>;
  removeTable(): Promise<void>;
  preconditions(o: { forwards: boolean; localnet?: boolean }): Promise<string[]>;
}

/** One frontend with `dataPlane: kernel`: the address clients use and the pool that decides. */
export interface KernelFrontendSpec {
  name: string;
  vip: string;
  port: number;
  /** The source the servers see (ruleset.ts); default node. */
  sourceNat?: 'node' | 'vip';
  pool: ServerPool;
}

/** A kernel frontend as the config writes it (its servers as the config lists them). */
export interface PreparedFrontend {
  name: string;
  vip: string;
  port: number;
  servers: KernelServer[];
}

/** The hook of a service address: the node's own clients (loopback, link-local) at output, the rest (a VIP) at prerouting. */
export function kernelHook(vip: string): KernelFrontend['hook'] {
  return vip.startsWith('127.') || vip.startsWith('169.254.') ? 'output' : 'prerouting';
}

/** How long after a failed table update the plane tries again. */
export const RETRY_MS = 1000;
/** How long an adopted table waits for the first checks before kubeha's view replaces it anyway. */
export const ADOPT_HOLD_MS = 10_000;
/** The counters and flows are read at most this often (the state API and metrics share one reading). */
export const STATS_TTL_MS = 1000;

/** A server of a kernel frontend as the state API shows it. */
export interface KernelServerStats {
  packets: number;
  bytes: number;
  flows: number;
  established: number;
}

/** What the plane did, for the state API and metrics. */
export interface KernelPlaneStats {
  /** Table updates applied (whole tables and slot updates). */
  updates: number;
  failures: number;
  lastError: string | null;
  /** Monotonic ms of the last applied update. */
  lastUpdateMs: number | null;
  /** Whether this process found the table of an earlier one and took it over. */
  adopted: boolean;
  /** Whether an adopted table still waits for the first checks. */
  holding: boolean;
  /** Conntrack entries deleted for servers marked down with `onMarkedDown: shutdown`. */
  flowsDeleted: number;
}

/**
 * Keeps kubeha's nftables table equal to what the pools of its kernel frontends decide. Updates
 * run one at a time; a change while one runs is folded into the next. A failure is logged and
 * retried; the kernel keeps the last table that applied.
 */
export class KernelPlane {
  private specs: KernelFrontendSpec[] = [];
  /** What this process last wrote, by frontend name: the frontend and its slot script. */
  private written: Map<string, { shape: string; slots: string; up: Set<string> }> | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private retryTimer: Timer | undefined;
  private adoptChecked = false;
  private holdUntilMs: number | undefined;
  private holdTimer: Timer | undefined;
  private readonly subscribed = new WeakSet<ServerPool>();
  private statsAt: number | undefined;
  private statsReading: Promise<void> | undefined;
  private counters = new Map<string, ServerCounter>();
  private flows = new Map<string, Map<string, FlowCount>>();
  readonly stats: KernelPlaneStats = { updates: 0, failures: 0, lastError: null, lastUpdateMs: null, adopted: false, holding: false, flowsDeleted: 0 };
  private stopped = false;

  constructor(
    private readonly driver: KernelDriver,
    private readonly log: Logger,
    private readonly clock: Clock,
    /** Told after every applied update (what {@link serving} answers may have changed). */
    private readonly onWritten: () => void = () => {},
  ) {}

  /** Whether kernel frontends are programmed (or about to be). */
  get active(): boolean {
    return this.specs.length > 0;
  }

  /**
   * Checks that `specs` can be programmed: the kernel's preconditions and the names in nftables.
   * Changes nothing; returns the problems (empty: commit may follow). The first call also finds
   * out whether an earlier process left its table (then it is adopted, not flushed).
   */
  async prepare(specs: readonly PreparedFrontend[]): Promise<string[]> {
    if (specs.length === 0) return [];
    const problems = checkKernelFrontends(specs.map((f) => ({ ...f, balance: 'roundrobin', hook: kernelHook(f.vip) })));
    problems.push(...(await this.driver.preconditions({
      forwards: specs.some((s) => kernelHook(s.vip) === 'prerouting'),
      localnet: specs.some((s) => s.vip.startsWith('127.')),
    })));
    if (problems.length === 0 && !this.adoptChecked) {
      try {
        this.stats.adopted = await this.driver.tableExists();
      } catch (err) {
        problems.push(`cannot list the nftables tables: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (problems.length === 0) this.adoptChecked = true;
    }
    return problems.map((p) => `${p} [KUBEHA_ERR_KERNEL]`);
  }

  /**
   * At a start with no kernel frontend: a table an earlier run left would keep sending the VIP's
   * flows around the user-space listeners, so it goes (quietly when there is no nftables at all).
   */
  async removeStale(): Promise<void> {
    try {
      if (!(await this.driver.tableExists())) return;
      await this.driver.removeTable();
      this.log.warn({ event: 'kernel-table-removed' }, 'removed the nftables table inet kubeha an earlier run left: no frontend has dataPlane: kernel now');
    } catch {
      // no nftables here: no table either
    }
  }

  /** Takes `specs` (prepared) as the frontends to program, and programs them. */
  commit(specs: readonly KernelFrontendSpec[]): void {
    const had = this.specs.length > 0;
    this.specs = [...specs];
    for (const s of specs) {
      if (this.subscribed.has(s.pool)) continue;
      this.subscribed.add(s.pool);
      s.pool.onChange(() => this.changed());
    }
    if (this.stats.adopted && this.written === undefined && this.holdUntilMs === undefined && specs.length > 0) {
      this.holdUntilMs = this.clock.now() + ADOPT_HOLD_MS;
      this.holdTimer = this.clock.setTimeout(() => this.changed(), ADOPT_HOLD_MS);
      this.log.info({ event: 'kernel-table-adopted' }, 'the nftables table inet kubeha of an earlier run keeps forwarding; it is rewritten once the first health checks are in');
    }
    if (specs.length > 0 || had || this.written !== undefined) this.changed();
  }

  /** A pool changed: the table follows (now, or after the update in flight). */
  changed(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.running ??= this.syncLoop().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves once no update is pending (tests, and a clean stop). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Whether `pool` serves through a programmed kernel frontend (VRRP tracking counts it as listening). */
  serving(pool: ServerPool): boolean {
    return this.specs.some((s) => s.pool === pool && this.written?.has(s.name));
  }

  /** Whether frontend `name` is in the table this process wrote. */
  programmed(name: string): boolean {
    return this.written?.has(name) ?? false;
  }

  /** Stops following the pools; the table stays (it forwards without kubeha). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.retryTimer?.cancel();
    this.holdTimer?.cancel();
    await this.settled();
  }

  /**
   * The frontends as the table should have them now. Servers that are not IPv4 (a discovered IPv6
   * endpoint) are left out; the config's own are refused before they get here.
   */
  private desired(): KernelFrontend[] {
    return this.specs.map((spec) => {
      const pool = spec.pool;
      const servers = pool.servers.filter((s) => isIPv4(s.host));
      // balance: latency sends to the usable servers of the fastest tier, like the user-space balancer
      let best = Infinity;
      if (pool.settings.balance === 'latency') for (const s of servers) if (pool.usable(s)) best = Math.min(best, s.latencyTier ?? Infinity);
      const weight = (s: Server) => (!pool.usable(s) ? 0 : pool.settings.balance === 'latency' && (s.latencyTier ?? Infinity) !== best ? 0 : s.effectiveWeight);
      return {
        name: spec.name,
        vip: spec.vip,
        port: spec.port,
        balance: pool.settings.balance === 'source' ? 'source' : 'roundrobin',
        hook: kernelHook(spec.vip),
        sourceNat: spec.sourceNat ?? 'node',
        servers: servers.map((s): KernelServer => ({ name: s.id, ip: s.host, port: s.port, weight: weight(s) })),
      };
    });
  }

  /** An adopted table waits until every server has been checked once (or the hold ran out). */
  private holding(): boolean {
    if (this.holdUntilMs === undefined || this.written !== undefined) return false;
    const unchecked = this.specs.some((spec) => spec.pool.servers.some((s) => s.health.cause === 'init'));
    return unchecked && this.clock.now() < this.holdUntilMs;
  }

  private async syncLoop(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      this.stats.holding = this.holding();
      if (this.stats.holding) return;
      this.holdTimer?.cancel();
      try {
        await this.writeOnce();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.stats.failures++;
        this.stats.lastError = message;
        this.log.error({ event: 'kernel-update-failed', err: message }, `the nftables table could not be updated, the kernel keeps the last one; retrying in ${RETRY_MS} ms: ${message} [KUBEHA_ERR_KERNEL]`);
        this.retryTimer?.cancel();
        this.retryTimer = this.clock.setTimeout(() => this.changed(), RETRY_MS);
        return;
      }
    }
  }

  private async writeOnce(): Promise<void> {
    const desired = this.desired();
    if (desired.length === 0) {
      if (this.written === undefined && !this.stats.adopted) return;
      // no kernel frontend any more: the table goes (new flows to those addresses are refused by the host)
      await this.driver.removeTable();
      this.written = undefined;
      this.stats.adopted = false;
      this.onWritten();
      this.record('removed the nftables table inet kubeha: no frontend has dataPlane: kernel any more');
      return;
    }
    const next = new Map(desired.map((f) => [f.name, {
      shape: JSON.stringify({ ...f, servers: f.servers.map((s) => [s.name, s.ip, s.port]) }),
      slots: renderSlotUpdate(f),
      up: new Set(f.servers.filter((s) => s.weight > 0).map((s) => `${s.ip}:${s.port}`)),
    }]));
    const written = this.written;
    const whole = written === undefined || written.size !== next.size || [...next].some(([name, n]) => written.get(name)?.shape !== n.shape);
    let script: string;
    if (whole) {
      // the counters carry over a replacement (read just before; a failed read only resets them)
      const seed = this.written !== undefined || this.stats.adopted ? await this.driver.counters().catch(() => new Map<string, ServerCounter>()) : new Map<string, ServerCounter>();
      script = renderTable(desired, seed);
    } else {
      script = [...next].filter(([name, n]) => written.get(name)?.slots !== n.slots).map(([, n]) => n.slots).join('');
      if (script === '') return;
    }
    await this.driver.apply(script);
    this.written = next;
    this.onWritten();
    this.stats.lastError = null;
    this.record(whole ? `programmed the nftables table inet kubeha: ${describe(desired)}` : `updated the slots: ${describe(desired.filter((f) => written?.get(f.name)?.slots !== next.get(f.name)!.slots))}`);
    if (written) await this.shutdownFlows(desired, written);
  }

  private record(message: string): void {
    this.stats.updates++;
    this.stats.lastUpdateMs = this.clock.now();
    this.log.info({ event: 'kernel-update', updates: this.stats.updates }, message);
  }

  /**
   * `onMarkedDown: shutdown`: the flows of a server that went down (no longer in the slots, health
   * down) are deleted once the map no longer sends it new ones, so their clients reconnect at once.
   */
  private async shutdownFlows(desired: KernelFrontend[], before: Map<string, { up: Set<string> }>): Promise<void> {
    for (const spec of this.specs) {
      if (spec.pool.settings.onMarkedDown !== 'shutdown') continue;
      const f = desired.find((d) => d.name === spec.name);
      const was = before.get(spec.name)?.up;
      if (!f || !was) continue;
      for (const s of spec.pool.servers) {
        if (s.health.up || !was.has(`${s.host}:${s.port}`)) continue;
        try {
          const n = await this.driver.deleteFlows(spec.vip, spec.port, { ip: s.host, port: s.port });
          this.stats.flowsDeleted += n;
          this.log.info({ event: 'kernel-flows-deleted', frontend: spec.name, server: s.id, flows: n }, `frontend ${spec.name}: ${n} flows to ${s.id} deleted (marked down, onMarkedDown: shutdown)`);
        } catch (err) {
          this.log.warn({ event: 'kernel-flows-delete-failed', frontend: spec.name, server: s.id }, `frontend ${spec.name}: the flows to ${s.id} could not be deleted: ${err instanceof Error ? err.message : String(err)} [KUBEHA_ERR_KERNEL]`);
        }
      }
    }
  }

  /**
   * Reads the counters and conntrack entries, at most once per {@link STATS_TTL_MS} (callers at
   * the same time share one reading). A failed read keeps the last numbers.
   */
  async refreshStats(): Promise<void> {
    if (this.specs.length === 0 || this.written === undefined && !this.stats.adopted) return;
    if (this.statsAt !== undefined && this.clock.now() - this.statsAt < STATS_TTL_MS) return;
    this.statsReading ??= (async () => {
      try {
        const [counters, ...flows] = await Promise.all([this.driver.counters(), ...this.specs.map((s) => this.driver.flows(s.vip, s.port))]);
        this.counters = counters;
        this.flows = new Map(this.specs.map((s, i) => [s.name, flows[i]!]));
      } catch (err) {
        this.log.debug({ event: 'kernel-stats-failed', err: err instanceof Error ? err.message : String(err) }, 'the nftables counters or conntrack entries could not be read');
      } finally {
        this.statsAt = this.clock.now();
        this.statsReading = undefined;
      }
    })();
    await this.statsReading;
  }

  /** A server's counters and flows as last read (zeros before the first reading). */
  serverStats(frontend: string, s: { id: string; host: string; port: number }): KernelServerStats {
    const c = this.counters.get(counterName({ name: frontend }, { name: s.id }));
    const f = this.flows.get(frontend)?.get(`${s.host}:${s.port}`);
    return { packets: c?.packets ?? 0, bytes: c?.bytes ?? 0, flows: f?.total ?? 0, established: f?.established ?? 0 };
  }
}

/** `api-server: m1×2 m2×1 (m3 out)` for the log. */
function describe(frontends: KernelFrontend[]): string {
  return frontends.map((f) => `${f.name}: ${f.servers.map((s) => (s.weight > 0 ? `${s.name}×${s.weight}` : `${s.name} out`)).join(' ') || 'no servers'}`).join('; ');
}
