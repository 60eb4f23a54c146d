/** Where a probe connects. */
export interface ProbeTarget {
  host: string;
  port: number;
}

/** A probe's verdict; latency is measured by the scheduler around the call. */
export interface ProbeOutcome {
  ok: boolean;
  detail: string;
}

/** One kind of active check. It must settle promptly once `signal` aborts (the check timeout). */
export type Probe = (target: ProbeTarget, signal: AbortSignal) => Promise<ProbeOutcome>;

/** Settles a socket-based probe: the first of success, error or abort wins, then the socket is destroyed. */
export function settleOnce(
  signal: AbortSignal,
  destroy: () => void,
  executor: (done: (outcome: ProbeOutcome) => void) => void,
): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (outcome: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      destroy();
      resolve(outcome);
    };
    const onAbort = () => done({ ok: false, detail: 'timeout' });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    executor(done);
  });
}
