// BGP-4 message codec (RFC 4271 §4), announce-only: every message type, the capabilities a VIP
// speaker negotiates, and the path attributes it sends or must parse — IPv6 routes included, in the
// multiprotocol attributes of RFC 4760. Pure: bytes in, values out.
//
// Decoding never throws anything but a BgpDecodeError, which carries the NOTIFICATION (error code,
// subcode, data) RFC 4271 §6 prescribes for the fault, so the FSM can answer every error correctly.

import { isIPv6 } from 'node:net';
import { bytesToIpv4, bytesToIpv6, ipv4ToBytes, ipv6ToBytes } from '../vrrp/packet.js';

/** RFC 4271 §4.1: the message types (ROUTE-REFRESH from RFC 2918). */
export const MessageType = { open: 1, update: 2, notification: 3, keepalive: 4, routeRefresh: 5 } as const;
/** RFC 4271 §4.1: header is a 16-byte marker, 2-byte length, 1-byte type. */
export const HEADER_LENGTH = 19;
/** RFC 4271 §4.1: the largest message (RFC 8654 extended messages are not negotiated). */
export const MAX_MESSAGE_LENGTH = 4096;
/** RFC 6793 §9: the 2-octet AS number that stands in for a 4-octet one. */
export const AS_TRANS = 23456;

/** RFC 4271 §4.5 error codes, with RFC 6608 (FSM) and RFC 4486 (Cease) subcodes. */
export const ErrorCode = { header: 1, open: 2, update: 3, holdTimerExpired: 4, fsm: 5, cease: 6, routeRefresh: 7 } as const;
/** RFC 4271 §6.1: Message Header Error subcodes. */
export const HeaderSubcode = { notSynchronized: 1, badLength: 2, badType: 3 } as const;
/** RFC 4271 §6.2 and RFC 5492 §5: OPEN Message Error subcodes. */
export const OpenSubcode = { unsupportedVersion: 1, badPeerAs: 2, badBgpId: 3, unsupportedOptionalParameter: 4, unacceptableHoldTime: 6, unsupportedCapability: 7 } as const;
/** RFC 4271 §6.3: UPDATE Message Error subcodes. */
export const UpdateSubcode = {
  malformedAttributeList: 1,
  unrecognizedWellKnown: 2,
  missingWellKnown: 3,
  attributeFlags: 4,
  attributeLength: 5,
  invalidOrigin: 6,
  invalidNextHop: 8,
  optionalAttribute: 9,
  invalidNetwork: 10,
  malformedAsPath: 11,
} as const;
/** RFC 6608 §3: FSM Error subcodes (the state the unexpected message arrived in). */
export const FsmSubcode = { unspecified: 0, openSent: 1, openConfirm: 2, established: 3 } as const;
/** RFC 4486 §3: Cease subcodes. */
export const CeaseSubcode = { adminShutdown: 2, peerDeconfigured: 3, adminReset: 4, connectionRejected: 5, otherConfigChange: 6, collision: 7, outOfResources: 8 } as const;
/** RFC 7313 §5: ROUTE-REFRESH Message Error subcode. */
export const RouteRefreshSubcode = { invalidLength: 1 } as const;

/** RFC 5492 capability codes kubeha knows. */
export const CapabilityCode = { multiprotocol: 1, routeRefresh: 2, fourOctetAs: 65 } as const;
/** RFC 4760 address family identifiers used here. */
export const Afi = { ipv4: 1, ipv6: 2 } as const;
export const Safi = { unicast: 1 } as const;

/** One capability of an OPEN (RFC 5492 §4). Unknown ones are kept as raw bytes. */
export type Capability =
  | { code: 1; afi: number; safi: number }
  | { code: 2 }
  | { code: 65; asn: number }
  | { code: number; raw: Uint8Array };

/** RFC 4271 §4.2 OPEN. `asn` is the real AS (RFC 6793: the 4-octet capability carries it, My AS holds AS_TRANS). */
export interface OpenMessage {
  type: 'open';
  version: number;
  asn: number;
  holdTimeS: number;
  bgpId: string;
  capabilities: Capability[];
}

/** RFC 4271 §4.3 ORIGIN values. */
export type Origin = 'igp' | 'egp' | 'incomplete';
/** RFC 4271 §4.3 AS_PATH segment. */
export interface AsPathSegment {
  type: 'set' | 'sequence';
  asns: number[];
}
/** A prefix, `a.b.c.d/len` or (RFC 5952 text) `2001:db8::/len`, host bits zero. */
export type Prefix = string;

/**
 * RFC 4760 §3 MP_REACH_NLRI of IPv4 or IPv6 unicast (other families are kept raw in `other`). The
 * next hop is one address, or for IPv6 a global and a link-local one (RFC 2545 §3).
 */
export interface MpReach {
  afi: number;
  safi: number;
  nextHops: string[];
  nlri: Prefix[];
}

/** RFC 4760 §4 MP_UNREACH_NLRI of IPv4 or IPv6 unicast. */
export interface MpUnreach {
  afi: number;
  safi: number;
  withdrawn: Prefix[];
}

/** The path attributes kubeha sends, plus the ones it does not interpret (kept raw). */
export interface PathAttributes {
  origin?: Origin;
  asPath?: AsPathSegment[];
  nextHop?: string;
  med?: number;
  localPref?: number;
  /** RFC 1997 communities as `asn:value`. */
  communities?: string[];
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  /** Attributes kubeha does not interpret, in order: flags (without Extended Length, which encoding decides), type code and value. */
  other?: { flags: number; code: number; value: Uint8Array }[];
}

/** RFC 4271 §4.3 UPDATE. */
export interface UpdateMessage {
  type: 'update';
  withdrawn: Prefix[];
  attributes: PathAttributes;
  nlri: Prefix[];
}

/** RFC 4271 §4.5 NOTIFICATION. */
export interface NotificationMessage {
  type: 'notification';
  code: number;
  subcode: number;
  data: Uint8Array;
}

/** RFC 2918 §3 ROUTE-REFRESH. */
export interface RouteRefreshMessage {
  type: 'routeRefresh';
  afi: number;
  safi: number;
}

/** Any BGP message. */
export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | { type: 'keepalive' } | RouteRefreshMessage;

/** What decoding depends on: RFC 6793 §4 — AS_PATH carries 4-octet ASNs only when both sides advertised the capability. */
export interface CodecContext {
  fourOctetAs: boolean;
}

/** A message that cannot be used, with the NOTIFICATION that answers it (RFC 4271 §6). */
export class BgpDecodeError extends Error {
  constructor(
    readonly code: number,
    readonly subcode: number,
    message: string,
    readonly data: Uint8Array = new Uint8Array(0),
    /**
     * RFC 7606 §2: an UPDATE whose attributes are wrong but whose NLRI could still be found is
     * handled as a withdrawal of those routes ("treat-as-withdraw") instead of a session reset.
     * kubeha discards received routes anyway, so such an UPDATE is counted and ignored.
     */
    readonly treatAsWithdraw = false,
  ) {
    super(message);
    this.name = 'BgpDecodeError';
  }
}

const ATTR = { origin: 1, asPath: 2, nextHop: 3, med: 4, localPref: 5, atomicAggregate: 6, aggregator: 7, communities: 8, mpReach: 14, mpUnreach: 15 } as const;
/** RFC 4271 §4.3 attribute flag bits. */
const FLAG = { optional: 0x80, transitive: 0x40, partial: 0x20, extendedLength: 0x10 } as const;
const ORIGINS: Origin[] = ['igp', 'egp', 'incomplete'];

// ---------------------------------------------------------------------------------------------
// Encoding

/** Wraps a body in the RFC 4271 §4.1 header. */
function frame(type: number, body: Uint8Array): Uint8Array {
  const length = HEADER_LENGTH + body.length;
  if (length > MAX_MESSAGE_LENGTH) throw new RangeError(`BGP message of ${length} bytes exceeds ${MAX_MESSAGE_LENGTH}`);
  const out = new Uint8Array(length);
  out.fill(0xff, 0, 16);
  out[16] = length >> 8;
  out[17] = length & 0xff;
  out[18] = type;
  out.set(body, HEADER_LENGTH);
  return out;
}

class Writer {
  private readonly bytes: number[] = [];
  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >> 8).u8(v);
  }
  u32(v: number): this {
    return this.u16(Math.floor(v / 0x10000)).u16(v & 0xffff);
  }
  raw(b: Uint8Array): this {
    for (const x of b) this.bytes.push(x);
    return this;
  }
  get length(): number {
    return this.bytes.length;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function encodeCapability(c: Capability): Uint8Array {
  const w = new Writer();
  if ('raw' in c) return w.u8(c.code).u8(c.raw.length).raw(c.raw).done();
  if (c.code === CapabilityCode.multiprotocol) return w.u8(1).u8(4).u16(c.afi).u8(0).u8(c.safi).done();
  if (c.code === CapabilityCode.routeRefresh) return w.u8(2).u8(0).done();
  return w.u8(65).u8(4).u32(c.asn).done();
}

/** An OPEN; My AS is AS_TRANS when the AS does not fit 2 octets (RFC 6793 §4.1). */
export function encodeOpen(m: Omit<OpenMessage, 'type'>): Uint8Array {
  // RFC 5492 §4: all capabilities in one Capabilities optional parameter (type 2)
  const caps = new Writer();
  for (const c of m.capabilities) caps.raw(encodeCapability(c));
  const params = new Writer();
  if (caps.length > 0) params.u8(2).u8(caps.length).raw(caps.done());
  const w = new Writer()
    .u8(m.version)
    .u16(m.asn > 0xffff ? AS_TRANS : m.asn)
    .u16(m.holdTimeS)
    .raw(ipv4ToBytes(m.bgpId))
    .u8(params.length)
    .raw(params.done());
  return frame(MessageType.open, w.done());
}

/** A prefix → RFC 4271 §4.3 / RFC 4760 §5 (length byte, then the fewest bytes holding the prefix). */
function encodePrefix(w: Writer, prefix: Prefix): void {
  const { bytes, length } = parsePrefix(prefix);
  w.u8(length).raw(bytes.subarray(0, Math.ceil(length / 8)));
}

function attribute(w: Writer, flags: number, code: number, value: Uint8Array): void {
  const extended = value.length > 255;
  w.u8(flags | (extended ? FLAG.extendedLength : 0)).u8(code);
  if (extended) w.u16(value.length);
  else w.u8(value.length);
  w.raw(value);
}

function encodeAttributes(a: PathAttributes, ctx: CodecContext): Uint8Array {
  const w = new Writer();
  // RFC 4271 §5: sent in ascending type order, which receivers are not required to need, but BIRD logs otherwise
  if (a.origin !== undefined) attribute(w, FLAG.transitive, ATTR.origin, Uint8Array.of(ORIGINS.indexOf(a.origin)));
  if (a.asPath !== undefined) {
    const v = new Writer();
    for (const seg of a.asPath) {
      v.u8(seg.type === 'set' ? 1 : 2).u8(seg.asns.length);
      for (const asn of seg.asns) {
        if (ctx.fourOctetAs) v.u32(asn);
        else v.u16(asn > 0xffff ? AS_TRANS : asn);
      }
    }
    attribute(w, FLAG.transitive, ATTR.asPath, v.done());
  }
  if (a.nextHop !== undefined) attribute(w, FLAG.transitive, ATTR.nextHop, ipv4ToBytes(a.nextHop));
  if (a.med !== undefined) attribute(w, FLAG.optional, ATTR.med, new Writer().u32(a.med).done());
  if (a.localPref !== undefined) attribute(w, FLAG.transitive, ATTR.localPref, new Writer().u32(a.localPref).done());
  if (a.communities !== undefined) {
    const v = new Writer();
    for (const c of a.communities) {
      const [hi, lo] = parseCommunity(c);
      v.u16(hi).u16(lo);
    }
    attribute(w, FLAG.optional | FLAG.transitive, ATTR.communities, v.done());
  }
  if (a.mpReach !== undefined) {
    const v = new Writer().u16(a.mpReach.afi).u8(a.mpReach.safi);
    const hops = a.mpReach.nextHops.map((h) => (isIPv6(h) ? ipv6ToBytes(h) : ipv4ToBytes(h)));
    v.u8(hops.reduce((n, h) => n + h.length, 0));
    for (const h of hops) v.raw(h);
    v.u8(0); // RFC 4760 §3: Reserved
    for (const p of a.mpReach.nlri) encodePrefix(v, p);
    attribute(w, FLAG.optional, ATTR.mpReach, v.done());
  }
  if (a.mpUnreach !== undefined) {
    const v = new Writer().u16(a.mpUnreach.afi).u8(a.mpUnreach.safi);
    for (const p of a.mpUnreach.withdrawn) encodePrefix(v, p);
    attribute(w, FLAG.optional, ATTR.mpUnreach, v.done());
  }
  for (const o of a.other ?? []) attribute(w, o.flags & ~FLAG.extendedLength, o.code, o.value);
  return w.done();
}

/** An UPDATE announcing `nlri` with `attributes` and withdrawing `withdrawn`. */
export function encodeUpdate(m: Omit<UpdateMessage, 'type'>, ctx: CodecContext): Uint8Array {
  const withdrawn = new Writer();
  for (const p of m.withdrawn) encodePrefix(withdrawn, p);
  const attrs = m.nlri.length > 0 || Object.keys(m.attributes).length > 0 ? encodeAttributes(m.attributes, ctx) : new Uint8Array(0);
  const w = new Writer().u16(withdrawn.length).raw(withdrawn.done()).u16(attrs.length).raw(attrs);
  for (const p of m.nlri) encodePrefix(w, p);
  return frame(MessageType.update, w.done());
}

/** A NOTIFICATION. */
export function encodeNotification(code: number, subcode: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return frame(MessageType.notification, new Writer().u8(code).u8(subcode).raw(data).done());
}

/** A KEEPALIVE: the header alone (RFC 4271 §4.4). */
export function encodeKeepalive(): Uint8Array {
  return frame(MessageType.keepalive, new Uint8Array(0));
}

/** A ROUTE-REFRESH for `afi`/`safi` (RFC 2918 §3). */
export function encodeRouteRefresh(afi: number, safi: number): Uint8Array {
  return frame(MessageType.routeRefresh, new Writer().u16(afi).u8(0).u8(safi).done());
}

/** Any message; `ctx` matters for UPDATE only. */
export function encodeMessage(m: BgpMessage, ctx: CodecContext): Uint8Array {
  switch (m.type) {
    case 'open':
      return encodeOpen(m);
    case 'update':
      return encodeUpdate(m, ctx);
    case 'notification':
      return encodeNotification(m.code, m.subcode, m.data);
    case 'keepalive':
      return encodeKeepalive();
    case 'routeRefresh':
      return encodeRouteRefresh(m.afi, m.safi);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** `a.b.c.d/len` or `x:y::z/len` with host bits zero → its 4 or 16 bytes, length and family; throws RangeError otherwise. */
export function parsePrefix(prefix: Prefix): { bytes: Uint8Array; length: number; family: 4 | 6 } {
  const v4 = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(prefix);
  const v6 = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(prefix);
  const family = v4 ? 4 : v6 && v6[1]!.includes(':') && isIPv6(v6[1]!) ? 6 : undefined;
  const m = v4 ?? v6;
  const length = m ? Number(m[2]) : NaN;
  const bits = family === 6 ? 128 : 32;
  if (!m || !family || !(length <= bits)) throw new RangeError(`not an IPv4 or IPv6 prefix: ${prefix}`);
  const bytes = family === 6 ? ipv6ToBytes(m[1]!) : ipv4ToBytes(m[1]!);
  for (let bit = length; bit < bits; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) throw new RangeError(`${prefix} has host bits set`);
  }
  return { bytes, length, family };
}

/** `65000:100` → [65000, 100]; throws RangeError otherwise. */
export function parseCommunity(c: string): [number, number] {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(c);
  const hi = m ? Number(m[1]) : NaN;
  const lo = m ? Number(m[2]) : NaN;
  if (!(hi <= 0xffff && lo <= 0xffff)) throw new RangeError(`not a community (ASN:VALUE, each 0-65535): ${c}`);
  return [hi, lo];
}

/** How many bytes the next message needs: the length field once 19 bytes are there, else undefined. */
export function messageLength(buf: Uint8Array): number | undefined {
  return buf.length < HEADER_LENGTH ? undefined : (buf[16]! << 8) | buf[17]!;
}

class Reader {
  pos = 0;
  constructor(
    readonly b: Uint8Array,
    private readonly onShort: () => BgpDecodeError,
  ) {}
  need(n: number): void {
    if (this.pos + n > this.b.length) throw this.onShort();
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  u32(): number {
    return this.u16() * 0x10000 + this.u16();
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  get left(): number {
    return this.b.length - this.pos;
  }
}

/** Checks the RFC 4271 §6.1 header of one whole message and returns its type and body. */
function header(buf: Uint8Array): { type: number; body: Uint8Array } {
  if (buf.length < HEADER_LENGTH) throw new BgpDecodeError(ErrorCode.header, HeaderSubcode.badLength, `a message of ${buf.length} bytes is shorter than the header`, u16Bytes(buf.length));
  for (let i = 0; i < 16; i++) {
    if (buf[i] !== 0xff) throw new BgpDecodeError(ErrorCode.header, HeaderSubcode.notSynchronized, 'the marker is not all ones');
  }
  const length = messageLength(buf)!;
  const type = buf[18]!;
  const min = { 1: 29, 2: 23, 3: 21, 4: 19, 5: 23 }[type];
  if (min === undefined) throw new BgpDecodeError(ErrorCode.header, HeaderSubcode.badType, `unknown message type ${type}`, Uint8Array.of(type));
  // RFC 4271 §6.1: a length out of range, or one a type does not allow, is Bad Message Length with the length as data
  if (length !== buf.length || length < min || length > MAX_MESSAGE_LENGTH || (type === MessageType.keepalive && length !== HEADER_LENGTH)) {
    throw new BgpDecodeError(ErrorCode.header, HeaderSubcode.badLength, `bad length ${length} for message type ${type}`, u16Bytes(length));
  }
  return { type, body: buf.subarray(HEADER_LENGTH) };
}

function u16Bytes(n: number): Uint8Array {
  return Uint8Array.of((n >> 8) & 0xff, n & 0xff);
}

function decodeOpen(body: Uint8Array): OpenMessage {
  const bad = (sub: number, msg: string, data?: Uint8Array) => new BgpDecodeError(ErrorCode.open, sub, msg, data);
  const r = new Reader(body, () => new BgpDecodeError(ErrorCode.header, HeaderSubcode.badLength, 'the OPEN is shorter than its fields', u16Bytes(body.length + HEADER_LENGTH)));
  const version = r.u8();
  // RFC 4271 §6.2: data is the largest supported version
  if (version !== 4) throw bad(OpenSubcode.unsupportedVersion, `BGP version ${version} (only 4 is supported)`, u16Bytes(4));
  let asn = r.u16();
  const holdTimeS = r.u16();
  const bgpId = bytesToIpv4(r.bytes(4));
  const paramsLength = r.u8();
  if (paramsLength !== r.left) throw bad(0, `optional parameters length ${paramsLength} does not match the ${r.left} bytes left`);
  const capabilities: Capability[] = [];
  while (r.left > 0) {
    const ptype = r.u8();
    const plen = r.u8();
    const value = r.bytes(plen);
    // RFC 5492 §4: only the Capabilities parameter (2) is known; RFC 4271 §6.2 refuses the rest
    if (ptype !== 2) throw bad(OpenSubcode.unsupportedOptionalParameter, `optional parameter type ${ptype}`);
    const cr = new Reader(value, () => bad(0, 'a capability runs past its parameter'));
    while (cr.left > 0) {
      const code = cr.u8();
      const clen = cr.u8();
      const cv = cr.bytes(clen);
      capabilities.push(decodeCapability(code, cv));
    }
  }
  const four = capabilities.find((c): c is { code: 65; asn: number } => c.code === CapabilityCode.fourOctetAs && 'asn' in c);
  // RFC 6793 §4.1: the capability carries the real AS
  if (four) asn = four.asn;
  return { type: 'open', version, asn, holdTimeS, bgpId, capabilities };
}

function decodeCapability(code: number, v: Uint8Array): Capability {
  const badLen = () => new BgpDecodeError(ErrorCode.open, 0, `capability ${code} has length ${v.length}`);
  if (code === CapabilityCode.multiprotocol) {
    if (v.length !== 4) throw badLen();
    return { code: 1, afi: (v[0]! << 8) | v[1]!, safi: v[3]! };
  }
  if (code === CapabilityCode.routeRefresh) {
    if (v.length !== 0) throw badLen();
    return { code: 2 };
  }
  if (code === CapabilityCode.fourOctetAs) {
    if (v.length !== 4) throw badLen();
    return { code: 65, asn: ((v[0]! << 24) >>> 0) + (v[1]! << 16) + (v[2]! << 8) + v[3]! };
  }
  return { code, raw: v };
}

/** The prefixes from `r.pos` to `end`, of IPv4 (4) or IPv6 (6); `fault` makes the error for one that does not fit. */
function decodePrefixes(r: Reader, end: number, what: string, family: 4 | 6 = 4, fault?: (msg: string) => BgpDecodeError): Prefix[] {
  const out: Prefix[] = [];
  const bits = family === 6 ? 128 : 32;
  while (r.pos < end) {
    const length = r.u8();
    const n = Math.ceil(length / 8);
    if (length > bits || r.pos + n > end) {
      const msg = `a ${what} prefix of length ${length} does not fit`;
      throw fault ? fault(msg) : new BgpDecodeError(ErrorCode.update, UpdateSubcode.invalidNetwork, msg);
    }
    const bytes = new Uint8Array(bits / 8);
    bytes.set(r.bytes(n));
    // RFC 7606 §5.3 leaves host bits to the receiver; they are cleared so the prefix is canonical
    if (length < bits) {
      for (let bit = length; bit < n * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
    }
    out.push(`${family === 6 ? bytesToIpv6(bytes) : bytesToIpv4(bytes)}/${length}`);
  }
  return out;
}

/** The family of an AFI/SAFI pair kubeha decodes (IPv4 or IPv6 unicast), or undefined for the rest. */
function unicastFamily(afi: number, safi: number): 4 | 6 | undefined {
  if (safi !== Safi.unicast) return undefined;
  return afi === Afi.ipv4 ? 4 : afi === Afi.ipv6 ? 6 : undefined;
}

/** The AFI and SAFI that open both MP attributes, with a reader past them; undefined for a family kubeha does not decode. */
function mpHead(v: Uint8Array, whole: Uint8Array, name: string) {
  const bad = (msg: string) => new BgpDecodeError(ErrorCode.update, UpdateSubcode.optionalAttribute, `${name}: ${msg}`, whole);
  const r = new Reader(v, () => bad('shorter than its fields'));
  const afi = r.u16();
  const safi = r.u8();
  const family = unicastFamily(afi, safi);
  return family === undefined ? undefined : { r, bad, afi, safi, family };
}

/**
 * RFC 4760 §3 MP_REACH_NLRI. Its NLRI cannot be found when it is malformed, so a fault here resets
 * the session (RFC 7606 §7.11) rather than being treated as a withdrawal.
 */
function decodeMpReach(v: Uint8Array, whole: Uint8Array): MpReach | undefined {
  const head = mpHead(v, whole, 'MP_REACH_NLRI');
  if (!head) return undefined;
  const { r, bad, afi, safi, family } = head;
  const hopLength = r.u8();
  const hops = r.bytes(hopLength);
  let nextHops: string[];
  if (hopLength === 4) nextHops = [bytesToIpv4(hops)];
  // RFC 2545 §3: a global address, then optionally a link-local one; RFC 8950 lets IPv4 routes have them too
  else if (hopLength === 16 || hopLength === 32) nextHops = hopLength === 16 ? [bytesToIpv6(hops)] : [bytesToIpv6(hops), bytesToIpv6(hops, 16)];
  else throw bad(`a next hop of ${hopLength} bytes`);
  r.u8(); // Reserved
  return { afi, safi, nextHops, nlri: decodePrefixes(r, v.length, 'MP_REACH_NLRI', family, bad) };
}

/** RFC 4760 §4 MP_UNREACH_NLRI (faults reset the session, as MP_REACH_NLRI's). */
function decodeMpUnreach(v: Uint8Array, whole: Uint8Array): MpUnreach | undefined {
  const head = mpHead(v, whole, 'MP_UNREACH_NLRI');
  if (!head) return undefined;
  return { afi: head.afi, safi: head.safi, withdrawn: decodePrefixes(head.r, v.length, 'MP_UNREACH_NLRI', head.family, head.bad) };
}

function decodeUpdate(body: Uint8Array, ctx: CodecContext): UpdateMessage {
  const malformed = (msg: string) => new BgpDecodeError(ErrorCode.update, UpdateSubcode.malformedAttributeList, msg);
  const r = new Reader(body, () => malformed('the UPDATE is shorter than its fields'));
  const withdrawnLength = r.u16();
  if (withdrawnLength > r.left - 2) throw malformed(`withdrawn routes length ${withdrawnLength} runs past the message`);
  const withdrawn = decodePrefixes(r, r.pos + withdrawnLength, 'withdrawn');
  const attrsLength = r.u16();
  if (attrsLength > r.left) throw malformed(`path attributes length ${attrsLength} runs past the message`);
  const attrsEnd = r.pos + attrsLength;
  // the NLRI can be located whatever the attributes hold, so attribute faults are treat-as-withdraw (RFC 7606 §2)
  const nlriReader = new Reader(body, () => malformed('NLRI runs past the message'));
  nlriReader.pos = attrsEnd;
  const nlri = decodePrefixes(nlriReader, body.length, 'NLRI');
  const attributes = decodeAttributes(body.subarray(r.pos, attrsEnd), ctx, nlri.length > 0);
  return { type: 'update', withdrawn, attributes, nlri };
}

function decodeAttributes(b: Uint8Array, ctx: CodecContext, hasNlri: boolean): PathAttributes {
  const fault = (sub: number, msg: string, data?: Uint8Array) => new BgpDecodeError(ErrorCode.update, sub, msg, data, true);
  const r = new Reader(b, () => fault(UpdateSubcode.attributeLength, 'an attribute runs past the attribute list'));
  const a: PathAttributes = {};
  const seen = new Set<number>();
  while (r.left > 0) {
    const start = r.pos;
    const flags = r.u8();
    const code = r.u8();
    const length = flags & FLAG.extendedLength ? r.u16() : r.u8();
    const value = r.bytes(length);
    const whole = b.slice(start, r.pos);
    // RFC 7606 §3(g): a repeated attribute is a malformed list
    if (seen.has(code)) throw fault(UpdateSubcode.malformedAttributeList, `attribute ${code} appears twice`);
    seen.add(code);
    const wellKnown = code === ATTR.origin || code === ATTR.asPath || code === ATTR.nextHop || code === ATTR.localPref || code === ATTR.atomicAggregate;
    const optional = (flags & FLAG.optional) !== 0;
    const multiprotocol = code === ATTR.mpReach || code === ATTR.mpUnreach;
    if ((code >= ATTR.origin && code <= ATTR.communities) || multiprotocol) {
      // RFC 4271 §6.3: the Optional and Transitive bits of a known attribute must be as the RFC defines them
      const expected = wellKnown ? FLAG.transitive : code === ATTR.med || multiprotocol ? FLAG.optional : FLAG.optional | FLAG.transitive;
      // RFC 7606 §7.11: an MP attribute's routes cannot be trusted without its flags, so that resets the session
      if ((flags & (FLAG.optional | FLAG.transitive)) !== expected) throw new BgpDecodeError(ErrorCode.update, UpdateSubcode.attributeFlags, `attribute ${code} has flags 0x${flags.toString(16)}`, whole, !multiprotocol);
    }
    const fixed = (n: number) => {
      if (value.length !== n) throw fault(UpdateSubcode.attributeLength, `attribute ${code} has length ${value.length}, not ${n}`, whole);
    };
    const num = () => ((value[0]! << 24) >>> 0) + (value[1]! << 16) + (value[2]! << 8) + value[3]!;
    switch (code) {
      case ATTR.origin: {
        fixed(1);
        const o = ORIGINS[value[0]!];
        if (!o) throw fault(UpdateSubcode.invalidOrigin, `ORIGIN ${value[0]}`, whole);
        a.origin = o;
        break;
      }
      case ATTR.asPath:
        a.asPath = decodeAsPath(value, ctx, whole);
        break;
      case ATTR.nextHop:
        fixed(4);
        a.nextHop = bytesToIpv4(value);
        break;
      case ATTR.med:
        fixed(4);
        a.med = num();
        break;
      case ATTR.localPref:
        fixed(4);
        a.localPref = num();
        break;
      case ATTR.communities: {
        if (value.length % 4 !== 0) throw fault(UpdateSubcode.optionalAttribute, `COMMUNITIES of length ${value.length}`, whole);
        const cs: string[] = [];
        for (let i = 0; i < value.length; i += 4) cs.push(`${(value[i]! << 8) | value[i + 1]!}:${(value[i + 2]! << 8) | value[i + 3]!}`);
        a.communities = cs;
        break;
      }
      case ATTR.mpReach:
      case ATTR.mpUnreach: {
        const mp = code === ATTR.mpReach ? decodeMpReach(value, whole) : decodeMpUnreach(value, whole);
        if (mp && 'nextHops' in mp) a.mpReach = mp;
        else if (mp) a.mpUnreach = mp;
        // another family's routes: kept as they came (kubeha discards received routes anyway)
        else (a.other ??= []).push({ flags: flags & ~FLAG.extendedLength, code, value });
        break;
      }
      default:
        // RFC 4271 §6.3: an unrecognized well-known attribute (Optional bit clear) is an error; optional ones pass
        if (!optional && !wellKnown && code !== ATTR.aggregator) throw fault(UpdateSubcode.unrecognizedWellKnown, `unrecognized well-known attribute ${code}`, whole);
        (a.other ??= []).push({ flags: flags & ~FLAG.extendedLength, code, value });
    }
  }
  // RFC 4271 §6.3: ORIGIN, AS_PATH and NEXT_HOP are mandatory when the UPDATE carries NLRI;
  // RFC 4760 §3: with its routes in MP_REACH_NLRI only, NEXT_HOP is not (the attribute has its own)
  const mandatory = hasNlri ? ([[ATTR.origin, a.origin], [ATTR.asPath, a.asPath], [ATTR.nextHop, a.nextHop]] as const) : a.mpReach?.nlri.length ? ([[ATTR.origin, a.origin], [ATTR.asPath, a.asPath]] as const) : [];
  for (const [code, present] of mandatory) {
    if (present === undefined) throw fault(UpdateSubcode.missingWellKnown, `mandatory attribute ${code} is missing`, Uint8Array.of(code));
  }
  return a;
}

function decodeAsPath(v: Uint8Array, ctx: CodecContext, whole: Uint8Array): AsPathSegment[] {
  const bad = () => new BgpDecodeError(ErrorCode.update, UpdateSubcode.malformedAsPath, 'malformed AS_PATH', whole, true);
  const r = new Reader(v, bad);
  const width = ctx.fourOctetAs ? 4 : 2;
  const out: AsPathSegment[] = [];
  while (r.left > 0) {
    const t = r.u8();
    const n = r.u8();
    // RFC 4271 §4.3: 1 = AS_SET, 2 = AS_SEQUENCE (confederation segments are not expected from a router here)
    if ((t !== 1 && t !== 2) || n === 0) throw bad();
    const asns: number[] = [];
    for (let i = 0; i < n; i++) asns.push(width === 4 ? r.u32() : r.u16());
    out.push({ type: t === 1 ? 'set' : 'sequence', asns });
  }
  return out;
}

/** Decodes one whole message (header included); throws only BgpDecodeError. */
export function decodeMessage(buf: Uint8Array, ctx: CodecContext): BgpMessage {
  const { type, body } = header(buf);
  switch (type) {
    case MessageType.open:
      return decodeOpen(body);
    case MessageType.update:
      return decodeUpdate(body, ctx);
    case MessageType.notification:
      return { type: 'notification', code: body[0]!, subcode: body[1]!, data: body.slice(2) };
    case MessageType.keepalive:
      return { type: 'keepalive' };
    default: {
      // RFC 7313 §5: a ROUTE-REFRESH whose length is not 23 is answered with its own error code
      if (body.length !== 4) throw new BgpDecodeError(ErrorCode.routeRefresh, RouteRefreshSubcode.invalidLength, `ROUTE-REFRESH of ${body.length + HEADER_LENGTH} bytes`, buf.slice());
      return { type: 'routeRefresh', afi: (body[0]! << 8) | body[1]!, safi: body[3]! };
    }
  }
}

/** A NOTIFICATION's code and subcode in words, for logs and the state API. */
export function describeNotification(code: number, subcode: number): string {
  const codes: Record<number, [string, Record<number, string>]> = {
    1: ['Message Header Error', { 1: 'Connection Not Synchronized', 2: 'Bad Message Length', 3: 'Bad Message Type' }],
    2: ['OPEN Message Error', { 1: 'Unsupported Version Number', 2: 'Bad Peer AS', 3: 'Bad BGP Identifier', 4: 'Unsupported Optional Parameter', 6: 'Unacceptable Hold Time', 7: 'Unsupported Capability' }],
    3: ['UPDATE Message Error', { 1: 'Malformed Attribute List', 2: 'Unrecognized Well-known Attribute', 3: 'Missing Well-known Attribute', 4: 'Attribute Flags Error', 5: 'Attribute Length Error', 6: 'Invalid ORIGIN Attribute', 8: 'Invalid NEXT_HOP Attribute', 9: 'Optional Attribute Error', 10: 'Invalid Network Field', 11: 'Malformed AS_PATH' }],
    4: ['Hold Timer Expired', {}],
    5: ['Finite State Machine Error', { 1: 'unexpected message in OpenSent', 2: 'unexpected message in OpenConfirm', 3: 'unexpected message in Established' }],
    6: ['Cease', { 1: 'Maximum Number of Prefixes Reached', 2: 'Administrative Shutdown', 3: 'Peer De-configured', 4: 'Administrative Reset', 5: 'Connection Rejected', 6: 'Other Configuration Change', 7: 'Connection Collision Resolution', 8: 'Out of Resources', 9: 'Hard Reset' }],
    7: ['ROUTE-REFRESH Message Error', { 1: 'Invalid Message Length' }],
  };
  const [name, subs] = codes[code] ?? [`error code ${code}`, {}];
  const sub = subs[subcode];
  return sub ? `${name} / ${sub}` : subcode ? `${name} / subcode ${subcode}` : name;
}
