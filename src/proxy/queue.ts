import type { Clock, Timer } from '../clock.js';

interface Waiter {
  resume: () => void;
  timer: Timer;
  done: boolean;
}

/**
 * A bounded FIFO of sessions waiting for a server slot (HAProxy's backend queue). A waiter leaves by
 * being resumed, by timing out, or by cancelling (its client went away).
 */
export class WaitQueue {
  private waiters: Waiter[] = [];
  /** Sessions refused because the queue was full. */
  overflows = 0;
  /** Sessions that waited longer than the queue timeout. */
  timeouts = 0;

  constructor(
    private readonly clock: Clock,
    public maxLength: number,
    public timeoutMs: number,
  ) {}

  get length(): number {
    return this.waiters.length;
  }

  /**
   * Adds a waiter. Returns a cancel function, or undefined when the queue is full (the caller refuses
   * the session). `onTimeout` runs if no slot frees up within the queue timeout.
   */
  enqueue(resume: () => void, onTimeout: () => void): (() => void) | undefined {
    if (this.waiters.length >= this.maxLength) {
      this.overflows++;
      return undefined;
    }
    const waiter: Waiter = {
      resume,
      done: false,
      timer: this.clock.setTimeout(() => {
        if (waiter.done) return;
        this.remove(waiter);
        this.timeouts++;
        onTimeout();
      }, this.timeoutMs),
    };
    this.waiters.push(waiter);
    return () => this.remove(waiter);
  }

  /** Resumes the oldest waiter, if any; returns whether one was resumed. */
  resumeNext(): boolean {
    const waiter = this.waiters.shift();
    if (!waiter) return false;
    waiter.done = true;
    waiter.timer.cancel();
    waiter.resume();
    return true;
  }

  private remove(waiter: Waiter): void {
    waiter.done = true;
    waiter.timer.cancel();
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
  }
}
