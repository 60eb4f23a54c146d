/** A cancellable timer handle returned by a {@link Clock}. */
export interface Timer {
  cancel(): void;
}

/**
 * Time source for everything that schedules work. Pure cores take `now` as an argument; drivers take
 * a Clock so that tests can walk a failover millisecond by millisecond with {@link FakeClock}.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (not wall time). */
  now(): number;
  setTimeout(fn: () => void, delayMs: number): Timer;
}

/** The real clock: `performance.now()` and Node timers (unref'd: timers never keep the process alive). */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, delayMs: number): Timer {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  }
}

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A manual clock for tests: time moves only through {@link FakeClock.advance}. */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private pending: PendingTimer[] = [];

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, delayMs: number): Timer {
    const timer: PendingTimer = { at: this.current + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.pending.push(timer);
    return { cancel: () => { timer.cancelled = true; } };
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in deadline order. */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      this.pending = this.pending.filter((t) => !t.cancelled);
      this.pending.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.pending[0];
      if (!next || next.at > end) break;
      this.pending.shift();
      this.current = next.at;
      next.fn();
    }
    this.current = end;
  }
}
