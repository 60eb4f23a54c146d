import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Clock, Timer } from '../clock.js';
import { parseHostPort } from '../config/address.js';
import type { FrontendConfig } from '../config/schema.js';
import type { InheritedSocket } from '../handover.js';
import type { ServerPool } from './server-pool.js';
import { Session, type SessionRecord, type Termination } from './session.js';

/** Reasons a frontend refuses a connection before it reaches a backend. */
export type RejectReason = 'maxconn' | 'queue-full' | 'queue-timeout' | 'no-server';

/** Hooks the daemon gives a listener (logging, access log). */
export interface ListenerEvents {
  sessionEnded(record: SessionRecord): void;
  bindFailed(listener: Listener, err: NodeJS.ErrnoException, retryInMs: number): void;
  bound(listener: Listener): void;
}

/** How often open sessions are checked for idleness and long life (keepalive). */
const SWEEP_INTERVAL_MS = 1000;

const REFUSALS: ReadonlySet<Termination> = new Set(['queue-full', 'queue-timeout', 'no-server']);

/**
 * One frontend: a listening socket that hands each accepted connection to a {@link Session} on its
 * backend's pool. A reload can repoint it at another pool without closing the socket.
 */
export class Listener {
  readonly name: string;
  readonly bind: string;
  pool: ServerPool;
  maxConn: number;
  accepted = 0;
  readonly rejected: Record<RejectReason, number> = { maxconn: 0, 'queue-full': 0, 'queue-timeout': 0, 'no-server': 0 };
  /** The port actually bound (differs from the config when it asks for port 0). */
  boundPort: number | undefined;
  private readonly server: NetServer;
  private readonly sessions = new Set<Session>();
  private retryTimer: Timer | undefined;
  private sweepTimer: Timer | undefined;
  private closing = false;
  /** Settles listen() on the first failed bind, while the retries go on. */
  private firstBindError: ((err: NodeJS.ErrnoException) => void) | undefined;
  private readonly host: string;
  private readonly port: number;
  /** How often a failed bind is retried (reloadable). */
  retryIntervalMs: number;

  constructor(
    cfg: FrontendConfig,
    pool: ServerPool,
    private readonly clock: Clock,
    private readonly events: ListenerEvents,
  ) {
    this.name = cfg.name;
    this.bind = cfg.bind;
    this.pool = pool;
    this.maxConn = cfg.maxConn;
    this.retryIntervalMs = cfg.bindRetryInterval;
    const hp = parseHostPort(cfg.bind, true);
    if (typeof hp === 'string') throw new Error(`unvalidated bind ${cfg.bind}`);
    this.host = hp.host;
    this.port = hp.port;
    // pauseOnConnect: nothing is read from the client until a server is connected, so a failed
    // connect can be retried elsewhere without having consumed a byte.
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (err: NodeJS.ErrnoException) => this.onListenError(err));
  }

  /** Sessions open now. */
  get active(): number {
    return this.sessions.size;
  }

  /** Whether the socket is listening. */
  get listening(): boolean {
    return this.server.listening;
  }

  /**
   * Starts listening. An address that is not on the host yet (a VIP held by the other node) or a
   * port still in use is retried every `bindRetryInterval` with a log line each time. Resolves with
   * the first outcome (undefined once bound, or the first error while retries go on). `inherited`:
   * the socket a previous process listened on (a restart), used instead of binding.
   */
  listen(inherited?: InheritedSocket): Promise<NodeJS.ErrnoException | undefined> {
    return new Promise((resolve) => {
      this.server.on('listening', () => {
        const addr = this.server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : this.port;
        this.events.bound(this);
        resolve(undefined);
      });
      this.firstBindError = resolve;
      if (inherited) inherited.adopt(this.server, (s) => this.accept(s)); // the previous process's socket: no bind, no gap
      else this.tryListen();
    });
  }

  /** The listening socket, for a restart to hand over (undefined while not bound). */
  get listeningServer(): NetServer | undefined {
    return this.server.listening ? this.server : undefined;
  }

  /** Retries a failed bind now instead of at the next interval (the VIP just arrived). */
  retryNow(): void {
    if (!this.retryTimer) return;
    this.retryTimer.cancel();
    this.tryListen();
  }

  private tryListen(): void {
    this.retryTimer = undefined;
    if (this.closing) return;
    this.server.listen({ host: this.host, port: this.port, backlog: 4096, exclusive: true });
  }

  private onListenError(err: NodeJS.ErrnoException): void {
    if (this.closing) return;
    this.firstBindError?.(err);
    this.firstBindError = undefined;
    this.events.bindFailed(this, err, this.retryIntervalMs);
    this.retryTimer = this.clock.setTimeout(() => this.tryListen(), this.retryIntervalMs);
  }

  private accept(socket: Socket): void {
    this.accepted++;
    if (this.maxConn > 0 && this.active >= this.maxConn) {
      this.rejected.maxconn++;
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    const session = new Session(socket, this.pool, this.clock, this.name, (record) => {
      this.sessions.delete(session);
      if (REFUSALS.has(record.termination)) this.rejected[record.termination as RejectReason]++;
      this.events.sessionEnded(record);
    });
    this.sessions.add(session);
    session.start();
    if (!this.sweepTimer) this.scheduleSweep();
  }

  /** Runs every session's idle and keepalive sweep once a second while there are sessions. */
  private scheduleSweep(): void {
    this.sweepTimer = this.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      const now = this.clock.now();
      for (const s of this.sessions) s.sweep(now);
      if (this.sessions.size > 0) this.scheduleSweep();
    }, SWEEP_INTERVAL_MS);
  }

  /** The open sessions (tests and the state API). */
  get openSessions(): ReadonlySet<Session> {
    return this.sessions;
  }

  /** Stops accepting at once; open sessions go on. */
  close(): void {
    this.closing = true;
    this.retryTimer?.cancel();
    // The listening handle closes now; close()'s callback would wait for every session to end.
    if (this.server.listening) this.server.close();
  }

  /** Ends every open session now (after the shutdown grace period). */
  abortSessions(): void {
    for (const s of [...this.sessions]) s.abort();
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
  }
}
