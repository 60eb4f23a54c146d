// BFD's sockets and timers (RFC 5881): one receive socket on UDP 3784 for every session, and per
// session a send socket from a source port in 49152-65535 with TTL 255. The state machine is bfd.ts.
import { createSocket, type Socket } from 'node:dgram';
import type { Clock, Timer } from '../clock.js';
import { BFD_PORT, BFD_SOURCE_PORTS, BfdDecodeError, type BfdEffect, type BfdSession, bfdDeadline, adminDownBfd, decodeBfd, detectionTimeMs, newBfdSession, receiveBfd, tickBfd } from './bfd.js';
import type { BgpLog } from './bgp-peer.js';

interface Entry {
  peer: string;
  session: BfdSession;
  tx: Socket;
  timer?: Timer;
  onUp: () => void;
  onDown: (diag: number) => void;
}

/** Every BFD session of the node. */
export class BfdLink {
  private rx: Socket | undefined;
  private readonly sessions = new Map<string, Entry>();
  /** Packets dropped by reason (RFC 5880 §6.8.6), for metrics. */
  readonly dropped = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly rng: () => number,
    private readonly log: BgpLog,
  ) {}

  private receiver(): Socket {
    if (this.rx) return this.rx;
    const rx = createSocket({ type: 'udp4', reuseAddr: false });
    rx.on('message', (msg, rinfo) => this.receive(msg, rinfo.address));
    rx.on('error', (err) => this.log('error', { event: 'bfd-socket-failed', err: err.message }, `bfd: the receive socket on UDP ${BFD_PORT} failed: ${err.message}`));
    rx.bind(BFD_PORT);
    this.rx = rx;
    return rx;
  }

  /** Starts a session with `peer` (single hop, so the peer's address identifies it). */
  add(peer: string, cfg: { intervalMs: number; multiplier: number }, onUp: () => void, onDown: (diag: number) => void): void {
    this.receiver();
    const tx = this.sender(peer);
    let discriminator = 0;
    while (discriminator === 0 || [...this.sessions.values()].some((e) => e.session.config.localDiscriminator === discriminator)) discriminator = 1 + Math.floor(this.rng() * 0xfffffffe);
    const entry: Entry = { peer, session: newBfdSession({ localDiscriminator: discriminator, intervalMs: cfg.intervalMs, multiplier: cfg.multiplier }, this.clock.now()), tx, onUp, onDown };
    this.sessions.set(peer, entry);
    this.arm(entry);
  }

  /**
   * RFC 5881 §4: a send socket from a source port in 49152-65535, the same for the session's life,
   * TTL 255; a port already taken is tried again with another (packets sent meanwhile wait for the bind).
   */
  private sender(peer: string): Socket {
    const tx = createSocket('udp4');
    let tries = 0;
    const bind = () => tx.bind(BFD_SOURCE_PORTS.min + Math.floor(this.rng() * (BFD_SOURCE_PORTS.max - BFD_SOURCE_PORTS.min + 1)));
    tx.on('listening', () => tx.setTTL(255));
    tx.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' && tries++ < 20) return void bind();
      this.log('warn', { event: 'bfd-send-failed', peer, err: err.message }, `bfd ${peer}: ${err.message}`);
    });
    bind();
    return tx;
  }

  /** Ends the session with `peer`, telling it AdminDown first (its BGP then falls back to the hold timer, RFC 5882 §3.2). */
  remove(peer: string): void {
    const e = this.sessions.get(peer);
    if (!e) return;
    this.sessions.delete(peer);
    e.timer?.cancel();
    const out = adminDownBfd(e.session, this.clock.now());
    for (const f of out.effects) if (f.kind === 'send') e.tx.send(f.bytes, BFD_PORT, peer, () => e.tx.close());
    if (this.sessions.size === 0) {
      this.rx?.close();
      this.rx = undefined;
    }
  }

  status(peer: string): { state: string; upCount: number; detectionMs: number } | null {
    const e = this.sessions.get(peer);
    return e ? { state: e.session.state, upCount: e.session.upCount, detectionMs: detectionTimeMs(e.session) } : null;
  }

  close(): void {
    for (const peer of [...this.sessions.keys()]) this.remove(peer);
  }

  private receive(msg: Buffer, from: string): void {
    let p;
    try {
      p = decodeBfd(msg);
    } catch (err) {
      if (!(err instanceof BfdDecodeError)) throw err;
      this.dropped.set(err.reason, (this.dropped.get(err.reason) ?? 0) + 1);
      return;
    }
    // RFC 5880 §6.8.6: by Your Discriminator when set, else by the source address (single hop)
    const e = p.yourDiscriminator !== 0 ? [...this.sessions.values()].find((x) => x.session.config.localDiscriminator === p.yourDiscriminator) : this.sessions.get(from);
    if (!e || e.peer !== from) {
      this.dropped.set('unknown_session', (this.dropped.get('unknown_session') ?? 0) + 1);
      return;
    }
    this.apply(e, receiveBfd(e.session, p, this.clock.now(), this.rng));
  }

  private apply(e: Entry, out: { session: BfdSession; effects: BfdEffect[] }): void {
    e.session = out.session;
    for (const f of out.effects) {
      if (f.kind === 'send') e.tx.send(f.bytes, BFD_PORT, e.peer);
      else if (f.kind === 'up') {
        this.log('info', { event: 'bfd-up', peer: e.peer, detectionMs: detectionTimeMs(e.session) }, `bfd ${e.peer}: Up`);
        e.onUp();
      } else {
        this.log('warn', { event: 'bfd-down', peer: e.peer, diag: f.diag }, `bfd ${e.peer}: Down (diag ${f.diag}) after being Up`);
        e.onDown(f.diag);
      }
    }
    this.arm(e);
  }

  private arm(e: Entry): void {
    e.timer?.cancel();
    const at = bfdDeadline(e.session);
    if (at === undefined) return;
    e.timer = this.clock.setTimeout(() => {
      if (this.sessions.get(e.peer) !== e) return;
      this.apply(e, tickBfd(e.session, this.clock.now(), this.rng));
    }, at - this.clock.now());
  }
}
