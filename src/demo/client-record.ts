// What the demo's (and the drill's) client saw: one sample per request through the VIP, and the
// figures of a time window — requests, failures and the client-seen outage. Pure: the samples come
// from the client loop, the windows from the chaos steps.

/** One request through the VIP: when it started and ended (ms), and whether it was answered with 200. */
export interface ClientSample {
  startMs: number;
  endMs: number;
  ok: boolean;
  /** The stand-in (or apiserver) that answered, when it said. */
  servedBy?: string;
  /** Why it failed (the error code, a status), when it did. */
  error?: string;
}

/** The figures of one window of the client's record. */
export interface ClientWindow {
  total: number;
  failed: number;
  /**
   * The client-seen outage: the longest time in the window without an answer (from one answered
   * request's end to the next one's), less the loop's own period; 0 when that is under two periods
   * (the spacing of the requests, not an outage).
   */
  outageMs: number;
  /** The first error met in the window, for the report. */
  firstError?: string;
}

/**
 * Whether a request belongs to the window [fromMs, toMs): it started before the window's end and
 * ended at or after its start — so a request on the wire when the fault came is the fault's.
 */
export const inWindow = (s: ClientSample, fromMs: number, toMs: number) => s.endMs >= fromMs && s.startMs < toMs;

/** The figures of the window [fromMs, toMs) (see inWindow), the loop sending one request every `periodMs`. */
export function clientWindow(samples: readonly ClientSample[], fromMs: number, toMs: number, periodMs: number): ClientWindow {
  const window = samples.filter((s) => inWindow(s, fromMs, toMs));
  const failed = window.filter((s) => !s.ok);
  // answers by the time they came, with the last one before the window as the start of the first gap
  const answers = samples.filter((s) => s.ok && s.endMs <= toMs).map((s) => s.endMs).sort((a, b) => a - b);
  const before = answers.filter((t) => t < fromMs).pop() ?? fromMs;
  let previous = Math.max(before, fromMs - periodMs);
  let longest = 0;
  for (const t of answers) {
    if (t < fromMs) continue;
    longest = Math.max(longest, t - previous);
    previous = t;
  }
  // a window that ends while nothing answers yet
  if (window.length > 0 && answers.filter((t) => t >= fromMs).length === 0) longest = toMs - previous;
  const outage = longest - periodMs;
  return {
    total: window.length,
    failed: failed.length,
    outageMs: longest < 2 * periodMs ? 0 : Math.round(outage),
    ...(failed[0]?.error ? { firstError: failed[0].error } : {}),
  };
}

/** The samples of the last `keepMs`, oldest first; a bounded record of a loop that runs for hours. */
export class ClientRecord {
  readonly samples: ClientSample[] = [];
  ok = 0;
  failed = 0;
  /** Failures by error, over the whole run. */
  readonly errors = new Map<string, number>();

  constructor(private readonly keepMs: number) {}

  add(s: ClientSample): void {
    this.samples.push(s);
    if (s.ok) this.ok++;
    else {
      this.failed++;
      const e = s.error ?? 'failed';
      this.errors.set(e, (this.errors.get(e) ?? 0) + 1);
    }
    const cutoff = s.endMs - this.keepMs;
    let drop = 0;
    while (drop < this.samples.length && this.samples[drop]!.endMs < cutoff) drop++;
    if (drop > 0) this.samples.splice(0, drop);
  }

  /** Answered requests in the second before `nowMs`. */
  rate(nowMs: number): number {
    let n = 0;
    for (let i = this.samples.length - 1; i >= 0 && this.samples[i]!.endMs > nowMs - 1000; i--) if (this.samples[i]!.ok) n++;
    return n;
  }
}
