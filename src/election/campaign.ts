// Leader election over etcd with fencing tokens, after etcd's own recipe (concurrency.Election):
// each candidate puts `<prefix><lease id>` under its lease; the key with the lowest create revision
// leads, and that revision is the epoch: it only ever grows, so a resource that remembers the
// highest epoch it has seen can refuse a deposed leader's late writes.
//
// What etcd's recipe lacks and this adds: every call has a deadline, keepalives go out every TTL/3,
// and a leader steps down on its own (its AbortSignal fires) before its lease can expire, unless a
// keepalive was acknowledged in time (lease-guard.ts). A leader cut off from etcd is therefore gone
// before any other candidate can be elected.
import { SystemClock, type Clock, type Timer } from '../clock.js';
import type { EtcdClient } from './etcd-client.js';
import { keepAliveIntervalMs, LeaseGuard, type LeaseTiming } from './lease-guard.js';

/** The key prefix of election `name`. */
export const electionPrefix = (name: string) => `/kubeha/election/${name}/`;

/** What a campaign reports as it goes (logs, metrics). */
export type CampaignEvent =
  | { kind: 'candidate'; key: string; leaseId: string }
  | { kind: 'elected'; epoch: bigint; waitedMs: number }
  | { kind: 'lost'; reason: string }
  | { kind: 'keepalive'; latencyMs: number; ok: boolean }
  | { kind: 'retry'; error: string };

/** Options of {@link campaign}. */
export interface CampaignOptions {
  client: EtcdClient;
  name: string;
  /** Stored as the key's value; observers see it as the leader's identity. */
  identity: string;
  timing: LeaseTiming;
  clock?: Clock;
  /** Aborting it gives up the campaign (or the leadership). */
  signal?: AbortSignal;
  onEvent?: (e: CampaignEvent) => void;
}

/** A won election. */
export interface Leadership {
  /** The fencing token: the leader key's create revision. */
  epoch: bigint;
  key: string;
  leaseId: string;
  identity: string;
  /** Fires when leadership ends, before the lease can expire; {@link endReason} says why. */
  signal: AbortSignal;
  /** Why leadership ended (once `signal` has fired). */
  endReason(): string;
  /** Whether leadership still holds at this instant (checks the clock, not just the signal). */
  valid(): boolean;
  /** Steps down and deletes the key so a successor takes over at once. */
  resign(): Promise<void>;
}

const sleep = (clock: Clock, ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = clock.setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      t.cancel();
      resolve();
    }, { once: true });
  });

/**
 * Campaigns until elected (resolves with the leadership) or `signal` aborts (rejects). Losing the
 * lease while waiting starts over with a new one; etcd being unreachable is retried.
 */
export async function campaign(opts: CampaignOptions): Promise<Leadership> {
  const clock = opts.clock ?? new SystemClock();
  const started = clock.now();
  for (;;) {
    if (opts.signal?.aborted) throw new Error('campaign aborted');
    try {
      const term = new Term(opts, clock);
      const won = await term.run();
      if (won) {
        opts.onEvent?.({ kind: 'elected', epoch: won.epoch, waitedMs: clock.now() - started });
        return won;
      }
    } catch (err) {
      opts.onEvent?.({ kind: 'retry', error: err instanceof Error ? err.message : String(err) });
      await sleep(clock, Math.min(1000, keepAliveIntervalMs(opts.timing)), opts.signal);
    }
  }
}

/** One lease's worth of candidacy and, if it wins, leadership. */
class Term {
  private guard: LeaseGuard | undefined;
  private leaseId = '';
  private key = '';
  private keepAliveTimer: Timer | undefined;
  private deadlineTimer: Timer | undefined;
  private readonly ended = new AbortController();
  private wake: (() => void) | undefined;

  constructor(
    private readonly opts: CampaignOptions,
    private readonly clock: Clock,
  ) {}

  private get client(): EtcdClient {
    return this.opts.client;
  }

  private get intervalMs(): number {
    return keepAliveIntervalMs(this.opts.timing);
  }

  /** Resolves with the leadership, or undefined when this lease was lost before winning. */
  async run(): Promise<Leadership | undefined> {
    const { timing, identity } = this.opts;
    const sentAt = this.clock.now();
    const lease = await this.client.grant(Math.ceil(timing.ttlMs / 1000), Math.min(this.intervalMs, 3000));
    this.leaseId = lease.id;
    this.guard = new LeaseGuard(timing, sentAt, lease.ttlS * 1000);
    this.key = `${electionPrefix(this.opts.name)}${BigInt(lease.id).toString(16)}`;
    this.armDeadline();
    this.scheduleKeepAlive();
    const onAbort = () => this.end('campaign cancelled');
    this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    // Kept when elected: aborting the caller's signal then ends the leadership.
    this.ended.signal.addEventListener('abort', () => this.opts.signal?.removeEventListener('abort', onAbort), { once: true });
    try {
      const created = await this.client.createIfAbsent(this.key, identity, lease.id, this.callDeadline());
      const myRev = created.kv?.createRevision ?? created.revision;
      this.opts.onEvent?.({ kind: 'candidate', key: this.key, leaseId: lease.id });
      const watcher = new AbortController();
      this.ended.signal.addEventListener('abort', () => watcher.abort(), { once: true });
      try {
        for (;;) {
          if (this.ended.signal.aborted) return undefined;
          const { kvs, revision } = await this.client.rangePrefix(electionPrefix(this.opts.name), this.callDeadline());
          const mine = kvs.find((kv) => kv.key === this.key);
          if (!mine) {
            this.end('our key is gone (lease expired or revoked)');
            return undefined;
          }
          if (kvs[0]?.key === this.key) {
            if (!this.guard.valid(this.clock.now())) {
              this.end('lease deadline passed while being elected');
              return undefined;
            }
            return this.leadership(myRev);
          }
          await this.waitForChange(revision, watcher.signal);
        }
      } finally {
        watcher.abort();
      }
    } catch (err) {
      this.end(`campaign failed: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
  }

  /** Deadline of one etcd call: never past the moment we must step down. */
  private callDeadline(): number {
    const left = (this.guard?.deadlineMs ?? Infinity) - this.clock.now();
    return Math.max(1, Math.min(3000, left));
  }

  /** Waits until a key before ours may have gone: a watch event, or the next poll (watch is best effort). */
  private waitForChange(revision: bigint, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.wake = undefined;
        signal.removeEventListener('abort', done);
        stop.abort();
        timer.cancel();
        resolve();
      };
      const stop = new AbortController();
      signal.addEventListener('abort', done, { once: true });
      const timer = this.clock.setTimeout(done, this.intervalMs);
      this.wake = done;
      void this.client.watchPrefix(electionPrefix(this.opts.name), revision + 1n, (events) => {
        if (events.some((e) => e.type === 'DELETE')) done();
      }, AbortSignal.any([stop.signal, signal]));
    });
  }

  private leadership(epoch: bigint): Leadership {
    const guard = this.guard!;
    // Once leading, a watch on our own key notices at once if it is deleted behind our back.
    void this.watchOwnKey(epoch);
    return {
      epoch,
      key: this.key,
      leaseId: this.leaseId,
      identity: this.opts.identity,
      signal: this.ended.signal,
      endReason: () => (this.ended.signal.reason instanceof Error ? this.ended.signal.reason.message : 'leadership lost'),
      valid: () => !this.ended.signal.aborted && guard.valid(this.clock.now()),
      resign: async () => {
        this.end('resigned');
        try {
          await this.client.revoke(this.leaseId, 2000);
        } catch {
          // unreachable etcd: the lease expires on its own, and we already stepped down
        }
      },
    };
  }

  private async watchOwnKey(fromRevision: bigint): Promise<void> {
    while (!this.ended.signal.aborted) {
      await this.client.watchPrefix(this.key, fromRevision, (events) => {
        if (events.some((e) => e.type === 'DELETE' && e.kv.key === this.key)) this.end('our key was deleted');
      }, this.ended.signal);
      await sleep(this.clock, this.intervalMs, this.ended.signal);
    }
  }

  private scheduleKeepAlive(): void {
    this.keepAliveTimer = this.clock.setTimeout(() => void this.keepAlive(), this.intervalMs);
  }

  private async keepAlive(): Promise<void> {
    if (this.ended.signal.aborted) return;
    const guard = this.guard!;
    const sentAt = this.clock.now();
    this.scheduleKeepAlive();
    try {
      const ttlS = await this.client.keepAlive(this.leaseId, Math.max(1, Math.min(this.intervalMs, guard.deadlineMs - sentAt)));
      this.opts.onEvent?.({ kind: 'keepalive', latencyMs: this.clock.now() - sentAt, ok: ttlS > 0 });
      guard.onKeepAliveAck(sentAt, ttlS * 1000);
      if (!guard.valid(this.clock.now())) this.end(ttlS > 0 ? 'lease renewed too late' : 'lease expired (etcd no longer knows it)');
      else this.armDeadline();
    } catch {
      this.opts.onEvent?.({ kind: 'keepalive', latencyMs: this.clock.now() - sentAt, ok: false });
    }
  }

  /** The step-down timer: fires at the guard's deadline unless a keepalive moved it. */
  private armDeadline(): void {
    this.deadlineTimer?.cancel();
    const guard = this.guard!;
    this.deadlineTimer = this.clock.setTimeout(() => {
      if (!guard.valid(this.clock.now())) this.end('no keepalive acknowledged in time: stepping down before the lease can expire');
      else this.armDeadline();
    }, guard.deadlineMs - this.clock.now());
  }

  private end(reason: string): void {
    if (this.ended.signal.aborted) return;
    this.guard?.expire();
    this.keepAliveTimer?.cancel();
    this.deadlineTimer?.cancel();
    this.ended.abort(new Error(reason));
    this.wake?.();
    this.opts.onEvent?.({ kind: 'lost', reason });
    // Best effort: revoking lets a successor in at once instead of after the TTL.
    if (reason !== 'resigned') void this.client.revoke(this.leaseId, 1000).catch(() => {});
  }
}

/** The current leader of an election as observers see it. */
export interface LeaderView {
  identity: string;
  epoch: bigint;
}

/**
 * Calls `onChange` with the leader (or null) whenever it changes, until `signal` aborts. Watches
 * the prefix and re-reads it at least every `pollMs` (a watch on a dead endpoint stays silent).
 */
export async function observe(client: EtcdClient, name: string, onChange: (leader: LeaderView | null) => void, signal: AbortSignal, pollMs = 1000, clock: Clock = new SystemClock()): Promise<void> {
  let last: string | undefined;
  while (!signal.aborted) {
    let revision = 0n;
    try {
      const r = await client.rangePrefix(electionPrefix(name), 3000);
      revision = r.revision;
      const first = r.kvs[0];
      const view = first ? { identity: first.value, epoch: first.createRevision } : null;
      const id = view ? `${view.epoch}:${view.identity}` : '';
      if (id !== last) {
        last = id;
        onChange(view);
      }
    } catch {
      await sleep(clock, pollMs, signal);
      continue;
    }
    const stop = new AbortController();
    const timer = clock.setTimeout(() => stop.abort(), pollMs);
    await client.watchPrefix(electionPrefix(name), revision + 1n, () => stop.abort(), AbortSignal.any([stop.signal, signal]));
    timer.cancel();
  }
}

/** {@link observe} as an async iterable: each value is the leader (or null) after a change. */
export async function* leaderChanges(client: EtcdClient, name: string, signal: AbortSignal, pollMs = 1000): AsyncGenerator<LeaderView | null> {
  const queue: (LeaderView | null)[] = [];
  let wake: (() => void) | undefined;
  const done = observe(client, name, (l) => {
    queue.push(l);
    wake?.();
  }, signal, pollMs).finally(() => wake?.());
  let finished = false;
  void done.then(() => (finished = true));
  while (!signal.aborted) {
    if (queue.length === 0) {
      await new Promise<void>((r) => {
        wake = r;
        signal.addEventListener('abort', () => r(), { once: true });
      });
      wake = undefined;
    }
    while (queue.length > 0) yield queue.shift()!;
    if (finished) return;
  }
}
