// BFD (RFC 5880), single hop over UDP (RFC 5881), asynchronous mode, no authentication: the control
// packet codec and one session's state machine. Pure: bytes and `now` in, state and effects out.
//
// BFD tells the router within interval × multiplier that this node is gone, where BGP alone waits
// for the hold time: the router ties its BGP session to the BFD session and withdraws the route
// when BFD goes Down.

/** RFC 5881 §4: the destination port of single-hop BFD control packets. */
export const BFD_PORT = 3784;
/** RFC 5881 §4: the source port range. */
export const BFD_SOURCE_PORTS = { min: 49152, max: 65535 } as const;
/** RFC 5880 §4.1: the mandatory section's length. */
export const BFD_PACKET_LENGTH = 24;
/** RFC 5880 §6.8.3: the slowest pace while the session is not Up, in µs. */
export const SLOW_TX_US = 1_000_000;

/** RFC 5880 §4.1 session states, by their wire value. */
export type BfdState = 'adminDown' | 'down' | 'init' | 'up';
const STATES: BfdState[] = ['adminDown', 'down', 'init', 'up'];

/** RFC 5880 §4.1 diagnostic codes. */
export const Diag = { none: 0, detectionExpired: 1, echoFailed: 2, neighborDown: 3, forwardingReset: 4, pathDown: 5, concatenatedPathDown: 6, adminDown: 7, reverseConcatenatedPathDown: 8 } as const;

/** One control packet. Times in µs, as on the wire. */
export interface BfdPacket {
  version: number;
  diag: number;
  state: BfdState;
  poll: boolean;
  final: boolean;
  controlPlaneIndependent: boolean;
  authPresent: boolean;
  demand: boolean;
  multipoint: boolean;
  detectMult: number;
  myDiscriminator: number;
  yourDiscriminator: number;
  desiredMinTxUs: number;
  requiredMinRxUs: number;
  requiredMinEchoRxUs: number;
}

/** Why a received packet was dropped (RFC 5880 §6.8.6), a label of the drop counter. */
export type BfdDropReason = 'truncated' | 'version' | 'length' | 'detect_mult' | 'multipoint' | 'discriminator' | 'auth' | 'unknown_session';

/** A received packet that cannot be used. */
export class BfdDecodeError extends Error {
  constructor(
    readonly reason: BfdDropReason,
    message: string,
  ) {
    super(message);
    this.name = 'BfdDecodeError';
  }
}

/** Encodes the 24-byte control packet. */
export function encodeBfd(p: BfdPacket): Uint8Array {
  const b = new Uint8Array(BFD_PACKET_LENGTH);
  const v = new DataView(b.buffer);
  b[0] = ((p.version & 0x7) << 5) | (p.diag & 0x1f);
  b[1] =
    (STATES.indexOf(p.state) << 6) |
    (p.poll ? 0x20 : 0) |
    (p.final ? 0x10 : 0) |
    (p.controlPlaneIndependent ? 0x08 : 0) |
    (p.authPresent ? 0x04 : 0) |
    (p.demand ? 0x02 : 0) |
    (p.multipoint ? 0x01 : 0);
  b[2] = p.detectMult;
  b[3] = BFD_PACKET_LENGTH;
  v.setUint32(4, p.myDiscriminator);
  v.setUint32(8, p.yourDiscriminator);
  v.setUint32(12, p.desiredMinTxUs);
  v.setUint32(16, p.requiredMinRxUs);
  v.setUint32(20, p.requiredMinEchoRxUs);
  return b;
}

/** Decodes and checks one control packet (RFC 5880 §6.8.6, the checks that need no session). */
export function decodeBfd(b: Uint8Array): BfdPacket {
  if (b.length < BFD_PACKET_LENGTH) throw new BfdDecodeError('truncated', `${b.length} bytes, shorter than a control packet`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = b[0]! >> 5;
  if (version !== 1) throw new BfdDecodeError('version', `version ${version}`);
  const length = b[3]!;
  const authPresent = (b[1]! & 0x04) !== 0;
  if (length < (authPresent ? 26 : BFD_PACKET_LENGTH) || length > b.length) throw new BfdDecodeError('length', `length field ${length} for a ${b.length}-byte packet`);
  // kubeha configures no BFD authentication, so an authenticated packet cannot be verified
  if (authPresent) throw new BfdDecodeError('auth', 'authentication present but none configured');
  const p: BfdPacket = {
    version,
    diag: b[0]! & 0x1f,
    state: STATES[b[1]! >> 6]!,
    poll: (b[1]! & 0x20) !== 0,
    final: (b[1]! & 0x10) !== 0,
    controlPlaneIndependent: (b[1]! & 0x08) !== 0,
    authPresent,
    demand: (b[1]! & 0x02) !== 0,
    multipoint: (b[1]! & 0x01) !== 0,
    detectMult: b[2]!,
    myDiscriminator: v.getUint32(4),
    yourDiscriminator: v.getUint32(8),
    desiredMinTxUs: v.getUint32(12),
    requiredMinRxUs: v.getUint32(16),
    requiredMinEchoRxUs: v.getUint32(20),
  };
  if (p.detectMult === 0) throw new BfdDecodeError('detect_mult', 'Detect Mult is zero');
  if (p.multipoint) throw new BfdDecodeError('multipoint', 'the Multipoint bit is set');
  if (p.myDiscriminator === 0) throw new BfdDecodeError('discriminator', 'My Discriminator is zero');
  if (p.yourDiscriminator === 0 && p.state !== 'down' && p.state !== 'adminDown') throw new BfdDecodeError('discriminator', `Your Discriminator is zero in state ${p.state}`);
  return p;
}

/** What one BFD session is configured with. */
export interface BfdConfig {
  /** This side's discriminator: non-zero, unique on the node. */
  localDiscriminator: number;
  /** The pace wanted once Up, both ways, in ms (the `bfd.interval` key). */
  intervalMs: number;
  multiplier: number;
}

/** What the session asks its driver to do. */
export type BfdEffect = { kind: 'send'; bytes: Uint8Array } | { kind: 'up' } | { kind: 'down'; diag: number };

/** RFC 5880 §6.8.1 state variables, plus the deadlines of the two timers. Treat as immutable. */
export interface BfdSession {
  readonly config: BfdConfig;
  readonly state: BfdState;
  readonly remoteState: BfdState;
  readonly remoteDiscriminator: number;
  readonly localDiag: number;
  /** bfd.DesiredMinTxInterval now in force, µs (§6.8.3: at least 1 s while not Up). */
  readonly desiredMinTxUs: number;
  readonly remoteDesiredMinTxUs: number;
  readonly remoteMinRxUs: number;
  readonly remoteDetectMult: number;
  /** A Poll Sequence is running (§6.5): packets carry P until one with F arrives. */
  readonly polling: boolean;
  readonly txAt?: number;
  readonly detectAt?: number;
  /** Times the session went Up, and the last time it changed state. */
  readonly upCount: number;
  readonly changedAt?: number;
}

/** A session in Down, sending at the slow pace from `now` (RFC 5880 §6.8.1 initial values). */
export function newBfdSession(config: BfdConfig, now: number): BfdSession {
  return {
    config,
    state: 'down',
    remoteState: 'down',
    remoteDiscriminator: 0,
    localDiag: Diag.none,
    desiredMinTxUs: SLOW_TX_US,
    remoteDesiredMinTxUs: 0,
    // §6.8.1: bfd.RemoteMinRxInterval starts at 1, so the first packets go out at our own pace
    remoteMinRxUs: 1,
    remoteDetectMult: 0,
    polling: false,
    txAt: now,
    upCount: 0,
  };
}

/** The time until the detection timer fires in asynchronous mode (§6.8.4), ms. */
export function detectionTimeMs(s: BfdSession): number {
  return (s.remoteDetectMult * Math.max(s.config.intervalMs * 1000, s.remoteDesiredMinTxUs)) / 1000;
}

/** The interval between this side's packets (§6.8.7), ms, before jitter. */
export function txIntervalMs(s: BfdSession): number {
  return Math.max(s.desiredMinTxUs, s.remoteMinRxUs) / 1000;
}

/** The earliest deadline, for the driver's timer. */
export function bfdDeadline(s: BfdSession): number | undefined {
  const ds = [s.txAt, s.detectAt].filter((d): d is number => d !== undefined);
  return ds.length ? Math.min(...ds) : undefined;
}

function packet(s: BfdSession, final: boolean): Uint8Array {
  return encodeBfd({
    version: 1,
    diag: s.localDiag,
    state: s.state,
    // §6.8.7: P and F are never set in the same packet
    poll: s.polling && !final,
    final,
    controlPlaneIndependent: false,
    authPresent: false,
    demand: false,
    multipoint: false,
    detectMult: s.config.multiplier,
    myDiscriminator: s.config.localDiscriminator,
    yourDiscriminator: s.remoteDiscriminator,
    desiredMinTxUs: s.desiredMinTxUs,
    requiredMinRxUs: s.config.intervalMs * 1000,
    requiredMinEchoRxUs: 0,
  });
}

/** §6.8.7: the next periodic transmission, jittered to 75–100 % (75–90 % when Detect Mult is 1). */
function scheduleTx(s: BfdSession, now: number, rng: () => number): BfdSession {
  // §6.8.7: no periodic packets while the remote asks for none (RemoteMinRxInterval 0)
  if (s.remoteMinRxUs === 0) return { ...s, txAt: undefined };
  const top = s.config.multiplier === 1 ? 0.9 : 1;
  return { ...s, txAt: now + txIntervalMs(s) * (0.75 + (top - 0.75) * rng()) };
}

function setState(s: BfdSession, state: BfdState, diag: number, now: number): { session: BfdSession; effects: BfdEffect[] } {
  if (state === s.state) return { session: s, effects: [] };
  const effects: BfdEffect[] = [];
  let next: BfdSession = { ...s, state, localDiag: diag, changedAt: now };
  if (state === 'up') {
    // §6.8.3: the fast pace once Up, announced through a Poll Sequence
    next = { ...next, desiredMinTxUs: s.config.intervalMs * 1000, polling: s.config.intervalMs * 1000 !== s.desiredMinTxUs, upCount: s.upCount + 1 };
    effects.push({ kind: 'up' });
  } else {
    next = { ...next, desiredMinTxUs: SLOW_TX_US, polling: false };
    if (s.state === 'up') effects.push({ kind: 'down', diag });
  }
  return { session: next, effects };
}

/** A packet from the peer (already decoded and matched to this session). */
export function receiveBfd(s0: BfdSession, p: BfdPacket, now: number, rng: () => number): { session: BfdSession; effects: BfdEffect[] } {
  // §6.8.6: Your Discriminator, when set, must be ours
  if (p.yourDiscriminator !== 0 && p.yourDiscriminator !== s0.config.localDiscriminator) return { session: s0, effects: [] };
  let s: BfdSession = {
    ...s0,
    remoteDiscriminator: p.myDiscriminator,
    remoteState: p.state,
    remoteDesiredMinTxUs: p.desiredMinTxUs,
    remoteMinRxUs: p.requiredMinRxUs,
    remoteDetectMult: p.detectMult,
    // §6.8.6: a packet with F ends our Poll Sequence
    polling: s0.polling && !p.final,
  };
  const effects: BfdEffect[] = [];
  const to = (state: BfdState, diag: number) => {
    const out = setState(s, state, diag, now);
    s = out.session;
    effects.push(...out.effects);
  };
  if (p.state === 'adminDown') {
    if (s.state !== 'down') to('down', Diag.neighborDown);
  } else if (s.state === 'down') {
    if (p.state === 'down') to('init', Diag.none);
    else if (p.state === 'init') to('up', Diag.none);
  } else if (s.state === 'init') {
    if (p.state === 'init' || p.state === 'up') to('up', Diag.none);
  } else if (s.state === 'up' && p.state === 'down') {
    to('down', Diag.neighborDown);
  }
  // §6.8.4: the detection timer restarts on every valid packet (it runs while not Down)
  s = { ...s, detectAt: s.state === 'down' ? undefined : now + detectionTimeMs(s) };
  // §6.8.7: a Poll is answered at once with F; a state change goes out at once too, so the peer need not wait a slow second
  const answer = p.poll || s.state !== s0.state;
  if (answer) effects.push({ kind: 'send', bytes: packet(s, p.poll) });
  // a first packet from a peer asking for a slower pace than ours moves our next transmission
  if (answer || s0.txAt === undefined || s.remoteMinRxUs !== s0.remoteMinRxUs) s = scheduleTx(s, now, rng);
  return { session: s, effects };
}

/** Fires the transmit and detection timers due at `now`. */
export function tickBfd(s0: BfdSession, now: number, rng: () => number): { session: BfdSession; effects: BfdEffect[] } {
  let s = s0;
  const effects: BfdEffect[] = [];
  if (s.detectAt !== undefined && now >= s.detectAt) {
    // §6.8.4: Control Detection Time Expired; back to Down, and the remote is forgotten
    const out = setState({ ...s, detectAt: undefined, remoteDiscriminator: 0, remoteState: 'down', remoteMinRxUs: 1 }, 'down', Diag.detectionExpired, now);
    s = out.session;
    effects.push(...out.effects);
    effects.push({ kind: 'send', bytes: packet(s, false) });
    s = scheduleTx(s, now, rng);
  }
  if (s.txAt !== undefined && now >= s.txAt) {
    effects.push({ kind: 'send', bytes: packet(s, false) });
    s = scheduleTx(s, now, rng);
  }
  return { session: s, effects };
}

/** Administratively down (§6.8.16): tells the peer, so its session goes Down with diag 7 rather than timing out. */
export function adminDownBfd(s: BfdSession, now: number): { session: BfdSession; effects: BfdEffect[] } {
  const out = setState({ ...s, detectAt: undefined }, 'adminDown', Diag.adminDown, now);
  return { session: { ...out.session, txAt: undefined }, effects: [...out.effects, { kind: 'send', bytes: packet(out.session, false) }] };
}
