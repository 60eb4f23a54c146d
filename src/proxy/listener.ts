import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Clock, Timer } from '../clock.js';
import { formatHostPort, parseHostPort } from '../config/address.js';
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

/** One listening socket of a frontend (a frontend on `localhost` has two). */
interface BoundSocket {
  host: string;
  key: string;
  server: NetServer;
  retryTimer: Timer | undefined;
  /** Not needed for the frontend to serve (`localhost`'s ::1). */
  optional: boolean;
  /** Given up: the address family is not on this host. */
  abandoned: boolean;
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
  private readonly sockets: BoundSocket[];
  private readonly sessions = new Set<Session>();
  private sweepTimer: Timer | undefined;
  private closing = false;
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
    this.port = hp.port;
    // `localhost` is both loopback addresses: clients resolve it to either (glibc's order, Go's,
    // Node's verbatim order differ), and a node-local LB on one of them only is refused to the
    // others (KubePrism's IPv6 localhost breakage, siderolabs/talos#8112).
    const hosts = hp.host === 'localhost' ? ['127.0.0.1', '::1'] : [hp.host];
    this.sockets = hosts.map((host, i) => ({
      host,
      // The key a restart hands the socket over by: the bind as written, and the address for the others.
      key: i === 0 ? cfg.bind : `${cfg.bind}@${host}`,
      // pauseOnConnect: nothing is read from the client until a server is connected, so a failed
      // connect can be retried elsewhere without having consumed a byte.
      server: createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.accept(socket)),
      retryTimer: undefined,
      optional: i > 0,
      abandoned: false,
    }));
  }

  /** Sessions open now. */
  get active(): number {
    return this.sessions.size;
  }

  /** Whether the listener is listening (on its first address; `localhost`'s ::1 is a bonus where IPv6 is up). */
  get listening(): boolean {
    return this.sockets[0]!.server.listening;
  }

  /** The addresses listened on now. */
  get boundAddresses(): string[] {
    return this.sockets.filter((b) => b.server.listening).map((b) => formatHostPort(b.host, this.boundPort ?? this.port));
  }

  /**
   * Starts listening. An address that is not on the host yet (a VIP held by the other node) or a
   * port still in use is retried every `bindRetryInterval` with a log line each time. Resolves with
   * the first outcome of the first address (undefined once bound, or the first error while retries
   * go on). `inherited`: the sockets a previous process listened on (a restart), by key, used
   * instead of binding.
   */
  async listen(inherited?: (key: string) => InheritedSocket | undefined): Promise<NodeJS.ErrnoException | undefined> {
    const [first, ...rest] = this.sockets as [BoundSocket, ...BoundSocket[]];
    const outcome = await this.listenOne(first, inherited?.(first.key), this.port);
    // The other addresses take the port the first one got (port 0 picks it once for all).
    for (const b of rest) await this.listenOne(b, inherited?.(b.key), this.boundPort ?? this.port);
    return outcome;
  }

  private listenOne(b: BoundSocket, inherited: InheritedSocket | undefined, port: number): Promise<NodeJS.ErrnoException | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (err: NodeJS.ErrnoException | undefined) => {
        if (!settled) resolve(err);
        settled = true;
      };
      b.server.on('listening', () => {
        if (b === this.sockets[0]) {
          const addr = b.server.address();
          this.boundPort = typeof addr === 'object' && addr ? addr.port : this.port;
          this.events.bound(this);
        }
        settle(undefined);
      });
      b.server.on('error', (err: NodeJS.ErrnoException) => {
        if (this.closing) return;
        settle(err);
        if (b.optional && (err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT')) {
          // ::1 for `localhost` on a host without IPv6: 127.0.0.1 serves alone.
          b.abandoned = true;
          return;
        }
        if (b === this.sockets[0]) this.events.bindFailed(this, err, this.retryIntervalMs);
        b.retryTimer = this.clock.setTimeout(() => this.tryListen(b, port), this.retryIntervalMs);
      });
      if (inherited) inherited.adopt(b.server, (s) => this.accept(s)); // the previous process's socket: no bind, no gap
      else this.tryListen(b, port);
    });
  }

  /** The listening sockets, for a restart to hand over, by key. */
  get listeningServers(): { key: string; server: NetServer }[] {
    return this.sockets.filter((b) => b.server.listening).map((b) => ({ key: b.key, server: b.server }));
  }

  /** Retries a failed bind now instead of at the next interval (the VIP just arrived). */
  retryNow(): void {
    for (const b of this.sockets) {
      if (!b.retryTimer) continue;
      b.retryTimer.cancel();
      this.tryListen(b, b === this.sockets[0] ? this.port : this.boundPort ?? this.port);
    }
  }

  private tryListen(b: BoundSocket, port: number): void {
    b.retryTimer = undefined;
    if (this.closing || b.abandoned) return;
    b.server.listen({ host: b.host, port, backlog: 4096, exclusive: true, ...(b.host === '::1' ? { ipv6Only: true } : {}) });
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
    for (const b of this.sockets) {
      b.retryTimer?.cancel();
      // The listening handle closes now; close()'s callback would wait for every session to end.
      if (b.server.listening) b.server.close();
    }
  }

  /** Ends every open session now (after the shutdown grace period). */
  abortSessions(): void {
    for (const s of [...this.sessions]) s.abort();
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
  }
}
