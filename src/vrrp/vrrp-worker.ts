// The data plane's handle on the VRRP thread (engine-worker.ts): it forwards config and tracked
// backend health, and keeps the latest status the thread reported for the API and metrics.
import { Worker } from 'node:worker_threads';
import type { VrrpInstanceConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import type { VrrpStatus } from './vrrp-engine.js';

/** Messages to the VRRP thread. */
export type ToVrrpWorker =
  /** `takeover`: instances the previous process was master of (they start as master). */
  | { type: 'apply'; id: number; instances: VrrpInstanceConfig[]; takeover?: string[] }
  | { type: 'backend'; name: string; ok: boolean }
  | { type: 'maintenance'; name: string; on: boolean }
  /** `silently`: a restart hands the instances to the next process (no priority 0, VIPs kept). */
  | { type: 'stop'; silently?: boolean };

/** Messages from the VRRP thread. */
export type FromVrrpWorker =
  | { type: 'applied'; id: number; errors: string[] }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; fields: Record<string, unknown>; msg: string }
  | { type: 'status'; instances: VrrpStatus[]; loopDelayMs: { p99: number; max: number } }
  | { type: 'stopped' };

/** The VRRP engine running in its own thread. Started on the first config with instances. */
export class VrrpWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (errors: string[]) => void>();
  private stopped: Promise<void> | undefined;
  private readonly backends = new Map<string, boolean>();
  /** Instances in maintenance: given again to a thread that replaces a dead one. */
  private readonly maintenance = new Set<string>();
  private lastInstances: VrrpInstanceConfig[] = [];
  /** The latest status reported by the thread. */
  instances: VrrpStatus[] = [];
  loopDelayMs = { p99: 0, max: 0 };

  constructor(
    private readonly log: Logger,
    private readonly onStatus: (instances: VrrpStatus[]) => void = () => {},
    /** The thread's entry module (tests substitute one). */
    private readonly entry = new URL('./engine-worker.js', import.meta.url),
  ) {}

  private start(): Worker {
    const w = new Worker(this.entry);
    w.on('message', (m: FromVrrpWorker) => {
      if (m.type === 'applied') {
        this.pending.get(m.id)?.(m.errors);
        this.pending.delete(m.id);
      } else if (m.type === 'log') {
        this.log[m.level](m.fields, m.msg);
      } else if (m.type === 'status') {
        this.instances = m.instances;
        this.loopDelayMs = m.loopDelayMs;
        this.onStatus(m.instances);
      }
    });
    w.on('error', (err) => {
      this.log.error({ event: 'vrrp-thread-failed', err }, `vrrp: the VRRP thread failed (${err.message}); starting a new one`);
      for (const resolve of this.pending.values()) resolve([`the VRRP thread failed: ${err.message}`]);
      this.pending.clear();
      this.instances = [];
      // A new thread removes the VIPs the dead one left (as at any start) and competes again.
      if (this.worker === w && !this.stopped) {
        this.worker = undefined;
        void this.apply(this.lastInstances);
      }
    });
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
    });
    return w;
  }

  /** Starts the thread before its first instances (a successor's VRRP must start within an advert interval). */
  warmUp(): void {
    this.worker ??= this.start();
  }

  /** Reconciles the thread's instances with `instances`; resolves with the errors (empty = applied). */
  apply(instances: VrrpInstanceConfig[], takeover: string[] = []): Promise<string[]> {
    if (!this.worker && instances.length === 0) return Promise.resolve([]);
    this.lastInstances = instances;
    this.worker ??= this.start();
    const id = this.nextId++;
    const done = new Promise<string[]>((resolve) => this.pending.set(id, resolve));
    // Maintenance and backend health first, so an instance starts with them (never master for a moment).
    for (const name of this.maintenance) this.worker.postMessage({ type: 'maintenance', name, on: true } satisfies ToVrrpWorker);
    for (const [name, ok] of this.backends) this.worker.postMessage({ type: 'backend', name, ok } satisfies ToVrrpWorker);
    this.worker.postMessage({ type: 'apply', id, instances, ...(takeover.length ? { takeover } : {}) } satisfies ToVrrpWorker);
    return done;
  }

  /** Tells the instances that track `name` whether it can serve; only changes are sent. */
  setBackend(name: string, ok: boolean): void {
    if (this.backends.get(name) === ok) return;
    this.backends.set(name, ok);
    this.worker?.postMessage({ type: 'backend', name, ok } satisfies ToVrrpWorker);
  }

  /** Instances in maintenance (what a restart must restore). */
  get inMaintenance(): ReadonlySet<string> {
    return this.maintenance;
  }

  /** Restores maintenance saved by an earlier run, before the first apply starts the instances. */
  restoreMaintenance(names: Iterable<string>): void {
    for (const name of names) this.maintenance.add(name);
  }

  /** Takes instance `name` out of the election (on) or back in; false when no such instance is configured. */
  setMaintenance(name: string, on: boolean): boolean {
    if (!this.lastInstances.some((i) => i.name === name)) return false;
    if (on) this.maintenance.add(name);
    else this.maintenance.delete(name);
    this.worker?.postMessage({ type: 'maintenance', name, on } satisfies ToVrrpWorker);
    return true;
  }

  /** Hands over (priority 0), releases the VIPs and ends the thread; `silently`: keeps both for the next process. */
  stop(silently = false): Promise<void> {
    const w = this.worker;
    if (!w) return Promise.resolve();
    this.stopped ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => void w.terminate().then(() => resolve()), 2000);
      w.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      w.postMessage({ type: 'stop', silently } satisfies ToVrrpWorker);
    });
    return this.stopped;
  }
}
