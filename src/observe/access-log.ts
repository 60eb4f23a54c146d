import { pino } from 'pino';
import type { SessionRecord } from '../proxy/session.js';

/** `text` (nginx-like, one line a session) or `json` (one object a session). */
export type AccessLogFormat = 'text' | 'json';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** nginx's `$time_local` in UTC: `22/Nov/2026:13:57:29 +0000`. */
function timeLocal(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

function clientOf(r: SessionRecord): string {
  return r.clientAddress.includes(':') ? `[${r.clientAddress}]:${r.clientPort}` : `${r.clientAddress}:${r.clientPort}`;
}

/**
 * One access log line for a finished session (pure). `endWallMs` is the wall-clock time it ended.
 * text: `client [time] frontend backend/server connect_ms duration_ms bytes_up bytes_down retries termination`,
 * with `-` for a server or connect time that never happened.
 */
export function formatAccessLine(r: SessionRecord, endWallMs: number, format: AccessLogFormat): string {
  const termination = r.termination === 'connect-failed' ? `connect-failed(retries=${r.retries})` : r.termination;
  if (format === 'json') {
    return JSON.stringify({
      time: new Date(endWallMs).toISOString(),
      client: clientOf(r),
      frontend: r.frontend,
      backend: r.backend,
      server: r.server ?? null,
      connectMs: r.connectMs < 0 ? null : Math.round(r.connectMs * 1000) / 1000,
      durationMs: Math.round(r.durationMs * 1000) / 1000,
      bytesUp: r.bytesUp,
      bytesDown: r.bytesDown,
      retries: r.retries,
      termination: r.termination,
      ...(r.detail ? { detail: r.detail } : {}),
    });
  }
  const connect = r.connectMs < 0 ? '-' : `${Math.round(r.connectMs)}ms`;
  return `${clientOf(r)} [${timeLocal(endWallMs)}] ${r.frontend} ${r.backend}/${r.server ?? '-'} connect=${connect} duration=${Math.round(r.durationMs)}ms up=${r.bytesUp} down=${r.bytesDown} retries=${r.retries} ${termination}`;
}

/** Where access log lines go: stdout, or a file that SIGUSR1 reopens after rotation. */
export class AccessLog {
  private readonly dest: ReturnType<typeof pino.destination>;
  private readonly flushTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly format: AccessLogFormat,
    readonly path: string | undefined,
  ) {
    // pino's destination (sonic-boom): writes gathered into 4 KiB batches, flushed at least once a
    // second so a quiet node's lines still show up promptly; reopen() for logrotate.
    this.dest = pino.destination(path ? { dest: path, sync: false, mkdir: true, minLength: 4096 } : { dest: 1, sync: false, minLength: 4096 });
    this.flushTimer = setInterval(() => this.flush(), 1000);
    this.flushTimer.unref();
  }

  private flush(): void {
    try {
      this.dest.flush();
    } catch {
      // sonic-boom refuses to flush while it is still opening the file: the next tick will.
    }
  }

  /** Writes the line of one finished session. */
  write(record: SessionRecord, endWallMs: number): void {
    this.dest.write(`${formatAccessLine(record, endWallMs, this.format)}\n`);
  }

  /** Reopens the file (after logrotate moved it); a no-op on stdout. */
  reopen(): void {
    if (!this.path) return;
    // Lines written before the signal belong in the old file: flush them there first.
    this.dest.flush((err) => {
      if (err || this.closed) return; // closed meanwhile (a shutdown right after SIGUSR1)
      try {
        this.dest.reopen();
      } catch {
        // sonic-boom refuses while it is closing: nothing to reopen
      }
    });
  }

  /** Flushes and closes. */
  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.flushTimer);
    return new Promise((resolve) => {
      if (!this.path) {
        this.dest.flush?.();
        return resolve();
      }
      this.dest.once('close', () => resolve());
      this.dest.end();
    });
  }
}
