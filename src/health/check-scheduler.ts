import type { Clock, Timer } from '../clock.js';
import type { HealthCheckConfig } from '../config/schema.js';
import type { Server, LastCheck } from '../proxy/server.js';
import type { ServerPool } from '../proxy/server-pool.js';
import { nextCheckDelayMs, type CheckIntervals } from './health-state.js';
import type { Probe } from './probe.js';

interface Loop {
  server: Server;
  timer: Timer | undefined;
  running: boolean;
  stopped: boolean;
}

/**
 * Runs one backend's active checks on a Clock: one loop per server, each check bounded by the
 * timeout, the next one scheduled by {@link nextCheckDelayMs} (interval, fastInterval, downInterval).
 * Results go to the pool, which owns the health verdict.
 */
export class CheckScheduler {
  private loops = new Map<Server, Loop>();
  private intervals: CheckIntervals;
  private timeoutMs: number;
  private targetPort: number | undefined;

  constructor(
    private readonly pool: ServerPool,
    cfg: HealthCheckConfig,
    private probe: Probe,
    private readonly clock: Clock,
    private readonly onCheck: (server: Server, check: LastCheck) => void = () => {},
    private readonly rng: () => number = Math.random,
  ) {
    this.intervals = intervalsOf(cfg);
    this.timeoutMs = cfg.timeout;
    this.targetPort = cfg.port;
  }

  /** Starts or stops loops to match the pool's servers; changed check settings apply from the next check. */
  reconcile(cfg?: HealthCheckConfig, probe?: Probe): void {
    if (cfg) {
      this.intervals = intervalsOf(cfg);
      this.timeoutMs = cfg.timeout;
      this.targetPort = cfg.port;
    }
    if (probe) this.probe = probe;
    const current = new Set(this.pool.servers);
    for (const [server, loop] of this.loops) {
      if (!current.has(server)) {
        loop.stopped = true;
        loop.timer?.cancel();
        this.loops.delete(server);
      }
    }
    for (const server of current) {
      if (this.loops.has(server)) continue;
      const loop: Loop = { server, timer: undefined, running: false, stopped: false };
      this.loops.set(server, loop);
      // Spread the first checks over one interval so servers are not probed in lockstep.
      this.schedule(loop, Math.floor(this.rng() * Math.min(this.intervals.intervalMs, 1000)));
    }
  }

  /** Stops every loop. */
  stop(): void {
    for (const loop of this.loops.values()) {
      loop.stopped = true;
      loop.timer?.cancel();
    }
    this.loops.clear();
  }

  private schedule(loop: Loop, delayMs: number): void {
    if (loop.stopped) return;
    loop.timer?.cancel();
    loop.timer = this.clock.setTimeout(() => void this.run(loop), delayMs);
  }

  private async run(loop: Loop): Promise<void> {
    if (loop.stopped || loop.running) return;
    loop.running = true;
    loop.timer?.cancel();
    const { server } = loop;
    const controller = new AbortController();
    const deadline = this.clock.setTimeout(() => controller.abort(), this.timeoutMs);
    const startMs = this.clock.now();
    let outcome;
    try {
      outcome = await this.probe({ host: server.host, port: this.targetPort ?? server.port }, controller.signal);
    } catch (err) {
      outcome = { ok: false, detail: `check failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    deadline.cancel();
    loop.running = false;
    if (loop.stopped) return;
    const atMs = this.clock.now();
    const check: LastCheck = { ok: outcome.ok, detail: outcome.detail, latencyMs: atMs - startMs, atMs };
    this.pool.recordCheck(server, check);
    this.onCheck(server, check);
    this.schedule(loop, nextCheckDelayMs(server.health, this.pool.settings, this.intervals));
  }
}

function intervalsOf(cfg: HealthCheckConfig): CheckIntervals {
  return {
    intervalMs: cfg.interval,
    fastIntervalMs: cfg.fastInterval ?? cfg.interval,
    downIntervalMs: cfg.downInterval ?? cfg.interval,
  };
}
