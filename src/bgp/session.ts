// One BGP peering as a pure state machine (RFC 4271 §8): events in, new state and effects out.
// Timers are deadlines in the state (keepalived's `sands`), which `nextDeadline` reports and a
// `tick` fires, so a test walks a session through hold-timer expiry on a fake clock.
//
// kubeha announces and never installs: received UPDATEs are parsed (a malformed one is answered
// as RFC 4271 §6.3 / RFC 7606 say) and discarded. One TCP connection per peer at a time: a peer is
// either dialled (active) or waited for (passive), never both, so there is no connection collision
// (§6.8) to resolve.

import {
  type BgpMessage,
  type Capability,
  CapabilityCode,
  type CodecContext,
  type BgpDecodeError,
  CeaseSubcode,
  ErrorCode,
  FsmSubcode,
  OpenSubcode,
  type PathAttributes,
  type Prefix,
  Afi,
  Safi,
  describeNotification,
  encodeKeepalive,
  encodeNotification,
  encodeOpen,
  encodeUpdate,
} from './message.js';
import { familyOf, ipv4ToBytes } from '../vrrp/packet.js';


/** RFC 4271 §8.2.2 states. */
export type BgpState = 'idle' | 'connect' | 'active' | 'openSent' | 'openConfirm' | 'established';

/** What one peering is configured with. */
export interface SessionConfig {
  localAsn: number;
  peerAsn: number;
  routerId: string;
  /** The hold time kubeha proposes (RFC 4271 §4.2: 0 or at least 3 s). */
  holdTimeS: number;
  /** Wait for the peer to connect instead of dialling it. */
  passive: boolean;
  /** Reconnect backoff after a failure: the first wait, doubled per consecutive failure up to the cap. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Offer IPv6 unicast (RFC 4760) as well as IPv4: the speaker announces IPv6 VIPs. */
  ipv6: boolean;
}

/** The address families both sides offered (RFC 4760 §8): what routes the session may carry. */
export interface Families {
  ipv4: boolean;
  ipv6: boolean;
}

/** A route kubeha wants a peer to have: the prefix and the preference it carries. */
export interface RouteIntent {
  prefix: Prefix;
  /** MULTI_EXIT_DISC (lower is preferred); omitted when undefined. */
  med?: number;
  /** LOCAL_PREF for iBGP peers (higher is preferred); RFC 4271 §5.1.5: never sent to eBGP peers. */
  localPref?: number;
  /** How many extra times the local AS is prepended on eBGP sessions. */
  prepend: number;
  communities: string[];
}

/** What the session asks its driver to do. */
export type SessionEffect =
  | { kind: 'connect' }
  | { kind: 'send'; bytes: Uint8Array; message: BgpMessage['type'] }
  | { kind: 'close' }
  | { kind: 'established' }
  | { kind: 'down'; reason: string };

/** What happens to a session. */
export type SessionEvent =
  /** RFC 4271 §8.1.2 ManualStart: begin connecting (or listening, passive). */
  | { kind: 'start' }
  /** §8.1.2 ManualStop: Cease with `subcode`, and no reconnect until started again. */
  | { kind: 'stop'; subcode?: number }
  /**
   * §8.1.3 Tcp_CR_Acked / TcpConnectionConfirmed: `localAddress` is this side's address on it;
   * `nextHop6` the IPv6 address IPv6 routes name as their next hop (none: they are not sent).
   */
  | { kind: 'connected'; localAddress: string; nextHop6?: string }
  /** §8.1.3 TcpConnectionFails, or the peer closed the connection. */
  | { kind: 'closed'; reason: string }
  | { kind: 'message'; message: BgpMessage }
  | { kind: 'decodeError'; error: BgpDecodeError }
  | { kind: 'routes'; routes: RouteIntent[] };

/** Counters kept per session, for the state API and metrics. */
export interface SessionCounters {
  messagesIn: number;
  messagesOut: number;
  updatesIn: number;
  updatesOut: number;
  notificationsIn: number;
  notificationsOut: number;
  /** UPDATEs with attribute faults handled as withdrawals (RFC 7606 §2), ignored here. */
  treatAsWithdraw: number;
  /** Times the session reached Established. */
  established: number;
}

/** The whole session. Treat as immutable: every step returns a new one. */
export interface Session {
  readonly config: SessionConfig;
  readonly state: BgpState;
  /** Whether the session should be up (started and not stopped). */
  readonly enabled: boolean;
  /** §8 timers as absolute deadlines in ms (undefined = not running). */
  readonly idleHoldAt?: number;
  readonly holdAt?: number;
  readonly keepaliveAt?: number;
  /** Consecutive failed attempts, for the reconnect backoff. */
  readonly failures: number;
  /** From the peer's OPEN, once it arrived. */
  readonly peer?: { asn: number; bgpId: string; holdTimeS: number; capabilities: Capability[] };
  /** The negotiated hold time (0 = no keepalives, no hold timer). */
  readonly holdTimeS: number;
  readonly codec: CodecContext;
  /** What both sides offered, once the peer's OPEN arrived. */
  readonly families?: Families;
  readonly localAddress?: string;
  readonly nextHop6?: string;
  readonly routes: RouteIntent[];
  /** What the peer has from us: prefix → the encoded attributes' key. */
  readonly sent: ReadonlyMap<Prefix, string>;
  readonly establishedAt?: number;
  readonly lastError?: string;
  readonly counters: SessionCounters;
}

/** RFC 4271 §8.2.2: the hold timer while waiting for the peer's OPEN ("a large value", 4 minutes suggested). */
export const OPEN_HOLD_MS = 240_000;

/** How long one dial may take before it counts as a failed attempt. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** A session in Idle, not started. */
export function newSession(config: SessionConfig): Session {
  return {
    config,
    state: 'idle',
    enabled: false,
    failures: 0,
    holdTimeS: config.holdTimeS,
    codec: { fourOctetAs: false },
    routes: [],
    sent: new Map(),
    counters: { messagesIn: 0, messagesOut: 0, updatesIn: 0, updatesOut: 0, notificationsIn: 0, notificationsOut: 0, treatAsWithdraw: 0, established: 0 },
  };
}

/** The earliest timer deadline, for the driver's one timer. */
export function nextDeadline(s: Session): number | undefined {
  const ds = [s.idleHoldAt, s.holdAt, s.keepaliveAt].filter((d): d is number => d !== undefined);
  return ds.length ? Math.min(...ds) : undefined;
}

/** Whether the session is eBGP (RFC 4271 §5.1.2: peers in different ASes). */
export function isEbgp(c: SessionConfig): boolean {
  return c.localAsn !== c.peerAsn;
}

type Step = { session: Session; effects: SessionEffect[] };

/** RFC 4271 §10: timers are jittered by a factor uniform in [0.75, 1.0]. */
function jitter(ms: number, rng: () => number): number {
  return ms * (0.75 + 0.25 * rng());
}

/** The backoff before attempt `failures + 1`: min × 2^failures, capped, jittered. */
function backoffMs(c: SessionConfig, failures: number, rng: () => number): number {
  return jitter(Math.min(c.reconnectMaxMs, c.reconnectMinMs * 2 ** Math.min(failures, 20)), rng);
}

/** The capabilities kubeha advertises: IPv4 unicast (and IPv6 unicast with IPv6 VIPs), route refresh, 4-octet AS. */
export function localCapabilities(c: SessionConfig): Capability[] {
  const ipv6: Capability[] = c.ipv6 ? [{ code: CapabilityCode.multiprotocol, afi: Afi.ipv6, safi: Safi.unicast }] : [];
  return [{ code: CapabilityCode.multiprotocol, afi: Afi.ipv4, safi: Safi.unicast }, ...ipv6, { code: CapabilityCode.routeRefresh }, { code: CapabilityCode.fourOctetAs, asn: c.localAsn }];
}

/** RFC 4760 §8: a family is carried when both sides offered it; a peer that offers none speaks IPv4 unicast only. */
export function negotiateFamilies(c: SessionConfig, peer: Capability[]): Families {
  const offered = peer.filter((x): x is { code: 1; afi: number; safi: number } => x.code === CapabilityCode.multiprotocol && 'afi' in x);
  if (offered.length === 0) return { ipv4: true, ipv6: false };
  const has = (afi: number) => offered.some((x) => x.afi === afi && x.safi === Safi.unicast);
  return { ipv4: has(Afi.ipv4), ipv6: c.ipv6 && has(Afi.ipv6) };
}

/** Why `r` is not sent on this Established session, or undefined when it can be. */
export function withheldReason(s: Session, r: RouteIntent): string | undefined {
  const v6 = familyOf(r.prefix) === 6;
  if (!s.families) return undefined;
  if (v6 && !s.families.ipv6) return 'the peer did not offer IPv6 unicast (RFC 4760): enable the IPv6 address family for this neighbour on the router';
  if (v6 && !s.nextHop6) return 'no IPv6 next hop: this side of the session has no global IPv6 address on its interface; set bgp.peers[].nextHop6';
  if (!v6 && !s.families.ipv4) return 'the peer did not offer IPv4 unicast (RFC 4760): enable the IPv4 address family for this neighbour on the router';
  return undefined;
}

function send(s: Session, bytes: Uint8Array, message: BgpMessage['type']): { session: Session; effect: SessionEffect } {
  const c = { ...s.counters, messagesOut: s.counters.messagesOut + 1 };
  if (message === 'update') c.updatesOut++;
  if (message === 'notification') c.notificationsOut++;
  return { session: { ...s, counters: c }, effect: { kind: 'send', bytes, message } };
}

/** Sends a NOTIFICATION, closes, and goes Idle with a reconnect scheduled (when still enabled). */
function fail(s: Session, now: number, rng: () => number, code: number, subcode: number, data: Uint8Array, reason: string): Step {
  const sent = send(s, encodeNotification(code, subcode, data), 'notification');
  const down = drop(sent.session, now, rng, `sent NOTIFICATION ${describeNotification(code, subcode)}: ${reason}`);
  return { session: down.session, effects: [sent.effect, ...down.effects] };
}

/** The connection is gone (§8.2.2: release resources, ConnectRetryCounter + 1): Idle, reconnect after the backoff. */
function drop(s: Session, now: number, rng: () => number, reason: string): Step {
  const wasUp = s.state === 'established';
  const failures = s.failures + 1;
  const session: Session = {
    ...s,
    state: 'idle',
    holdAt: undefined,
    keepaliveAt: undefined,
    idleHoldAt: s.enabled ? now + backoffMs(s.config, failures - 1, rng) : undefined,
    failures,
    peer: undefined,
    families: undefined,
    localAddress: undefined,
    nextHop6: undefined,
    sent: new Map(),
    establishedAt: undefined,
    lastError: reason,
  };
  const effects: SessionEffect[] = [{ kind: 'close' }];
  if (wasUp) effects.push({ kind: 'down', reason });
  return { session, effects };
}

/** Starts connecting (active) or waiting (passive): §8.2.2 Idle → Connect / Active. */
function begin(s: Session, now: number): Step {
  if (s.config.passive) return { session: { ...s, state: 'active', idleHoldAt: undefined }, effects: [] };
  // the ConnectRetryTimer of §8.2.2 bounds the dial; on expiry the attempt counts as a failure
  return { session: { ...s, state: 'connect', idleHoldAt: undefined, holdAt: now + CONNECT_TIMEOUT_MS }, effects: [{ kind: 'connect' }] };
}

/** The attributes of `r` on this session, NLRI included for an IPv6 route (in MP_REACH_NLRI). */
function attributesFor(s: Session, r: RouteIntent): PathAttributes {
  const ebgp = isEbgp(s.config);
  const a: PathAttributes = {
    origin: 'igp',
    // RFC 4271 §5.1.2: eBGP prepends the local AS (and `prepend` more times); iBGP sends an empty AS_PATH
    asPath: ebgp ? [{ type: 'sequence', asns: Array<number>(1 + r.prepend).fill(s.config.localAsn) }] : [],
  };
  // §5.1.3: the address of this side of the session; RFC 4760 §3: an IPv6 route carries its own next hop
  if (familyOf(r.prefix) === 6) a.mpReach = { afi: Afi.ipv6, safi: Safi.unicast, nextHops: [s.nextHop6!], nlri: [r.prefix] };
  else a.nextHop = s.localAddress;
  if (r.med !== undefined) a.med = r.med;
  if (!ebgp) a.localPref = r.localPref ?? 100;
  if (r.communities.length > 0) a.communities = r.communities;
  return a;
}

/** The UPDATEs that bring the peer from what it has (`sent`) to `routes`. */
function sync(s: Session, force = false): Step {
  if (s.state !== 'established') return { session: s, effects: [] };
  let session = s;
  const effects: SessionEffect[] = [];
  const sent = new Map(force ? [] : s.sent);
  const sendable = s.routes.filter((r) => withheldReason(s, r) === undefined);
  const wanted = new Set(sendable.map((r) => r.prefix));
  const withdrawn = [...sent.keys()].filter((p) => !wanted.has(p));
  const withdrawn4 = withdrawn.filter((p) => familyOf(p) === 4);
  const withdrawn6 = withdrawn.filter((p) => familyOf(p) === 6);
  // IPv4 in the UPDATE's own field, IPv6 in MP_UNREACH_NLRI (RFC 4760 §4)
  const withdrawals = [
    ...(withdrawn4.length > 0 ? [{ withdrawn: withdrawn4, attributes: {}, nlri: [] }] : []),
    ...(withdrawn6.length > 0 ? [{ withdrawn: [], attributes: { mpUnreach: { afi: Afi.ipv6, safi: Safi.unicast, withdrawn: withdrawn6 } }, nlri: [] }] : []),
  ];
  for (const w of withdrawals) {
    const out = send(session, encodeUpdate(w, s.codec), 'update');
    session = out.session;
    effects.push(out.effect);
  }
  for (const p of withdrawn) sent.delete(p);
  for (const r of sendable) {
    const attributes = attributesFor(s, r);
    const key = JSON.stringify(attributes);
    if (sent.get(r.prefix) === key) continue;
    const out = send(session, encodeUpdate({ withdrawn: [], attributes, nlri: attributes.mpReach ? [] : [r.prefix] }, s.codec), 'update');
    session = out.session;
    effects.push(out.effect);
    sent.set(r.prefix, key);
  }
  return { session: { ...session, sent }, effects };
}

/** Checks the peer's OPEN (RFC 4271 §6.2, RFC 5492, RFC 6793); returns the NOTIFICATION for a refusal. */
function checkOpen(s: Session, m: Extract<BgpMessage, { type: 'open' }>): { subcode: number; data: Uint8Array; reason: string } | undefined {
  if (m.asn !== s.config.peerAsn) return { subcode: OpenSubcode.badPeerAs, data: new Uint8Array(0), reason: `the peer says AS ${m.asn}, configured ${s.config.peerAsn}` };
  // §6.2: a hold time of 1 or 2 seconds is refused
  if (m.holdTimeS === 1 || m.holdTimeS === 2) return { subcode: OpenSubcode.unacceptableHoldTime, data: new Uint8Array(0), reason: `hold time ${m.holdTimeS} s` };
  // RFC 6286 §2.2: the identifier is non-zero, and unique inside an AS (iBGP)
  if (m.bgpId === '0.0.0.0' || (!isEbgp(s.config) && m.bgpId === s.config.routerId)) {
    return { subcode: OpenSubcode.badBgpId, data: ipv4ToBytes(m.bgpId), reason: `BGP identifier ${m.bgpId}` };
  }
  const four = m.capabilities.some((c) => c.code === CapabilityCode.fourOctetAs);
  // RFC 5492 §5: a capability kubeha cannot do without is named in Unsupported Capability's data
  if (!four && s.config.localAsn > 0xffff) {
    const asn = s.config.localAsn;
    return { subcode: OpenSubcode.unsupportedCapability, data: Uint8Array.of(CapabilityCode.fourOctetAs, 4, asn >>> 24, (asn >> 16) & 0xff, (asn >> 8) & 0xff, asn & 0xff), reason: `AS ${asn} needs the 4-octet AS capability, which the peer lacks` };
  }
  return undefined;
}

/** One event; `now` in ms, `rng` in [0, 1). */
export function step(s: Session, e: SessionEvent, now: number, rng: () => number): Step {
  switch (e.kind) {
    case 'start':
      if (s.enabled && s.state !== 'idle') return { session: s, effects: [] };
      return begin({ ...s, enabled: true, failures: 0 }, now);
    case 'stop': {
      const stopped: Session = { ...s, enabled: false };
      if (s.state === 'openSent' || s.state === 'openConfirm' || s.state === 'established') {
        return fail(stopped, now, rng, ErrorCode.cease, e.subcode ?? CeaseSubcode.adminShutdown, new Uint8Array(0), 'stopped');
      }
      if (s.state === 'idle') return { session: { ...stopped, idleHoldAt: undefined }, effects: [] };
      return { session: { ...stopped, state: 'idle', idleHoldAt: undefined }, effects: [{ kind: 'close' }] };
    }
    case 'routes':
      return sync({ ...s, routes: e.routes });
    case 'connected': {
      // a connection in any state but Connect/Active is one too many (§8.2.2): refuse it
      if (!s.enabled || (s.state !== 'connect' && s.state !== 'active')) return { session: s, effects: [{ kind: 'close' }] };
      const open = encodeOpen({ version: 4, asn: s.config.localAsn, holdTimeS: s.config.holdTimeS, bgpId: s.config.routerId, capabilities: localCapabilities(s.config) });
      const out = send({ ...s, state: 'openSent', localAddress: e.localAddress, nextHop6: e.nextHop6, holdAt: now + OPEN_HOLD_MS }, open, 'open');
      return { session: out.session, effects: [out.effect] };
    }
    case 'closed':
      if (s.state === 'idle') return { session: s, effects: [] };
      return drop(s, now, rng, e.reason);
    case 'decodeError': {
      const err = e.error;
      if (s.state === 'idle' || s.state === 'connect' || s.state === 'active') return { session: s, effects: [] };
      if (err.treatAsWithdraw && s.state === 'established') {
        return { session: { ...s, holdAt: holdDeadline(s, now), counters: { ...s.counters, messagesIn: s.counters.messagesIn + 1, updatesIn: s.counters.updatesIn + 1, treatAsWithdraw: s.counters.treatAsWithdraw + 1 }, lastError: `treat-as-withdraw: ${err.message}` }, effects: [] };
      }
      return fail(s, now, rng, err.code, err.subcode, err.data, err.message);
    }
    case 'message':
      return received(s, e.message, now, rng);
  }
}

function holdDeadline(s: Session, now: number): number | undefined {
  return s.holdTimeS > 0 ? now + s.holdTimeS * 1000 : undefined;
}

function received(s0: Session, m: BgpMessage, now: number, rng: () => number): Step {
  const counters = { ...s0.counters, messagesIn: s0.counters.messagesIn + 1 };
  if (m.type === 'update') counters.updatesIn++;
  if (m.type === 'notification') counters.notificationsIn++;
  const s: Session = { ...s0, counters };
  if (s.state === 'idle' || s.state === 'connect' || s.state === 'active') return { session: s, effects: [] };
  // §8.2.2: a NOTIFICATION in any state with a connection ends it (no answer is sent to a NOTIFICATION)
  if (m.type === 'notification') {
    // RFC 4486 §4: after Cease / Administrative Shutdown or Reset the peer asked not to be redialled at once; the backoff applies
    return drop(s, now, rng, `received NOTIFICATION ${describeNotification(m.code, m.subcode)}`);
  }
  if (s.state === 'openSent') {
    if (m.type !== 'open') return fail(s, now, rng, ErrorCode.fsm, FsmSubcode.openSent, new Uint8Array(0), `${m.type} before OPEN`);
    const refusal = checkOpen(s, m);
    if (refusal) return fail(s, now, rng, ErrorCode.open, refusal.subcode, refusal.data, refusal.reason);
    // §4.2: the hold time is the smaller of the two; the keepalive interval a third of it
    const holdTimeS = Math.min(s.config.holdTimeS, m.holdTimeS);
    const fourOctetAs = m.capabilities.some((c) => c.code === CapabilityCode.fourOctetAs);
    const next: Session = { ...s, state: 'openConfirm', peer: { asn: m.asn, bgpId: m.bgpId, holdTimeS: m.holdTimeS, capabilities: m.capabilities }, families: negotiateFamilies(s.config, m.capabilities), holdTimeS, codec: { fourOctetAs } };
    const ka = send({ ...next, holdAt: holdDeadline(next, now), keepaliveAt: holdTimeS > 0 ? now + jitter((holdTimeS * 1000) / 3, rng) : undefined }, encodeKeepalive(), 'keepalive');
    return { session: ka.session, effects: [ka.effect] };
  }
  if (s.state === 'openConfirm') {
    if (m.type !== 'keepalive') return fail(s, now, rng, ErrorCode.fsm, FsmSubcode.openConfirm, new Uint8Array(0), `${m.type} in OpenConfirm`);
    const up: Session = { ...s, state: 'established', holdAt: holdDeadline(s, now), failures: 0, establishedAt: now, lastError: s.lastError, counters: { ...s.counters, established: s.counters.established + 1 } };
    const synced = sync(up);
    return { session: synced.session, effects: [{ kind: 'established' }, ...synced.effects] };
  }
  // Established
  if (m.type === 'open') return fail(s, now, rng, ErrorCode.fsm, FsmSubcode.established, new Uint8Array(0), 'OPEN in Established');
  const alive: Session = { ...s, holdAt: holdDeadline(s, now) };
  // RFC 2918 §4: a refresh request is answered by sending the Adj-RIB-Out again
  if (m.type === 'routeRefresh') return sync(alive, true);
  return { session: alive, effects: [] };
}

/** Fires every timer whose deadline is at or before `now`. */
export function tick(s: Session, now: number, rng: () => number): Step {
  if (s.idleHoldAt !== undefined && now >= s.idleHoldAt) {
    // §8.1.1 IdleHoldTimer expired: the AutomaticStart that reconnects after a failure
    return begin({ ...s, idleHoldAt: undefined }, now);
  }
  if (s.holdAt !== undefined && now >= s.holdAt) {
    if (s.state === 'connect') return drop(s, now, rng, `no TCP connection within ${CONNECT_TIMEOUT_MS / 1000} s`);
    // §6.5: Hold Timer Expired
    return fail(s, now, rng, ErrorCode.holdTimerExpired, 0, new Uint8Array(0), `nothing from the peer for ${s.state === 'openSent' ? OPEN_HOLD_MS / 1000 : s.holdTimeS} s`);
  }
  if (s.keepaliveAt !== undefined && now >= s.keepaliveAt) {
    const out = send({ ...s, keepaliveAt: now + jitter((s.holdTimeS * 1000) / 3, rng) }, encodeKeepalive(), 'keepalive');
    return { session: out.session, effects: [out.effect] };
  }
  return { session: s, effects: [] };
}
