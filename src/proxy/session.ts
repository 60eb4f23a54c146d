import { connect, type Socket } from 'node:net';
import type { Clock, Timer } from '../clock.js';
import type { Server } from './server.js';
import type { ServerPool } from './server-pool.js';
import { BufferPool } from './buffer-pool.js';
import { boundDeadPeer } from './tcp-user-timeout.js';

/** Why a session ended (the access log's termination field). */
export type Termination =
  | 'client-closed'
  | 'server-closed'
  | 'client-error'
  | 'server-error'
  | 'idle-timeout'
  | 'connect-failed'
  | 'no-server'
  | 'queue-full'
  | 'queue-timeout'
  | 'shutdown';

/** What one finished session did, for the access log and counters. */
export interface SessionRecord {
  frontend: string;
  backend: string;
  clientAddress: string;
  clientPort: number;
  server: string | undefined;
  startedAtMs: number;
  /** Time from accept until the upstream connect succeeded (-1 when it never did). */
  connectMs: number;
  durationMs: number;
  bytesUp: number;
  bytesDown: number;
  retries: number;
  termination: Termination;
  detail: string;
}

/** Delay before retrying a server that just failed, when no other server is left to try. */
const SAME_SERVER_RETRY_DELAY_MS = 250;
/** TCP keepalive probes start after this much silence, on both sides. */
const KEEPALIVE_DELAY_MS = 30_000;
/**
 * Sessions get TCP keepalive once they have lived this long. Probes would only start after
 * KEEPALIVE_DELAY_MS of silence anyway, so a short request/response session never needs them,
 * and skipping the setsockopt calls is a measurable share of the cost of a new connection.
 */
export const KEEPALIVE_AFTER_MS = 5_000;
/** Upstream read buffers (64 KiB each) of sessions moving bulk data, reused through a free list. */
const READ_BUFFER_BYTES = 64 * 1024;
const readBuffers = new BufferPool(READ_BUFFER_BYTES, 64);
/**
 * Where every session's upstream reads land while they are small (watch events, short answers,
 * an idle connection): one buffer for all, each read copied out before the next can land. A held
 * connection then costs no read buffer at all (a buffer of its own per session was 64 KiB of
 * address space and ~5 KiB resident even while idle).
 */
const SHARED_READ_BUFFER = Buffer.allocUnsafe(READ_BUFFER_BYTES);
/** A read this large moves the session to a buffer of its own: bulk data (a list) is then relayed without a copy. */
const BULK_READ_BYTES = 16 * 1024;
/** No server tried yet (most sessions connect at the first try and never need a set of their own). */
const NONE_TRIED: ReadonlySet<Server> = new Set();
/** A session's sockets carry it, so one set of event handlers serves every session (no closures per connection). */
const SESSION = Symbol('kubeha.session');
type SessionSocket = Socket & { [SESSION]?: Session };
const sessionOf = (socket: Socket): Session => (socket as SessionSocket)[SESSION] as Session;

/**
 * One proxied TCP connection: picks a server, connects with retries (each on another server when
 * one exists, HAProxy's `retries` + `option redispatch`), waits in the queue when servers are at
 * their limit, then relays bytes both ways with backpressure and half-close.
 */
export class Session {
  private server: Server | undefined;
  private upstream: Socket | undefined;
  /** Servers this session tried; created at the first failed connect. */
  private tried: Set<Server> | undefined;
  private retries = 0;
  private timer: Timer | undefined;
  private cancelQueue: (() => void) | undefined;
  private connectedAtMs = -1;
  private bytesUp = 0;
  private bytesDown = 0;
  private firstEnd: 'client' | 'server' | undefined;
  private finished = false;
  private closedSockets = 0;
  /** Bumped on every chunk either way; the listener's sweep compares it to spot idle sessions. */
  private activity = 0;
  private seenActivity = -1;
  private idleSinceMs = 0;
  private keepAliveSet = false;
  /** The session's own read buffer while it moves bulk data; replaced only while a write to the client still holds it. */
  private readBuffer: Buffer | undefined;
  private readBufferLent = false;
  /** Reads are big: the next ones go to a buffer of the session's own. */
  private bulk = false;
  private readonly startedAtMs: number;
  private readonly clientKey: string;

  constructor(
    private readonly client: Socket,
    private readonly pool: ServerPool,
    private readonly clock: Clock,
    private readonly frontend: string,
    private readonly onEnd: (record: SessionRecord) => void,
  ) {
    this.startedAtMs = clock.now();
    this.clientKey = client.remoteAddress ?? '';
    (client as SessionSocket)[SESSION] = this;
    client.on('error', Session.onClientError);
    client.on('close', Session.onClientClose);
  }

  /** Starts connecting upstream; the client socket stays paused until a server answers. */
  start(): void {
    this.attempt();
  }

  /** Ends the session now (shutdown after the grace period). */
  abort(): void {
    this.finish('shutdown', 'stopped by shutdown');
  }

  // The event handlers, shared by every session: `this` is the socket, which carries its session.
  private static onClientError(this: Socket, err: Error): void {
    const s = sessionOf(this);
    s.finish(s.firstEnd ? s.endReason() : 'client-error', err.message);
  }

  private static onClientClose(this: Socket): void {
    const s = sessionOf(this);
    if (s.connectedAtMs < 0) s.finish('client-closed', 'client left before a server was connected');
    else s.socketClosed();
  }

  private static onUpstreamConnect(this: Socket): void {
    sessionOf(this).connected(this);
  }

  private static onUpstreamError(this: Socket, err: Error): void {
    const s = sessionOf(this);
    if (s.connectedAtMs < 0) s.connectFailed(s.server as Server, this, err.message);
    else s.finish(s.firstEnd ? s.endReason() : 'server-error', err.message);
  }

  private static onUpstreamReadCallback(this: Socket, n: number, buf: Buffer): boolean {
    return sessionOf(this).onUpstreamRead(n, buf);
  }

  private static onClientData(this: Socket, chunk: Buffer): void {
    const s = sessionOf(this);
    s.activity++;
    s.bytesUp += chunk.length;
    (s.server as Server).bytesIn += chunk.length;
    if (!(s.upstream as Socket).write(chunk)) this.pause();
  }

  private static onUpstreamDrain(this: Socket): void {
    sessionOf(this).client.resume();
  }

  /** With `onread`, read(0) is how a stopped upstream socket starts reading again. */
  private static onClientDrain(this: Socket): void {
    sessionOf(this).upstream?.read(0);
  }

  // Half-close: a FIN from one side is passed on and the other direction keeps flowing.
  private static onClientEnd(this: Socket): void {
    const s = sessionOf(this);
    s.firstEnd ??= 'client';
    s.upstream?.end();
  }

  private static onUpstreamEnd(this: Socket): void {
    const s = sessionOf(this);
    s.firstEnd ??= 'server';
    s.client.end();
  }

  private static onUpstreamClose(this: Socket): void {
    sessionOf(this).socketClosed();
  }

  private attempt(): void {
    this.timer = undefined;
    this.cancelQueue = undefined;
    if (this.finished) return;
    const server = this.pool.pick(this.clientKey, this.tried ?? NONE_TRIED);
    if (!server) {
      if (this.pool.hasServerAtLimit()) {
        this.cancelQueue = this.pool.queue.enqueue(
          () => this.attempt(),
          () => this.finish('queue-timeout', 'no server slot freed up within queueTimeout'),
        );
        if (!this.cancelQueue) this.finish('queue-full', 'all servers at maxConnPerServer and the queue is full');
        return;
      }
      const tried = (this.tried?.size ?? 0) > 0;
      this.finish(tried ? 'connect-failed' : 'no-server', tried ? 'every server failed' : 'no server is up');
      return;
    }
    this.server = server;
    this.pool.claim(server);
    const upstream = connect({
      host: server.host,
      port: server.port,
      allowHalfOpen: true,
      noDelay: true,
      // Upstream reads go into a buffer this session reuses, instead of a fresh 64 KiB allocation per
      // read: responses (the bulk of apiserver traffic) flow this way.
      onread: { buffer: this.nextReadBuffer, callback: Session.onUpstreamReadCallback },
    });
    (upstream as SessionSocket)[SESSION] = this;
    this.upstream = upstream;
    const timeoutMs = this.pool.settings.connectTimeoutMs;
    this.timer = this.clock.setTimeout(() => this.connectFailed(server, upstream, `connect timeout after ${timeoutMs}ms`), timeoutMs);
    upstream.once('connect', Session.onUpstreamConnect);
    upstream.on('error', Session.onUpstreamError);
  }

  private connectFailed(server: Server, upstream: Socket, detail: string): void {
    if (this.upstream !== upstream || this.finished) return;
    this.timer?.cancel();
    this.timer = undefined;
    upstream.removeAllListeners();
    upstream.on('error', () => {});
    upstream.destroy();
    this.upstream = undefined;
    this.server = undefined;
    (this.tried ??= new Set()).add(server);
    this.pool.recordConnect(server, false, detail);
    this.pool.release(server);
    if (this.retries >= this.pool.settings.retries) {
      this.finish('connect-failed', `${detail} (after ${this.retries} retries)`);
      return;
    }
    this.retries++;
    server.retries++;
    if (this.pool.hasUntried(this.tried)) this.attempt();
    else this.timer = this.clock.setTimeout(() => this.attempt(), SAME_SERVER_RETRY_DELAY_MS);
  }

  private connected(upstream: Socket): void {
    if (this.finished || this.upstream !== upstream) return;
    const server = this.server as Server;
    this.timer?.cancel();
    this.timer = undefined;
    this.connectedAtMs = this.clock.now();
    this.pool.recordConnect(server, true, 'connected');
    server.sockets.add(upstream);
    const deadPeerMs = this.pool.settings.tcpUserTimeoutMs;
    if (deadPeerMs > 0) {
      // From the first byte, not after KEEPALIVE_AFTER_MS: a watch opened just before its server vanished must end too.
      this.keepAliveSet = boundDeadPeer(upstream, deadPeerMs) && boundDeadPeer(this.client, deadPeerMs);
    }
    const client = this.client;
    client.on('data', Session.onClientData);
    upstream.on('drain', Session.onUpstreamDrain);
    client.on('drain', Session.onClientDrain);
    client.on('end', Session.onClientEnd);
    upstream.on('end', Session.onUpstreamEnd);
    upstream.on('close', Session.onUpstreamClose);
    client.resume();
  }

  /**
   * The listener's periodic sweep (about once a second): ends a session idle for longer than
   * `idleTimeout` and turns on TCP keepalive for one that has lived past KEEPALIVE_AFTER_MS. One
   * coarse pass replaces a socket timer per session that every chunk would have to re-arm.
   */
  sweep(nowMs: number): void {
    if (this.finished || this.connectedAtMs < 0) return;
    if (this.activity !== this.seenActivity) {
      this.seenActivity = this.activity;
      this.idleSinceMs = nowMs;
    } else if (nowMs - this.idleSinceMs >= this.pool.settings.idleTimeoutMs) {
      this.finish('idle-timeout', `no traffic for ${this.pool.settings.idleTimeoutMs}ms`);
      return;
    }
    if (!this.keepAliveSet && nowMs - this.connectedAtMs >= KEEPALIVE_AFTER_MS) {
      this.keepAliveSet = true;
      this.client.setKeepAlive(true, KEEPALIVE_DELAY_MS);
      this.upstream?.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    }
  }

  /** Whether TCP keepalive is on for this session's sockets. */
  get keepAlive(): boolean {
    return this.keepAliveSet;
  }

  /** Called by Node after every upstream read for the buffer the next read goes into. */
  private readonly nextReadBuffer = (): Buffer => {
    if (!this.bulk) return SHARED_READ_BUFFER;
    if (!this.readBuffer || this.readBufferLent) {
      this.readBuffer = readBuffers.take();
      this.readBufferLent = false;
    }
    return this.readBuffer;
  };

  /**
   * Passes `n` bytes read from the server to the client. Returning false stops upstream reads until
   * the client drains (backpressure). A read in the shared buffer is copied; one in the session's
   * own buffer is written from it, and a write the kernel did not take at once still points into
   * it, so that buffer is handed over to the write and the next read gets a new one.
   */
  private onUpstreamRead(n: number, buf: Buffer): boolean {
    const server = this.server as Server;
    this.activity++;
    this.bytesDown += n;
    server.bytesOut += n;
    const client = this.client;
    if (buf === SHARED_READ_BUFFER) {
      // The next read of any session lands here: the write gets a copy (small, from Node's slab).
      const chunk = Buffer.allocUnsafe(n);
      buf.copy(chunk, 0, 0, n);
      if (n >= BULK_READ_BYTES) this.bulk = true;
      return client.write(chunk);
    }
    const flowing = client.write(buf.subarray(0, n));
    if (client.writableLength > 0) this.readBufferLent = true;
    else if (n < BULK_READ_BYTES) {
      // Small again (a list ended, events follow): back to the shared buffer, this one to the free list.
      this.bulk = false;
      readBuffers.give(buf);
      this.readBuffer = undefined;
    }
    return flowing;
  }

  private endReason(): Termination {
    return this.firstEnd === 'server' ? 'server-closed' : 'client-closed';
  }

  private socketClosed(): void {
    if (++this.closedSockets >= 2) this.finish(this.endReason(), '');
    else {
      // One side is gone for good: once the other has nothing left to flush, close it too.
      if (this.client.destroyed && this.upstream && !this.upstream.destroyed) this.upstream.end();
      if (this.upstream?.destroyed && !this.client.destroyed) this.client.end();
    }
  }

  private finish(termination: Termination, detail: string): void {
    if (this.finished) return;
    this.finished = true;
    this.timer?.cancel();
    this.cancelQueue?.();
    // No server to take it: a reset, so the client sees a failed connection at once and tries
    // again (client-go, kubectl) instead of reading an empty answer or waiting on a socket.
    if (termination === 'no-server' || (termination === 'connect-failed' && this.connectedAtMs < 0)) this.client.resetAndDestroy();
    else this.client.destroy();
    const server = this.server;
    if (this.upstream) {
      this.upstream.destroy();
      server?.sockets.delete(this.upstream);
    }
    if (server) this.pool.release(server);
    // The upstream socket is destroyed, so no read lands in its buffer any more; unless a write
    // to the client still points into it, it can serve another session.
    if (this.readBuffer && !this.readBufferLent) readBuffers.give(this.readBuffer);
    this.readBuffer = undefined;
    const now = this.clock.now();
    this.onEnd({
      frontend: this.frontend,
      backend: this.pool.name,
      clientAddress: this.client.remoteAddress ?? '',
      clientPort: this.client.remotePort ?? 0,
      server: server?.id,
      startedAtMs: this.startedAtMs,
      connectMs: this.connectedAtMs < 0 ? -1 : this.connectedAtMs - this.startedAtMs,
      durationMs: now - this.startedAtMs,
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
      retries: this.retries,
      termination,
      detail,
    });
  }
}
