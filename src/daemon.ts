import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SystemClock, type Clock } from './clock.js';
import { formatProblem } from './config/problem.js';
import { loadConfigIsolated } from './config/isolated-parse.js';
import { bindHost, IMPLICIT_ADMIN_BIND, parseHostPort } from './config/address.js';
import { canonicalIp } from './vrrp/packet.js';
import type { AdminConfig, BackendConfig, Config } from './config/schema.js';
import { CheckScheduler } from './health/check-scheduler.js';
import type { Probe } from './health/probe.js';
import { buildProbe } from './health/probes.js';
import { AccessLog } from './observe/access-log.js';
import { AdminServer } from './observe/admin-server.js';
import type { Logger } from './observe/logger.js';
import { Metrics } from './observe/metrics.js';
import { Listener, type ListenerEvents } from './proxy/listener.js';
import { ServerPool } from './proxy/server-pool.js';
import { hostname } from 'node:os';
import { VipElection } from './election/vip-election.js';
import { RawHost } from './vrrp/raw-host.js';
import type { VrrpStatus } from './vrrp/vrrp-engine.js';
import { BGP_MAINTENANCE_NAME, BgpWorker } from './bgp/bgp-worker.js';
import type { BgpStatus } from './bgp/speaker.js';
import { VrrpWorker } from './vrrp/vrrp-worker.js';
import type { DiscoveryState, FrontendState, KernelPlaneState, NodeState } from './observe/node-state.js';
import { nodeHealth } from './observe/status-report.js';
import { checkedUp, type HealthState } from './health/health-state.js';
import type { Server as NetServer } from 'node:net';
import type { InheritedSocket } from './handover.js';
import { MaintenanceStore } from './maintenance-store.js';
import { DiscoveredBackend } from './discovery/discovered-backend.js';
import type { DiscoveryStats } from './discovery/server-list.js';
import { KernelPlane, type KernelDriver, type KernelFrontendSpec, type KernelPlaneStats } from './kernel/kernel-plane.js';
import { NftDriver } from './kernel/nft.js';
import { resolveConntrackSync, type ConntrackSyncSettings } from './kernel/conntrack-sync.js';
import { ConntrackdSupervisor } from './kernel/conntrackd.js';

/** How many server transitions /api/v1/state keeps. */
const RECENT_EVENTS = 20;

/** A runtime change of a server through the admin API: what is wrong with the body, or the change. */
export function parseServerChange(body: unknown): { state?: 'ready' | 'drain' | 'maint'; weight?: number } | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body is not a JSON object';
  const change: { state?: 'ready' | 'drain' | 'maint'; weight?: number } = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'state') {
      if (value !== 'ready' && value !== 'drain' && value !== 'maint') return `state ${JSON.stringify(value)} is not one of ready, drain, maint`;
      change.state = value;
    } else if (key === 'weight') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1000) return `weight ${JSON.stringify(value)} is not an integer from 0 to 1000`;
      change.weight = value;
    } else {
      return `unknown key "${key}"`;
    }
  }
  return change.state === undefined && change.weight === undefined ? 'give a state, a weight or both' : change;
}

/** The outcome of a reload: applied, or refused with the reasons (the old config keeps running). */
export type ReloadResult = { ok: true } | { ok: false; errors: string[] };

/**
 * What a process restarting without a gap hands to its successor (see handover.ts): the listening
 * sockets, by frontend bind address and for the admin API, and what it knew of every server's health.
 */
export interface Inheritance {
  listeners: Map<string, InheritedSocket>;
  admin?: InheritedSocket;
  /** Health by `backend/server@address`. */
  health: Map<string, InheritedHealth>;
}

/** A server's health as handed over, with how long ago it last changed (clocks differ between processes). */
export interface InheritedHealth {
  state: HealthState;
  ageMs: number;
}

/** Options for a {@link Daemon}; tests pass a fake clock and a quiet logger. */
export interface DaemonOptions {
  log: Logger;
  clock?: Clock;
  /** The file `reload()` re-reads; without one, reload only accepts a Config object. */
  configPath?: string;
  /**
   * Set when this process takes over from a running one: its sockets and health are used at start,
   * and VRRP waits for {@link Daemon.startVrrp} (told by the predecessor which instances it is master of).
   */
  inheritance?: Inheritance;
  /** How the in-kernel data plane reaches nftables and conntrack (tests: a fake, or a namespace). */
  kernelDriver?: KernelDriver;
}

/** A frontend with `dataPlane: kernel`: its name, address, port and backend (the config checked the bind). */
function kernelFrontends(config: Config): { name: string; vip: string; port: number; sourceNat: 'node' | 'vip'; backend: string }[] {
  return config.frontends.flatMap((f) => {
    const hp = parseHostPort(f.bind, true);
    return f.dataPlane === 'kernel' && typeof hp !== 'string' ? [{ name: f.name, vip: hp.host, port: hp.port, sourceNat: f.sourceNat, backend: f.backend }] : [];
  });
}

/** The admin settings in force: the config's, or the implicit loopback one. */
const effectiveAdmin = (config: Config): AdminConfig => config.admin ?? { bind: IMPLICIT_ADMIN_BIND };

/** The key of a server's health in an {@link Inheritance}. */
const healthKey = (backend: string, server: { id: string; host: string; port: number }) => `${backend}/${server.id}@${server.host}:${server.port}`;

interface BackendRuntime {
  pool: ServerPool;
  checks: CheckScheduler;
  /** The backend's config as written (with discovery, its servers are the bootstrap list). */
  cfg: BackendConfig;
  /** Set when the servers come from the Kubernetes API. */
  discovery: DiscoveredBackend | undefined;
}

/**
 * One kubeha node, composed from a config: listeners, server pools with their checks, and the
 * admin server. `apply` reconciles the running node against a config, keeping what did not change.
 */
export class Daemon {
  readonly clock: Clock;
  readonly metrics: Metrics;
  private readonly log: Logger;
  private config: Config | undefined;
  private readonly backends = new Map<string, BackendRuntime>();
  private readonly listenerMap = new Map<string, Listener>();
  /** Listeners a reload replaced or removed, kept while their sessions finish. */
  private readonly oldListeners = new Set<Listener>();
  private admin: AdminServer | undefined;
  private accessLog: AccessLog | undefined;
  private reloading: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private readonly startedAt = new Date();
  private reloadCount = { success: 0, failure: 0 };
  private lastReloadErrors: string[] = [];
  /** The VRRP engine, in its own thread (started with the first VRRP instance). */
  readonly vrrp: VrrpWorker;
  /** The BGP VIPs on lo at the last status (a new one: retry the binds). */
  private bgpVipsOn = new Set<string>();
  /** The BGP speaker's thread (idle without `bgp:`). */
  private readonly bgp: BgpWorker;
  /** VRRP instances that were master at the last status report. */
  private vrrpMasters = new Set<string>();
  /** The VIP by etcd election (vipElection), when configured. */
  private vipElection: VipElection | undefined;
  /** The conntrackd replicating the kernel frontends' flows (conntrackSync). */
  private conntrackd: ConntrackdSupervisor | undefined;
  /** Where maintenance is saved (global.stateDir, or systemd's $STATE_DIRECTORY); undefined: not kept. */
  private maintenanceStore: MaintenanceStore | undefined;
  /** The names in maintenance when this process started (from the store). */
  private restoredMaintenance = new Set<string>();
  /** Event-loop delay of the data plane's thread (what health checks and the proxy live with). */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  /** The frontends with `dataPlane: kernel`: nftables forwards, this process decides. */
  readonly kernel: KernelPlane;
  /** The latest server transitions, newest last (the dashboard's event list). */
  private readonly recentEvents: { at: string; backend: string; server: string; up: boolean; cause: string; detail: string }[] = [];

  constructor(private readonly opts: DaemonOptions) {
    this.log = opts.log;
    this.clock = opts.clock ?? new SystemClock();
    this.loopDelay.enable();
    this.vrrp = new VrrpWorker(this.log, (instances) => this.onVrrpStatus(instances));
    this.bgp = new BgpWorker(this.log, (status) => this.onBgpStatus(status));
    this.kernel = new KernelPlane(opts.kernelDriver ?? new NftDriver(), this.log, this.clock, () => this.reportTrackedBackends());
    this.metrics = new Metrics({ listeners: () => this.listenerMap.values(), pools: () => this.pools(), toWallMs: (ms) => this.toWallMs(ms), vrrp: () => this.vrrp.instances, election: () => this.vipElection, discoveries: () => this.discoveries(), kernel: () => ({ frontends: this.kernelState(), stats: this.kernel.active ? this.kernel.stats : undefined, sync: this.conntrackd?.stats }), bgp: () => (this.config?.bgp ? this.bgp.status : null) });
  }

  /** Starts, restarts (changed) or stops the VIP election; returns an error when it cannot start. */
  private async reconcileVipElection(config: Config): Promise<string | undefined> {
    if (JSON.stringify(config.vipElection) === JSON.stringify(this.vipElection?.cfg)) return undefined;
    const old = this.vipElection;
    this.vipElection = undefined;
    await old?.shutdown();
    if (!config.vipElection) return undefined;
    try {
      const election = new VipElection(config.vipElection, new RawHost(), this.log, `${hostname()}/${process.pid}`, () => this.retryBinds());
      if (old?.stats.maintenance || this.restoredMaintenance.has(config.vipElection.name)) election.setMaintenance(true); // kept across a reload that changes the election, and a restart
      election.start();
      this.vipElection = election;
      return undefined;
    } catch (err) {
      return `vipElection: ${err instanceof Error ? err.toString() : String(err)}`;
    }
  }

  /** A VIP just became local: frontends waiting to bind it bind now rather than at their next retry. */
  private onVrrpStatus(instances: VrrpStatus[]): void {
    const masters = new Set(instances.filter((i) => i.state === 'master').map((i) => i.name));
    const became = [...masters].some((name) => !this.vrrpMasters.has(name));
    this.vrrpMasters = masters;
    if (became) this.retryBinds();
  }

  /** A BGP VIP just went onto lo: frontends waiting to bind it bind now. */
  private onBgpStatus(status: BgpStatus): void {
    const on = new Set(status.announcements.filter((a) => a.onInterface).map((a) => a.vip));
    const became = [...on].some((v) => !this.bgpVipsOn.has(v));
    this.bgpVipsOn = on;
    if (became) this.retryBinds();
  }

  private retryBinds(): void {
    for (const l of this.listenerMap.values()) if (!l.listening) l.retryNow();
  }

  /**
   * The in-process replacement for check_haproxy.sh: a tracked backend can serve when one of its
   * servers is up by a check (not merely in its start-up state: a rebooted node must not take the
   * VIP before it has seen a server answer) and usable, and a frontend that uses it is listening.
   * Called wherever one of those can change (a server transition, a first passed check, the runtime
   * API, a bind, a reload); the VRRP thread hears only changes.
   */
  private reportTrackedBackends(): void {
    const announce = this.config?.bgp?.announce ?? [];
    const tracked = new Set([...(this.config?.vrrp?.instances.flatMap((i) => i.track.backends) ?? []), ...announce.flatMap((a) => a.track.backends)]);
    for (const name of tracked) {
      const pool = this.backends.get(name)?.pool;
      // a frontend on a BGP VIP binds once the speaker has put the VIP on lo, which it does only when it
      // announces: for BGP's tracking, waiting for that VIP counts as serving (else neither would start)
      const bgpVips = new Set(announce.filter((a) => a.track.backends.includes(name)).map((a) => canonicalIp(a.vip.split('/')[0]!)));
      // the same for a frontend bound to a VRRP VIP: it binds once this node is master, so on a
      // backup (or a node in fault) its waiting counts as serving, else no node could ever become master
      const vrrpVips = new Set(this.config?.vrrp?.instances.filter((i) => i.track.backends.includes(name)).flatMap((i) => i.vips.map((v) => canonicalIp(v.split('/')[0]!))));
      const listeners = [...this.listenerMap.values()].filter((l) => l.pool === pool);
      const serving = listeners.some((l) => l.listening) || (!!pool && this.kernel.serving(pool));
      const waitsFor = (vips: Set<string>) => listeners.some((l) => vips.has(canonicalIp(bindHost(l.bind))));
      const up = !!pool && pool.servers.some((s) => pool.usable(s) && checkedUp(s.health));
      this.vrrp.setBackend(name, up && (serving || waitsFor(vrrpVips)));
      this.bgp.setBackend(name, up && (serving || waitsFor(bgpVips)));
    }
  }

  /** The running config. */
  get currentConfig(): Config | undefined {
    return this.config;
  }

  /** The frontend listener named `name`. */
  listener(name: string): Listener | undefined {
    return this.listenerMap.get(name);
  }

  /** The pool of backend `name`. */
  pool(name: string): ServerPool | undefined {
    return this.backends.get(name)?.pool;
  }

  /** The admin server's bound port, once started. */
  get adminPort(): number | undefined {
    return this.admin?.port;
  }

  private *discoveries(): Iterable<{ backend: string; stats: DiscoveryStats }> {
    for (const [backend, rt] of this.backends) if (rt.discovery) yield { backend, stats: rt.discovery.stats };
  }

  private *pools(): Iterable<ServerPool> {
    for (const b of this.backends.values()) yield b.pool;
  }

  /** A time on the monotonic clock as Unix milliseconds (for the API and metrics). */
  private toWallMs(monotonicMs: number): number {
    return Date.now() - (this.clock.now() - monotonicMs);
  }

  /** Starts the node with `config`. Throws when the admin server cannot bind. */
  async start(config: Config): Promise<void> {
    const result = await this.apply(config);
    if (!result.ok) {
      await Promise.all([this.vrrp.stop(), this.vipElection?.shutdown(), this.bgp.stop()]); // left running, they would keep the process alive
      throw new Error(result.errors.join('\n'));
    }
  }

  /** Re-reads the config file and applies it; a bad file is refused and the old config keeps running. */
  reload(): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
      if (!this.opts.configPath) return { ok: false, errors: ['this daemon was started without a config file'] };
      const loaded = await loadConfigIsolated(this.opts.configPath);
      if (!loaded.ok) {
        const errors = loaded.problems.map(formatProblem);
        this.recordReload(false, errors);
        return { ok: false, errors };
      }
      return this.apply(loaded.config);
    };
    const next = this.reloading.then(run, run);
    this.reloading = next;
    return next;
  }

  private recordReload(ok: boolean, errors: string[]): void {
    if (ok) this.reloadCount.success++;
    else this.reloadCount.failure++;
    this.lastReloadErrors = errors;
    this.metrics.observeReload(ok, Date.now());
    if (ok) this.log.info({ event: 'reload' }, 'config applied');
    else this.log.error({ event: 'reload-rejected', errors }, `reload rejected, the running config is kept [KUBEHA_ERR_RELOAD_REJECTED]: ${errors.join('; ')}`);
  }

  /**
   * Reconciles the running node against `config`. Everything that can fail (reading check TLS
   * files, binding a new admin address) happens before anything is changed, so a refused config
   * leaves the node exactly as it was.
   */
  async apply(config: Config): Promise<ReloadResult> {
    const isFirst = this.config === undefined;
    if (this.stopping) return { ok: false, errors: ['shutting down'] };
    const refuse = (errors: string[]): ReloadResult => {
      if (!isFirst) this.recordReload(false, errors);
      return { ok: false, errors };
    };
    // 1. Prepare: probes and the admin server, which may fail.
    const probes = new Map<string, Probe>();
    const discoveries = new Map<string, DiscoveredBackend>();
    const ownBinds = config.frontends.flatMap((f) => {
      const hp = parseHostPort(f.bind, true);
      return typeof hp === 'string' ? [] : [hp];
    });
    try {
      for (const b of config.backends) {
        probes.set(b.name, await buildProbe(b.healthCheck, b.discovery?.kubernetes.kubeconfig));
        const running = this.backends.get(b.name)?.discovery;
        if (b.discovery && running?.key !== DiscoveredBackend.keyOf(b)) discoveries.set(b.name, await DiscoveredBackend.create(b, ownBinds, this.clock, this.log, this.discoveryHooks(b.name)));
      }
    } catch (err) {
      return refuse([err instanceof Error ? err.message : String(err)]);
    }
    // The kernel's preconditions and the nftables names, before anything changes.
    const kernelProblems = await this.kernel.prepare(kernelFrontends(config).map((f) => ({
      ...f,
      servers: (config.backends.find((b) => b.name === f.backend)?.servers ?? []).flatMap((sc) => {
        const hp = parseHostPort(sc.address);
        return typeof hp === 'string' ? [] : [{ name: sc.name, ip: hp.host, port: hp.port, weight: 1 }];
      }),
    })));
    if (kernelProblems.length > 0) return refuse(kernelProblems);
    const sync = config.conntrackSync ? resolveConntrackSync(config, config.conntrackSync) : undefined;
    if (typeof sync === 'string') return refuse([sync]);
    if (sync && !(await access(sync.conntrackd, fsConstants.X_OK).then(() => true, () => false))) {
      return refuse([`conntrackSync runs ${sync.conntrackd}, which is not installed: install conntrackd (Debian package conntrackd) or set conntrackSync.conntrackd [KUBEHA_ERR_KERNEL]`]);
    }
    if (isFirst) this.restoreMaintenance(config);
    // VRRP validates (interfaces, addresses) before it changes anything; instances whose config did
    // not change keep running untouched.
    const holdVrrp = isFirst && this.opts.inheritance !== undefined;
    if (holdVrrp && config.vrrp?.instances.length) this.vrrp.warmUp();
    const vrrpErrors = holdVrrp ? [] : await this.vrrp.apply(config.vrrp?.instances ?? []);
    if (vrrpErrors.length > 0) return refuse(vrrpErrors);
    const electionError = await this.reconcileVipElection(config);
    if (electionError) return refuse([electionError]);
    const bgpErrors = await this.bgp.apply(config.bgp);
    if (bgpErrors.length > 0) return refuse(bgpErrors);
    let newAdmin: AdminServer | undefined;
    // Without an admin section there is one on loopback anyway (so `kubeha status` works); as it was
    // not asked for, a port already taken there is a warning, not a refused config.
    const adminCfg = effectiveAdmin(config);
    const adminChanged = JSON.stringify(adminCfg) !== JSON.stringify(this.config && effectiveAdmin(this.config));
    if (adminChanged) {
      newAdmin = new AdminServer(adminCfg, this.adminHandlers(), this.log);
      const refuseAdmin = (err: unknown): ReloadResult | undefined => {
        if (!config.admin) {
          this.log.warn({ event: 'admin-unavailable', bind: adminCfg.bind, err }, `no admin section, and the default admin address ${adminCfg.bind} is taken (${err instanceof Error ? err.message : String(err)}): running without the admin API; set admin.bind to a free address [KUBEHA_ERR_BIND]`);
          newAdmin = undefined;
          return undefined;
        }
        return refuse([`admin: cannot listen on ${adminCfg.bind}: ${err instanceof Error ? err.message : String(err)} [KUBEHA_ERR_BIND]`]);
      };
      try {
        await newAdmin.start(isFirst ? this.takeInherited(adminCfg.bind, true) : undefined);
      } catch (err) {
        // The running admin socket may hold the port (the same address, a wildcard, or a :0 that
        // became this port): free it and try once more; if that fails too, the old one comes back.
        const old = this.admin;
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !old) {
          const refused = refuseAdmin(err);
          if (refused) return refused;
        } else {
          await old.stop(true);
          try {
            await newAdmin.start();
          } catch (again) {
            await old.start().catch((e: unknown) => this.log.error({ err: e }, 'the previous admin server could not listen again'));
            const refused = refuseAdmin(again);
            if (refused) return refused;
          }
        }
      }
    }
    // 2. Commit: from here on nothing fails.
    if (adminChanged) {
      const old = this.admin;
      this.admin = newAdmin;
      // Gracefully: the reload request that got here through the old server still gets its answer.
      void old?.stop(true);
    }
    this.log.level = config.global.logLevel;
    if (JSON.stringify(config.accessLog) !== JSON.stringify(this.config?.accessLog)) {
      void this.accessLog?.close();
      this.accessLog = config.accessLog ? new AccessLog(config.accessLog.format, config.accessLog.path) : undefined;
    }
    this.reconcileBackends(config.backends, probes, discoveries);
    const kernelSpecs: KernelFrontendSpec[] = kernelFrontends(config).map((f) => ({ ...f, pool: this.backends.get(f.backend)!.pool }));
    if (isFirst && kernelSpecs.length === 0) void this.kernel.removeStale();
    else this.kernel.commit(kernelSpecs);
    await this.reconcileConntrackSync(sync);
    await this.reconcileListeners(config);
    if (isFirst) this.closeUnusedInheritance();
    this.config = config;
    this.reportTrackedBackends();
    if (!isFirst) this.recordReload(true, []);
    return { ok: true };
  }

  /** How a discovered backend reaches the API and hands its lists to the pool. */
  private discoveryHooks(name: string) {
    return {
      // The servers that are up by a check first, then the rest: the watch goes through a live apiserver.
      candidates: () => {
        const pool = this.backends.get(name)?.pool;
        if (!pool) return [];
        const live = pool.servers.filter((s) => pool.usable(s) && checkedUp(s.health));
        return [...live, ...pool.servers.filter((s) => !live.includes(s))].map((s) => s.address);
      },
      apply: (servers: BackendConfig['servers']) => {
        const rt = this.backends.get(name);
        if (!rt) return;
        rt.pool.reconcile({ ...rt.cfg, servers });
        rt.checks.reconcile();
        this.reportTrackedBackends();
      },
    };
  }

  private reconcileBackends(backends: BackendConfig[], probes: Map<string, Probe>, discoveries: Map<string, DiscoveredBackend>): void {
    const wanted = new Set(backends.map((b) => b.name));
    for (const [name, rt] of this.backends) {
      if (!wanted.has(name)) {
        rt.checks.stop();
        void rt.discovery?.stop();
        this.backends.delete(name);
      }
    }
    for (const cfg of backends) {
      const probe = probes.get(cfg.name) as Probe;
      const rt = this.backends.get(cfg.name);
      // A discovered backend runs with the list in force (kept across a reload that leaves discovery as it was).
      const discovery = cfg.discovery ? discoveries.get(cfg.name) ?? rt?.discovery : undefined;
      if (rt?.discovery && rt.discovery !== discovery) void rt.discovery.stop();
      const b = discovery ? { ...cfg, servers: discovery.serverConfigs() } : cfg;
      if (rt) {
        rt.cfg = cfg;
        rt.pool.reconcile(b);
        rt.checks.reconcile(b.healthCheck, probe);
        if (discovery && rt.discovery !== discovery) discovery.start();
        rt.discovery = discovery;
        continue;
      }
      const pool = new ServerPool(b, this.clock);
      const inherited = this.opts.inheritance?.health;
      if (inherited && !this.config) {
        for (const server of pool.servers) {
          const health = inherited.get(healthKey(b.name, server));
          if (health) server.health = { ...health.state, changedAtMs: this.clock.now() - health.ageMs };
          server.refreshWeight(b.slowStart, this.clock.now());
        }
      }
      pool.onTransition((t) => {
        if (!t.up) this.backends.get(b.name)?.discovery?.serverDown(t.server.address);
        this.reportTrackedBackends();
        this.recentEvents.push({ at: new Date().toISOString(), backend: t.pool.name, server: t.server.id, up: t.up, cause: t.cause, detail: t.detail });
        if (this.recentEvents.length > RECENT_EVENTS) this.recentEvents.shift();
        const fields = { event: 'server-state', backend: t.pool.name, server: t.server.id, address: t.server.address, up: t.up, cause: t.cause, detail: t.detail };
        if (t.up) this.log.info(fields, `server ${t.pool.name}/${t.server.id} is UP (${t.cause}: ${t.detail})`);
        else this.log.warn(fields, `server ${t.pool.name}/${t.server.id} is DOWN (${t.cause}: ${t.detail})`);
      });
      pool.onConfirmed(() => this.reportTrackedBackends()); // a first passed check: now it counts for tracking
      const checks = new CheckScheduler(pool, b.healthCheck, probe, this.clock, (server, check) => this.metrics.observeCheck(pool, server, check.ok, check.latencyMs));
      checks.reconcile();
      this.backends.set(b.name, { pool, checks, cfg, discovery });
      discovery?.start();
    }
  }

  private async reconcileListeners(config: Config): Promise<void> {
    const events: ListenerEvents = {
      sessionEnded: (record) => this.accessLog?.write(record, Date.now()),
      bindFailed: (l, err, retryInMs) => {
        const hint = err.code === 'EADDRNOTAVAIL'
          ? 'the address is not on this host yet (a VIP held elsewhere?); set net.ipv4.ip_nonlocal_bind=1 to bind it anyway'
          : err.code === 'EADDRINUSE' ? 'another process holds this port' : 'check the bind address';
        this.log.warn({ event: 'bind-failed', frontend: l.name, bind: l.bind, code: err.code, retryInMs }, `frontend ${l.name}: cannot listen on ${l.bind} (${err.code ?? err.message}): ${hint}; retrying every ${retryInMs}ms [KUBEHA_ERR_BIND]`);
        this.reportTrackedBackends();
      },
      bound: (l) => {
        this.log.info({ event: 'listening', frontend: l.name, bind: l.bind, port: l.boundPort }, `frontend ${l.name} listening on ${l.bind}`);
        this.reportTrackedBackends();
      },
    };
    // a frontend with dataPlane: kernel has no socket (nftables forwards its address)
    const userspace = config.frontends.filter((f) => f.dataPlane === 'userspace');
    const wanted = new Map(userspace.map((f) => [f.name, f]));
    for (const [name, l] of this.listenerMap) {
      const f = wanted.get(name);
      if (!f || f.bind !== l.bind) {
        this.retireListener(l);
        this.listenerMap.delete(name);
      }
    }
    const binding: Promise<unknown>[] = [];
    for (const f of userspace) {
      const pool = this.backends.get(f.backend)?.pool as ServerPool;
      const existing = this.listenerMap.get(f.name);
      if (existing) {
        existing.pool = pool;
        existing.maxConn = f.maxConn;
        existing.retryIntervalMs = f.bindRetryInterval;
        continue;
      }
      const l = new Listener(f, pool, this.clock, events);
      this.listenerMap.set(f.name, l);
      binding.push(l.listen(this.config ? undefined : (key) => this.takeInherited(key)));
    }
    await Promise.all(binding);
  }

  /**
   * The inherited socket of the frontend on `bind`, or of the admin API: taken (used once), and
   * logged so a restart shows what it kept.
   */
  private takeInherited(bind: string, admin = false): InheritedSocket | undefined {
    const inh = this.opts.inheritance;
    const socket = admin ? inh?.admin : inh?.listeners.get(bind);
    if (!inh || !socket) return undefined;
    if (admin) inh.admin = undefined;
    else inh.listeners.delete(bind);
    this.log.info({ event: 'socket-inherited', bind }, `listening on ${bind} with the socket of the previous process`);
    return socket;
  }

  /** Inherited sockets the new config no longer binds are closed (the kernel socket goes with the last holder). */
  private closeUnusedInheritance(): void {
    const inh = this.opts.inheritance;
    if (!inh) return;
    for (const [bind, server] of inh.listeners) {
      this.log.info({ event: 'socket-released', bind }, `${bind} is no longer in the config: its inherited socket is closed`);
      server.close();
    }
    inh.listeners.clear();
    inh.admin?.close();
    inh.admin = undefined;
  }

  /** The sockets and health a successor needs to take over without a gap (handover.ts). */
  inheritanceForSuccessor(): { listeners: { bind: string; server: NetServer }[]; admin: NetServer | undefined; health: [string, InheritedHealth][] } {
    const listeners = [...this.listenerMap.values()].flatMap((l) => l.listeningServers.map(({ key, server }) => ({ bind: key, server })));
    const health: [string, InheritedHealth][] = [];
    const now = this.clock.now();
    for (const [name, rt] of this.backends) for (const s of rt.pool.servers) health.push([healthKey(name, s), { state: s.health, ageMs: now - s.health.changedAtMs }]);
    return { listeners, admin: this.admin?.listeningServer, health };
  }

  /** The VRRP instances that are master now (a successor starts them as master). */
  masterInstances(): string[] {
    return this.vrrp.instances.filter((i) => i.state === 'master').map((i) => i.name);
  }

  /**
   * The successor serves and advertises: VRRP stops here without a word (no priority 0, the VIPs
   * stay for the successor) and the admin API closes (the successor answers on the same socket).
   * Resolves with the instances that were master.
   */
  async releaseToSuccessor(): Promise<string[]> {
    const masters = this.masterInstances();
    // BGP has no silent handover: the routes are withdrawn and the successor announces them again
    await Promise.all([this.vrrp.stop(true), this.bgp.stop()]);
    const admin = this.admin;
    this.admin = undefined;
    await admin?.stop(true);
    return masters;
  }

  /** On a handover, starts VRRP while the predecessor still runs it; `takeover`: the instances it is master of. */
  async startVrrp(takeover: string[]): Promise<string[]> {
    const errors = await this.vrrp.apply(this.config?.vrrp?.instances ?? [], takeover);
    for (const e of errors) this.log.error({ event: 'vrrp-start-failed', error: e }, `after the handover: ${e}`);
    return errors;
  }

  private retireListener(l: Listener): void {
    l.close();
    for (const old of this.oldListeners) if (old.active === 0) this.oldListeners.delete(old);
    if (l.active > 0) this.oldListeners.add(l);
  }

  /**
   * Stops accepting, lets open sessions finish for up to `graceMs`, then closes what is left.
   * Health checks stop at once; the admin server stays up until the end so the drain can be watched.
   */
  async shutdown(graceMs = this.config?.global.shutdownGrace ?? 0): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // The VIP leaves first (priority 0: a backup takes over within Skew_Time; BGP withdraws the
    // route), then sessions drain here.
    await Promise.all([this.vrrp.stop(), this.vipElection?.shutdown(), this.bgp.stop()]);
    const listeners = [...this.listenerMap.values(), ...this.oldListeners];
    for (const l of listeners) l.close();
    for (const rt of this.backends.values()) rt.checks.stop();
    // the kernel frontends' table stays: it forwards with the last state until a successor adopts it
    await Promise.all([...[...this.backends.values()].map((rt) => rt.discovery?.stop()), this.kernel.stop(), this.conntrackd?.stop()]);
    const open = () => listeners.reduce((n, l) => n + l.active, 0);
    this.log.info({ event: 'shutdown', sessions: open(), graceMs }, `shutting down: ${open()} sessions open, waiting up to ${graceMs}ms`);
    const deadline = Date.now() + graceMs;
    while (open() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
    if (open() > 0) {
      this.log.warn({ event: 'shutdown-abort', sessions: open() }, `grace period over: closing ${open()} sessions`);
      for (const l of listeners) l.abortSessions();
    }
    await this.admin?.stop();
    await this.accessLog?.close();
    this.loopDelay.disable();
  }

  /** Reopens the access log file (SIGUSR1, after log rotation). */
  reopenAccessLog(): void {
    this.accessLog?.reopen();
    this.log.info({ event: 'access-log-reopened' }, 'access log reopened');
  }

  private adminHandlers() {
    return {
      metrics: async () => {
        await this.kernel.refreshStats();
        return { contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() };
      },
      state: async () => {
        await this.kernel.refreshStats();
        return this.state();
      },
      reload: async () => {
        const r = await this.reload();
        return r.ok ? { ok: true, errors: [] } : r;
      },
      setServer: (backend: string, server: string, change: unknown) => this.setServer(backend, server, change),
      setVrrp: (instance: string, change: unknown) => this.setVrrp(instance, change),
    };
  }

  /**
   * The runtime API: `{ "state": "drain" | "maint" | "ready", "weight": 0..1000 }` for one server.
   * Kept across reloads unless the config file changes the same key.
   */
  setServer(backend: string, name: string, change: unknown): { status: number; body: unknown } {
    const pool = this.backends.get(backend)?.pool;
    const server = pool?.servers.find((s) => s.id === name);
    if (!pool || !server) return { status: 404, body: { error: `no server ${backend}/${name}` } };
    const parsed = parseServerChange(change);
    if (typeof parsed === 'string') return { status: 400, body: { error: `expected {"state": "ready"|"drain"|"maint", "weight": 0-1000}: ${parsed}` } };
    pool.setServer(server, parsed);
    this.reportTrackedBackends();
    this.log.info({ event: 'server-set', backend, server: name, ...parsed }, `server ${backend}/${name} set to ${JSON.stringify(parsed)} through the admin API`);
    return { status: 200, body: { name, adminState: server.adminState, weight: server.weight, effectiveWeight: server.effectiveWeight } };
  }

  /** Reads the maintenance an earlier run saved, so the instances start in it (never master for a moment). */
  private restoreMaintenance(config: Config): void {
    const dir = config.global.stateDir ?? process.env.STATE_DIRECTORY?.split(':')[0];
    if (!dir) return;
    this.maintenanceStore = new MaintenanceStore(dir);
    try {
      this.restoredMaintenance = new Set(this.maintenanceStore.load());
    } catch (err) {
      this.log.error({ event: 'maintenance-file-unreadable', path: this.maintenanceStore.path, err }, `cannot read ${this.maintenanceStore.path} (${err instanceof Error ? err.message : String(err)}): starting without saved maintenance; fix or remove the file [KUBEHA_ERR_STATE_FILE]`);
      return;
    }
    if (this.restoredMaintenance.size === 0) return;
    this.vrrp.restoreMaintenance(this.restoredMaintenance);
    if (this.restoredMaintenance.has(BGP_MAINTENANCE_NAME)) this.bgp.restoreMaintenance();
    this.log.warn({ event: 'maintenance-restored', names: [...this.restoredMaintenance], path: this.maintenanceStore.path }, `maintenance restored from ${this.maintenanceStore.path}: ${[...this.restoredMaintenance].join(', ')} stay out of the election until \`kubeha maintenance off\``);
  }

  /** Saves what is in maintenance now (a failure is logged: the change itself already applies). */
  private saveMaintenance(): void {
    if (!this.maintenanceStore) return;
    const names = new Set(this.vrrp.inMaintenance);
    if (this.vipElection?.stats.maintenance) names.add(this.vipElection.cfg.name);
    if (this.bgp.inMaintenance) names.add(BGP_MAINTENANCE_NAME);
    try {
      this.maintenanceStore.save(names);
    } catch (err) {
      this.log.error({ event: 'maintenance-file-unwritable', path: this.maintenanceStore.path, err }, `cannot save maintenance to ${this.maintenanceStore.path} (${err instanceof Error ? err.message : String(err)}): it applies now but a restart forgets it [KUBEHA_ERR_STATE_FILE]`);
    }
  }

  /**
   * The runtime API for a VRRP instance: `{ "maintenance": true }` takes it out of the election (a
   * master hands the VIP over at once), `false` brings it back. Kept across reloads, and across
   * restarts when there is a state directory.
   */
  setVrrp(instance: string, change: unknown): { status: number; body: unknown } {
    const keys = typeof change === 'object' && change !== null && !Array.isArray(change) ? Object.keys(change) : [];
    const on: unknown = keys.length === 1 && keys[0] === 'maintenance' ? (change as { maintenance: unknown }).maintenance : undefined;
    if (typeof on !== 'boolean') return { status: 400, body: { error: 'expected {"maintenance": true|false}' } };
    if (this.vrrp.setMaintenance(instance, on)) {
      this.log.warn({ event: 'vrrp-maintenance', instance, maintenance: on }, `vrrp ${instance}: maintenance ${on ? 'on: out of the election until cleared' : 'off: back in the election'} (admin API)`);
    } else if (this.vipElection?.cfg.name === instance) {
      this.vipElection.setMaintenance(on); // the VIP election is addressed by its name, like an instance; it logs the change
    } else if (instance === BGP_MAINTENANCE_NAME && this.bgp.setMaintenance(on)) {
      this.log.warn({ event: 'bgp-maintenance', maintenance: on }, `bgp: maintenance ${on ? 'on: every VIP withdrawn until cleared' : 'off: VIPs announced again where their backends serve'} (admin API)`);
    } else {
      return { status: 404, body: { error: `no vrrp instance ${instance}` } };
    }
    this.saveMaintenance();
    return { status: 200, body: { name: instance, maintenance: on } };
  }

  /** The node's state as the admin API serves it at /api/v1/state. */
  state(): NodeState {
    const state = this.bareState();
    return { ...state, health: nodeHealth(state) };
  }

  /**
   * conntrackd runs while the config asks for conntrackSync: started (or adopted) once, started
   * again when its settings change, ended when conntrackSync goes. It failing to start refuses
   * nothing: the flows still forward, only a failover would lose them (logged, in the state API,
   * and tried again by its supervisor).
   */
  private async reconcileConntrackSync(sync: ConntrackSyncSettings | undefined): Promise<void> {
    const running = this.conntrackd;
    if (running && JSON.stringify(running.settings) === JSON.stringify(sync)) return;
    this.conntrackd = undefined;
    if (running) await (sync && running.settings.runDir === sync.runDir ? running.stop() : running.kill());
    if (!sync) return;
    this.conntrackd = new ConntrackdSupervisor(sync, this.log, this.clock);
    await this.conntrackd.start();
  }

  /** The kernel frontends as the state API shows them: programmed, flows open, counters per server. */
  private kernelState(): FrontendState[] {
    const frontends = this.config ? kernelFrontends(this.config) : [];
    return frontends.flatMap((f) => {
      const pool = this.backends.get(f.backend)?.pool;
      if (!pool) return [];
      const servers = pool.servers.map((s) => ({ name: s.id, ...this.kernel.serverStats(f.name, s) }));
      const programmed = this.kernel.programmed(f.name);
      return [{
        name: f.name,
        bind: `${f.vip}:${f.port}`,
        port: f.port,
        addresses: [f.vip],
        listening: programmed,
        backend: f.backend,
        accepted: 0,
        active: servers.reduce((n, s) => n + s.established, 0),
        rejected: { maxconn: 0, 'queue-full': 0, 'queue-timeout': 0, 'no-server': 0 },
        dataPlane: 'kernel' as const,
        kernel: { programmed, servers },
      }];
    });
  }

  private bareState(): NodeState {
    const iso = (monotonicMs: number) => new Date(this.toWallMs(monotonicMs)).toISOString();
    return {
      startedAt: this.startedAt.toISOString(),
      configPath: this.opts.configPath ?? null,
      reloads: { ...this.reloadCount, lastErrors: this.lastReloadErrors },
      events: this.recentEvents,
      vrrp: this.vrrp.instances,
      eventLoopDelayMs: { p99: this.loopDelay.percentile(99) / 1e6, max: this.loopDelay.max / 1e6 },
      vrrpThread: this.vrrp.instances.length ? { loopDelayMs: this.vrrp.loopDelayMs } : null,
      vipElection: this.vipElection ? { ...this.vipElection.stats.toJSON(), vips: this.vipElection.cfg.vips } : null,
      kernel: this.kernel.active ? kernelPlaneState(this.kernel.stats, iso) : null,
      conntrackSync: this.conntrackd ? { ...this.conntrackd.stats } : null,
      bgp: this.config?.bgp ? this.bgp.status : null,
      frontends: [...[...this.listenerMap.values()].map((l): FrontendState => ({
        name: l.name,
        bind: l.bind,
        port: l.boundPort ?? null,
        addresses: l.boundAddresses,
        listening: l.listening,
        backend: l.pool.name,
        accepted: l.accepted,
        active: l.active,
        rejected: l.rejected,
        dataPlane: 'userspace',
      })), ...this.kernelState()],
      backends: [...this.backends.values()].map(({ pool, discovery }) => ({
        name: pool.name,
        balance: pool.settings.balance,
        discovery: discovery ? discoveryState(discovery.stats, iso) : null,
        queue: { length: pool.queue.length, max: pool.queue.maxLength, overflows: pool.queue.overflows, timeouts: pool.queue.timeouts },
        servers: [...pool.servers, ...pool.retired].map((s) => ({
          name: s.id,
          address: s.address,
          state: s.health.up ? 'up' : 'down',
          adminState: s.adminState,
          removed: s.removed,
          health: { value: s.health.health, rise: pool.settings.rise, fall: pool.settings.fall, passiveFailures: s.health.passiveFailures },
          weight: s.weight,
          effectiveWeight: s.effectiveWeight,
          sessions: { active: s.active, total: s.sessionsTotal },
          bytesIn: s.bytesIn,
          bytesOut: s.bytesOut,
          connectErrors: s.connectErrors,
          retries: s.retries,
          latencyTier: s.latencyTier ?? null,
          lastCheck: s.lastCheck ? { ok: s.lastCheck.ok, latencyMs: Math.round(s.lastCheck.latencyMs * 100) / 100, detail: s.lastCheck.detail, at: iso(s.lastCheck.atMs) } : null,
          lastChange: { at: iso(s.health.changedAtMs), cause: s.health.cause },
          transitions: s.health.transitions,
          checkHistory: s.checkHistory.map((c) => ({ latencyMs: Math.round(c.latencyMs * 100) / 100, ok: c.ok })),
        })),
      })),
    };
  }
}

/** The in-kernel data plane's stats for /api/v1/state. */
function kernelPlaneState(k: KernelPlaneStats, iso: (monotonicMs: number) => string): KernelPlaneState {
  const { lastUpdateMs, ...rest } = k;
  return { ...rest, lastUpdate: lastUpdateMs === null ? null : iso(lastUpdateMs) };
}

/** A discovered backend's stats for /api/v1/state: monotonic times as ISO wall times. */
function discoveryState(d: DiscoveryStats, iso: (monotonicMs: number) => string): DiscoveryState {
  return {
    source: d.source,
    api: d.api,
    servers: d.servers,
    generation: d.generation,
    lastSync: d.lastSyncMs === null ? null : iso(d.lastSyncMs),
    lastChange: d.lastChangeMs === null ? null : iso(d.lastChangeMs),
    errors: d.errors,
    lastError: d.lastError,
    emptyIgnored: d.emptyIgnored,
    via: d.via,
    resourceVersion: d.resourceVersion,
  };
}
