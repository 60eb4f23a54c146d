// The data plane's handle on the BGP thread (bgp-thread.ts): config, tracked backend health and
// maintenance go in; the speaker's status comes back for the state API, metrics and dashboard.
import { Worker } from 'node:worker_threads';
import type { BgpConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import type { BgpStatus } from './speaker.js';

/** Messages to the BGP thread. */
export type ToBgpWorker =
  | { type: 'apply'; id: number; config: BgpConfig }
  | { type: 'backend'; name: string; ok: boolean }
  | { type: 'maintenance'; on: boolean }
  | { type: 'stop' };

/** Messages from the BGP thread. */
export type FromBgpWorker =
  | { type: 'applied'; id: number; errors: string[] }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; fields: Record<string, unknown>; msg: string }
  | { type: 'status'; status: BgpStatus }
  | { type: 'stopped' };

/** The name BGP goes by in `kubeha maintenance` and the admin API (/api/v1/vrrp/bgp), beside the VRRP instances. */
export const BGP_MAINTENANCE_NAME = 'bgp';

/** The BGP speaker in its own thread, started by the first config with `bgp:`. */
export class BgpWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (errors: string[]) => void>();
  private readonly backends = new Map<string, boolean>();
  private maintenance = false;
  private last: BgpConfig | undefined;
  private stopped: Promise<void> | undefined;
  /** The latest status the thread reported; null before the first. */
  status: BgpStatus | null = null;

  constructor(
    private readonly log: Logger,
    private readonly onStatus: (status: BgpStatus) => void = () => {},
    private readonly entry = new URL('./bgp-thread.js', import.meta.url),
  ) {}

  private start(): Worker {
    const w = new Worker(this.entry);
    w.on('message', (m: FromBgpWorker) => {
      if (m.type === 'applied') {
        this.pending.get(m.id)?.(m.errors);
        this.pending.delete(m.id);
      } else if (m.type === 'log') this.log[m.level](m.fields, m.msg);
      else if (m.type === 'status') {
        this.status = m.status;
        this.onStatus(m.status);
      }
    });
    w.on('error', (err) => {
      this.log.error({ event: 'bgp-thread-failed', err }, `bgp: the BGP thread failed (${err.message}); starting a new one`);
      for (const resolve of this.pending.values()) resolve([`the BGP thread failed: ${err.message}`]);
      this.pending.clear();
      this.status = null;
      if (this.worker === w && !this.stopped && this.last) {
        this.worker = undefined;
        void this.apply(this.last);
      }
    });
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
    });
    return w;
  }

  /** Applies `config` (undefined: no BGP, the thread stops); resolves with the errors (empty = applied). */
  async apply(config: BgpConfig | undefined): Promise<string[]> {
    if (!config) {
      if (this.worker) await this.stop();
      this.stopped = undefined;
      this.last = undefined;
      return [];
    }
    this.last = config;
    this.worker ??= this.start();
    const id = this.nextId++;
    const done = new Promise<string[]>((resolve) => this.pending.set(id, resolve));
    // health and maintenance first, so a VIP is never announced for a moment it should not be
    if (this.maintenance) this.worker.postMessage({ type: 'maintenance', on: true } satisfies ToBgpWorker);
    for (const [name, ok] of this.backends) this.worker.postMessage({ type: 'backend', name, ok } satisfies ToBgpWorker);
    this.worker.postMessage({ type: 'apply', id, config } satisfies ToBgpWorker);
    return done;
  }

  /** Whether tracked backend `name` can serve; only changes are sent. */
  setBackend(name: string, ok: boolean): void {
    if (this.backends.get(name) === ok) return;
    this.backends.set(name, ok);
    this.worker?.postMessage({ type: 'backend', name, ok } satisfies ToBgpWorker);
  }

  /** Withdraws every VIP (on) or announces them again; false when BGP is not configured. */
  setMaintenance(on: boolean): boolean {
    if (!this.last) return false;
    this.maintenance = on;
    this.worker?.postMessage({ type: 'maintenance', on } satisfies ToBgpWorker);
    return true;
  }

  /** Maintenance saved by an earlier run, applied before the first announcement. */
  restoreMaintenance(): void {
    this.maintenance = true;
  }

  get inMaintenance(): boolean {
    return this.maintenance;
  }

  /** Withdraws every VIP, sends Cease to every peer, and ends the thread (at most 3 s). */
  stop(): Promise<void> {
    const w = this.worker;
    if (!w) return Promise.resolve();
    this.stopped ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => void w.terminate().then(() => resolve()), 3000);
      w.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      w.postMessage({ type: 'stop' } satisfies ToBgpWorker);
    });
    return this.stopped;
  }
}
