// One BGP peering's driver: the TCP connection, message framing and the one timer of the pure
// session (session.ts). It does nothing clever: every decision is the session's.
import type { Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Clock, Timer } from '../clock.js';
import type { BgpPeerConfig } from '../config/schema.js';
import { BgpDecodeError, HEADER_LENGTH, MAX_MESSAGE_LENGTH, decodeMessage, messageLength } from './message.js';
import { type RouteIntent, type Session, type SessionEffect, type SessionEvent, isEbgp, newSession, nextDeadline, step, tick, withheldReason } from './session.js';
import { bgpSocket, setTtl } from './tcp-options.js';

/** Logging from the BGP thread (forwarded to the daemon's logger). */
export type BgpLog = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => void;

/** A peering as the state API shows it. */
export interface PeerStatus {
  address: string;
  asn: number;
  state: Session['state'];
  /** Seconds since Established, or null. */
  uptimeS: number | null;
  holdTimeS: number;
  routerId: string | null;
  localAddress: string | null;
  /** The address families both sides offered (RFC 4760), once the peer's OPEN arrived. */
  families: ('ipv4' | 'ipv6')[] | null;
  /** The next hop IPv6 routes carry on this session. */
  nextHop6: string | null;
  advertised: string[];
  /** Announced routes this session cannot carry, and why. */
  withheld: { prefix: string; reason: string }[];
  lastError: string | null;
  counters: Session['counters'];
  bfd: { state: string; upCount: number; detectionMs: number } | null;
}

/**
 * The next hop for IPv6 routes on a session from `local` (an IPv4 address): a global IPv6 address
 * of the interface that holds `local` (what FRR and GoBGP take too), so the router reaches it on
 * the link the session runs over. /128s are skipped: they are VIPs, not the host's own address.
 */
export function ipv6Beside(local: string, interfaces = networkInterfaces()): string | undefined {
  for (const addrs of Object.values(interfaces)) {
    if (!addrs?.some((a) => a.address === local)) continue;
    const global = addrs.find((a) => a.family === 'IPv6' && !/^fe[89ab]/i.test(a.address) && a.address !== '::1' && !a.cidr?.endsWith('/128'));
    if (global) return global.address;
  }
  return undefined;
}

/** The reconnect backoff: 1 s doubling to 30 s (jittered by the session). */
const RECONNECT = { minMs: 1000, maxMs: 30_000 };

/** One peer. */
export class BgpPeer {
  private session: Session;
  private socket: Socket | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private timer: Timer | undefined;
  /** Filled by the speaker when BFD runs for this peer. */
  bfdStatus: () => PeerStatus['bfd'] = () => null;

  constructor(
    readonly cfg: BgpPeerConfig,
    local: { asn: number; routerId: string; ipv6: boolean },
    private readonly clock: Clock,
    private readonly rng: () => number,
    private readonly log: BgpLog,
    private readonly onChange: () => void,
  ) {
    this.session = newSession({
      localAsn: local.asn,
      peerAsn: cfg.asn,
      routerId: local.routerId,
      holdTimeS: cfg.holdTime / 1000,
      passive: cfg.passive,
      reconnectMinMs: RECONNECT.minMs,
      reconnectMaxMs: RECONNECT.maxMs,
      ipv6: local.ipv6,
    });
  }

  /** The TTL of this session's packets: multihop for eBGP; iBGP peers may be routed hops away. */
  get ttl(): number {
    return isEbgp(this.session.config) ? this.cfg.multihop : Math.max(64, this.cfg.multihop);
  }

  start(): void {
    this.run({ kind: 'start' });
  }

  setRoutes(routes: RouteIntent[]): void {
    this.run({ kind: 'routes', routes });
  }

  /** A connection the router opened to our listener (passive peers). */
  accept(socket: Socket): void {
    if (this.socket || this.session.state !== 'active') {
      socket.destroy();
      return;
    }
    try {
      setTtl(socket, this.ttl);
    } catch (err) {
      this.log('warn', { event: 'bgp-ttl-failed', peer: this.cfg.address, err: String(err) }, `bgp ${this.cfg.address}: cannot set the TTL on the accepted connection`);
    }
    this.attach(socket);
    this.connected(socket);
  }

  /** The session's TCP connection is up: this side's address, and the next hop its IPv6 routes name. */
  private connected(socket: Socket): void {
    const localAddress = socket.localAddress?.replace(/^::ffff:/, '') ?? '0.0.0.0';
    const nextHop6 = this.session.config.ipv6 ? (this.cfg.nextHop6 ?? ipv6Beside(localAddress)) : undefined;
    this.run({ kind: 'connected', localAddress, nextHop6 });
  }

  /** The BFD session went Down: the path is gone, so is the session (RFC 5882 §4.3). */
  bfdDown(): void {
    if (this.session.state === 'idle') return;
    this.run({ kind: 'closed', reason: 'BFD session down' });
  }

  /** Cease (Administrative Shutdown) and no reconnect; resolves once the NOTIFICATION is flushed (at most 1 s). */
  stop(): Promise<void> {
    const socket = this.socket;
    this.run({ kind: 'stop' });
    this.timer?.cancel();
    this.timer = undefined;
    if (!socket || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = this.clock.setTimeout(() => {
        socket.destroy();
        resolve();
      }, 1000);
      socket.once('close', () => {
        t.cancel();
        resolve();
      });
    });
  }

  status(now: number): PeerStatus {
    const s = this.session;
    return {
      address: this.cfg.address,
      asn: this.cfg.asn,
      state: s.state,
      uptimeS: s.establishedAt === undefined ? null : Math.round((now - s.establishedAt) / 1000),
      holdTimeS: s.holdTimeS,
      routerId: s.peer?.bgpId ?? null,
      localAddress: s.localAddress ?? null,
      families: s.families ? (['ipv4', 'ipv6'] as const).filter((f) => s.families![f]) : null,
      nextHop6: s.nextHop6 ?? null,
      advertised: [...s.sent.keys()],
      withheld: s.state === 'established' ? s.routes.flatMap((r) => {
        const reason = withheldReason(s, r);
        return reason ? [{ prefix: r.prefix, reason }] : [];
      }) : [],
      lastError: s.lastError ?? null,
      counters: s.counters,
      bfd: this.bfdStatus(),
    };
  }

  private run(e: SessionEvent): void {
    const out = step(this.session, e, this.clock.now(), this.rng);
    this.apply(out.session, out.effects);
  }

  private apply(session: Session, effects: SessionEffect[]): void {
    const before = this.session.state;
    this.session = session;
    for (const effect of effects) this.effect(effect);
    this.arm();
    if (session.state !== before) this.onChange();
  }

  private effect(e: SessionEffect): void {
    switch (e.kind) {
      case 'connect':
        this.dial();
        break;
      case 'send':
        this.socket?.write(e.bytes);
        break;
      case 'close': {
        const s = this.socket;
        this.socket = undefined;
        this.pending = Buffer.alloc(0);
        // end() lets a NOTIFICATION written just before go out ahead of the FIN
        s?.end();
        if (s) this.clock.setTimeout(() => s.destroy(), 1000);
        break;
      }
      case 'established':
        this.log('info', { event: 'bgp-established', peer: this.cfg.address, asn: this.cfg.asn, holdTimeS: this.session.holdTimeS }, `bgp ${this.cfg.address}: session Established (AS ${this.cfg.asn}, hold ${this.session.holdTimeS} s)`);
        break;
      case 'down':
        this.log('warn', { event: 'bgp-down', peer: this.cfg.address, reason: e.reason }, `bgp ${this.cfg.address}: session down: ${e.reason}`);
        break;
    }
  }

  private arm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const at = nextDeadline(this.session);
    if (at === undefined) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      const out = tick(this.session, this.clock.now(), this.rng);
      this.apply(out.session, out.effects);
    }, at - this.clock.now());
  }

  private dial(): void {
    let socket: Socket;
    try {
      socket = bgpSocket({ peer: this.cfg.address, password: this.cfg.password, ttl: this.ttl, localAddress: this.cfg.localAddress });
    } catch (err) {
      // a failed socket() or setsockopt is an attempt that failed: the backoff applies
      queueMicrotask(() => this.run({ kind: 'closed', reason: `cannot open a socket: ${err instanceof Error ? err.message : String(err)}` }));
      return;
    }
    this.attach(socket);
    socket.connect(this.cfg.port, this.cfg.address, () => {
      if (this.socket === socket) this.connected(socket);
    });
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    this.pending = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) this.receive(chunk);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.run({ kind: 'closed', reason: 'the connection closed' });
    });
  }

  /** RFC 4271 §4.1 framing: whole messages out of the byte stream, each decoded and given to the session. */
  private receive(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.socket) {
      const length = messageLength(this.pending);
      if (length === undefined) return;
      // a length out of range is found from the header alone (Bad Message Length), not by waiting for it
      const whole = length < HEADER_LENGTH || length > MAX_MESSAGE_LENGTH ? this.pending.subarray(0, HEADER_LENGTH) : this.pending.length >= length ? this.pending.subarray(0, length) : undefined;
      if (!whole) return;
      this.pending = this.pending.subarray(whole.length);
      try {
        this.run({ kind: 'message', message: decodeMessage(whole, this.session.codec) });
      } catch (err) {
        if (!(err instanceof BgpDecodeError)) throw err;
        this.run({ kind: 'decodeError', error: err });
      }
    }
  }
}
