// The client loop of the demo and the drill: a new TLS connection to HOST:PORT every period, each
// request's start, end and outcome recorded (client-record.ts). A new connection each time is what
// shows a VIP move at once (a kept-alive connection would only break when its holder dies).
import { request } from 'node:https';
import { ClientRecord } from './client-record.js';

export interface ClientLoop {
  record: ClientRecord;
  periodMs: number;
  /** Every request has its outcome within this long of its start. */
  timeoutMs: number;
  /** Sends no more; resolves once the requests in flight have their answers (or their timeouts). */
  stop(): Promise<void>;
  /** Resolves once every request started before `ms` (a Date.now() time) is in the record. */
  settled(ms: number): Promise<void>;
}

/** Starts sending GET `path` to host:port every `periodMs`; an answer other than 200 is a failure. */
export function startClientLoop(o: { host: string; port: number; path: string; periodMs: number; timeoutMs?: number; ca?: Buffer; keepMs?: number }): ClientLoop {
  const record = new ClientRecord(o.keepMs ?? 10 * 60_000);
  const timeoutMs = o.timeoutMs ?? 2000;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  /** The start times of the requests without an outcome yet, and who waits for them. */
  const pending = new Set<{ startMs: number }>();
  let waiters: { ms: number; resolve: () => void }[] = [];
  const wake = () => {
    const oldest = Math.min(...[...pending].map((p) => p.startMs));
    waiters = waiters.filter((w) => (w.ms <= oldest ? (w.resolve(), false) : true));
  };
  const once = () => {
    inFlight++;
    const startMs = Date.now();
    const mine = { startMs };
    pending.add(mine);
    let recorded = false;
    // one outcome per request, whichever of the response's end and an error comes first
    const add = (s: Parameters<ClientRecord['add']>[0]) => {
      if (recorded) return;
      recorded = true;
      clearTimeout(deadline);
      record.add(s);
      pending.delete(mine);
      wake();
      if (--inFlight === 0) drained?.();
    };
    const tls = o.ca ? { ca: o.ca } : { rejectUnauthorized: false };
    const req = request({ host: o.host, port: o.port, path: o.path, agent: false, ...tls }, (res) => {
      res.resume();
      res.on('error', (err: NodeJS.ErrnoException) => add({ startMs, endMs: Date.now(), ok: false, error: err.code ?? err.message }));
      res.on('end', () => {
        const servedBy = res.headers['x-kubeha-sim'];
        add({ startMs, endMs: Date.now(), ok: res.statusCode === 200, ...(typeof servedBy === 'string' ? { servedBy } : {}), ...(res.statusCode === 200 ? {} : { error: `HTTP ${res.statusCode}` }) });
      });
    });
    // a deadline from the start, not an idle timeout: every request has its outcome within timeoutMs,
    // so a window is complete timeoutMs after it ends
    const deadline = setTimeout(() => {
      add({ startMs, endMs: Date.now(), ok: false, error: 'TIMEOUT' });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => add({ startMs, endMs: Date.now(), ok: false, error: err.code ?? err.message }));
    req.end();
  };
  const timer = setInterval(once, o.periodMs);
  return {
    record,
    periodMs: o.periodMs,
    timeoutMs,
    // by the requests themselves, not by a wait: a deadline timer that fires late (a loaded machine) still counts
    settled: (ms) =>
      new Promise<void>((resolve) => {
        waiters.push({ ms, resolve });
        wake();
      }),
    stop: () => {
      clearInterval(timer);
      if (inFlight === 0) return Promise.resolve();
      // every request ends by its deadline at the latest; the bound is a second more
      return new Promise<void>((resolve) => {
        drained = resolve;
        setTimeout(resolve, timeoutMs + 1000).unref();
      });
    },
  };
}
