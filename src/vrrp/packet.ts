// VRRP advertisement codec: v2 (RFC 3768, IPv4) and v3 (RFC 5798, IPv4 and IPv6). Pure: bytes in,
// values out.
//
// Received packets come with their IP header (an IPv4 raw socket keeps it; IPv6 ones are read from a
// packet socket for the same reason: the hop limit and the destination are in it). Sending leaves
// the IP header to the kernel (TTL / hop limit 255 set on the socket), so `encodeAdvert` produces the
// VRRP message alone, and `encodeIpv4` / `encodeIpv6` exist for tests and fixtures (a captured
// keepalived packet re-encodes byte for byte).
import { isIPv4, isIPv6 } from 'node:net';

/** IP protocol number of VRRP. */
export const VRRP_PROTOCOL = 112;
/** RFC 5798 §5.1.1.2: the IPv4 multicast group of VRRP. */
export const VRRP_MULTICAST_GROUP = '224.0.0.18';
/** RFC 5798 §5.1.2.2: the IPv6 multicast group of VRRP (link-local scope). */
export const VRRP_MULTICAST_GROUP6 = 'ff02::12';
/** RFC 3768 §5.3.6.1: the simple-text password field is 8 bytes, zero padded. */
export const AUTH_PASS_LENGTH = 8;

/** One VRRP advertisement, as both versions carry it. */
export interface Advert {
  version: 2 | 3;
  vrid: number;
  priority: number;
  /** Advertisement interval in centiseconds (v2 carries whole seconds: a multiple of 100). */
  advertIntervalCs: number;
  /** The addresses the router protects: all IPv4 (dotted quad) or all IPv6 (RFC 5952 text), as the packet's family. */
  addresses: string[];
  /** v2 only: the `auth_type PASS` password ('' = no authentication). */
  authPass: string;
}

/** The IPv4 header fields VRRP cares about. */
export interface Ipv4Header {
  tos: number;
  id: number;
  ttl: number;
  protocol: number;
  src: string;
  dst: string;
  /** Header length in bytes (20 without options). */
  headerLength: number;
  totalLength: number;
}

/** The IPv6 header fields VRRP cares about (RFC 8200 §3). */
export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: string;
  dst: string;
}

/** Why a packet was dropped; each reason is a label of kubeha_vrrp_adverts_dropped_total. */
export type DropReason = 'truncated' | 'not_ipv4' | 'not_vrrp' | 'ttl' | 'version' | 'type' | 'length' | 'checksum' | 'auth' | 'interval';

/** A packet that cannot be used, with the reason it was dropped. */
export class VrrpDecodeError extends Error {
  constructor(
    readonly reason: DropReason,
    message: string,
  ) {
    super(message);
    this.name = 'VrrpDecodeError';
  }
}

/** `a.b.c.d` → 4 bytes; throws on anything else. */
export function ipv4ToBytes(ip: string): Uint8Array {
  const parts = ip.split('.');
  const out = new Uint8Array(4);
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  parts.forEach((p, i) => {
    const n = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
    if (!(n >= 0 && n <= 255)) throw new Error(`not an IPv4 address: ${ip}`);
    out[i] = n;
  });
  return out;
}

/** 4 bytes at `offset` → `a.b.c.d`. */
export function bytesToIpv4(b: Uint8Array, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/** An IPv4 address as an unsigned 32-bit number. */
export function ipv4ToNumber(ip: string): number {
  const b = ipv4ToBytes(ip);
  return ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
}

/** An IPv6 address (any RFC 4291 text form, an embedded IPv4 tail included, no zone) → 16 bytes; throws on anything else. */
export function ipv6ToBytes(ip: string): Uint8Array {
  if (!isIPv6(ip) || ip.includes('%')) throw new Error(`not an IPv6 address: ${ip}`);
  let text = ip;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const v4 = ipv4ToBytes(tail[1]!);
    text = `${text.slice(0, tail.index)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

/** 16 bytes at `offset` → the RFC 5952 text of an IPv6 address (lower case, the longest run of zero groups as `::`). */
export function bytesToIpv6(b: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[offset + 2 * i]! << 8) | b[offset + 2 * i + 1]!);
  let best = -1;
  let bestLength = 1; // RFC 5952 §4.2.2: a single zero group is not shortened
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  return best < 0 ? hex(groups) : `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`;
}

/** An IPv4 or IPv6 address → its 4 or 16 bytes; throws on anything else. */
export function ipToBytes(ip: string): Uint8Array {
  return isIPv4(ip) ? ipv4ToBytes(ip) : ipv6ToBytes(ip);
}

/** An address's family: 6 for IPv6 text, else 4 (the caller has validated it). */
export function familyOf(ip: string): 4 | 6 {
  return ip.includes(':') ? 6 : 4;
}

/**
 * The RFC 5952 form of an IPv6 address, so that text from a config and from a packet compare equal;
 * anything else (IPv4, a name, a zoned address) comes back unchanged: it never throws.
 */
export function canonicalIp(ip: string): string {
  return isIPv6(ip) && !ip.includes('%') ? bytesToIpv6(ipv6ToBytes(ip)) : ip;
}

/**
 * An address as an unsigned number, for RFC 5798 §6.4.3's "greater primary address" (IPv4 against
 * IPv4, IPv6 against IPv6: 128 bits, compared as the unsigned integer the bytes spell).
 */
export function addressRank(ip: string): bigint {
  let n = 0n;
  for (const byte of ipToBytes(ip)) n = (n << 8n) | BigInt(byte);
  return n;
}

/** The Internet checksum (RFC 1071) over the concatenation of `parts`. */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      if (odd === undefined) odd = part[i]!;
      else {
        sum += (odd << 8) | part[i]!;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** RFC 5798 §5.2.8: the v3 checksum covers a pseudo-header of the IP header around it. */
function pseudoHeader(ends: Endpoints, length: number): Uint8Array {
  return pseudoHeaderFrom(endpointBytes(ends), length);
}

/** The 8 (IPv4) or 32 (IPv6) address bytes of `ends` as they stand in an IP header. */
function endpointBytes(ends: Endpoints): Uint8Array {
  const src = ipToBytes(ends.src);
  const dst = ipToBytes(ends.dst);
  if (src.length !== dst.length) throw new Error(`${ends.src} and ${ends.dst} are not of one address family`);
  const b = new Uint8Array(2 * src.length);
  b.set(src, 0);
  b.set(dst, src.length);
  return b;
}

/** Addresses of the IP header around a v3 message (its checksum depends on them). */
export interface Endpoints {
  src: string;
  dst: string;
}

/**
 * Encodes the VRRP message (no IP header). v3 needs the IP source and destination for its checksum;
 * v2 carries the interval in whole seconds (rounded up, at least 1) and an 8-byte password field.
 * The addresses are IPv4 or IPv6 as `ends` are (v2 is IPv4 only).
 */
export function encodeAdvert(a: Advert, ends?: Endpoints): Uint8Array {
  const n = a.addresses.length;
  if (n > 255) throw new Error('at most 255 addresses in one advertisement');
  const v2 = a.version === 2;
  const size = ends && familyOf(ends.src) === 6 ? 16 : 4;
  if (v2 && size === 16) throw new Error('VRRPv2 is IPv4 only (RFC 3768); IPv6 needs version 3');
  const length = 8 + size * n + (v2 ? AUTH_PASS_LENGTH : 0);
  const m = new Uint8Array(length);
  m[0] = (a.version << 4) | 1; // type 1 = ADVERTISEMENT
  m[1] = a.vrid;
  m[2] = a.priority;
  m[3] = n;
  if (v2) {
    m[4] = a.authPass ? 1 : 0;
    m[5] = Math.min(255, Math.max(1, Math.ceil(a.advertIntervalCs / 100)));
  } else {
    const cs = Math.min(0xfff, Math.max(1, Math.round(a.advertIntervalCs)));
    m[4] = cs >> 8; // the top 4 bits (rsvd) stay zero
    m[5] = cs & 0xff;
  }
  a.addresses.forEach((ip, i) => {
    const bytes = ipToBytes(ip);
    if (bytes.length !== size) throw new Error(`${ip} is not of the packet's address family`);
    m.set(bytes, 8 + size * i);
  });
  if (v2 && a.authPass) m.set(new TextEncoder().encode(a.authPass).subarray(0, AUTH_PASS_LENGTH), 8 + 4 * n);
  let sum: number;
  if (v2) sum = internetChecksum(m);
  else {
    if (!ends) throw new Error('a VRRPv3 checksum needs the IP source and destination');
    sum = internetChecksum(pseudoHeader(ends, length), m);
  }
  m[6] = sum >> 8;
  m[7] = sum & 0xff;
  return m;
}

/** What the receiver checks a v2 advert against. */
export interface DecodeOptions {
  /** The password this instance expects (v2); '' accepts only unauthenticated adverts. */
  authPass?: string;
  /**
   * IPv6 unicast adverts with any hop limit are accepted (multicast ones must still carry 255).
   * keepalived 2.2.7 sends its IPv6 unicast adverts with hop limit 64 (captured in
   * test/vrrp/fixtures) and checks none on receipt, so a unicast peer list needs this to interoperate;
   * the instance accepts those only from its configured peers.
   */
  anyUnicastHopLimit?: boolean;
}

/** Why a packet cannot be used, as data: the receive path drops a flood without building an Error per packet. */
export interface Rejected {
  rejected: DropReason;
  detail: string;
}

const reject = (rejected: DropReason, detail: string): Rejected => ({ rejected, detail });

/** Whether a parse result is a rejection. */
export function isRejected<T extends object>(r: T | Rejected): r is Rejected {
  return 'rejected' in r;
}

/**
 * Parses a VRRP message (no IP header). `pseudo` gives the v3 checksum's source and destination:
 * the 8 (IPv4) or 32 (IPv6) address bytes of the IP header around it, which also say the family of
 * the addresses. Returns the advert, or why it is unusable; the cheap checks (version, type,
 * length) come before the checksum, and nothing is allocated for a packet that fails them.
 */
export function parseAdvert(m: Uint8Array, pseudo: Uint8Array, opts: DecodeOptions = {}): Advert | Rejected {
  if (m.length < 8) return reject('truncated', `${m.length} bytes is shorter than a VRRP header`);
  const version = m[0]! >> 4;
  const ipv6 = pseudo.length === 32;
  if (version !== 3 && !(version === 2 && !ipv6)) return reject('version', `VRRP version ${version}${ipv6 ? ' over IPv6' : ''}`);
  if ((m[0]! & 0x0f) !== 1) return reject('type', `VRRP type ${m[0]! & 0x0f} is not an advertisement`);
  const n = m[3]!;
  const v2 = version === 2;
  const size = ipv6 ? 16 : 4;
  const expected = 8 + size * n + (v2 ? AUTH_PASS_LENGTH : 0);
  if (m.length < expected) return reject('length', `${m.length} bytes for ${n} addresses (need ${expected})`);
  const body = m.subarray(0, expected);
  const sum = v2 ? internetChecksum(body) : internetChecksum(pseudoHeaderFrom(pseudo, expected), body);
  if (sum !== 0) return reject('checksum', `bad checksum 0x${((m[6]! << 8) | m[7]!).toString(16)}`);
  let authPass = '';
  let advertIntervalCs: number;
  if (v2) {
    const authType = m[4]!;
    advertIntervalCs = m[5]! * 100;
    if (authType === 1) {
      const raw = m.subarray(8 + 4 * n, expected);
      const end = raw.indexOf(0);
      authPass = new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
    } else if (authType !== 0) return reject('auth', `unsupported auth type ${authType}`);
    const want = (opts.authPass ?? '').slice(0, AUTH_PASS_LENGTH);
    if (authPass !== want) return reject('auth', want ? 'wrong or missing password' : 'unexpected password');
  } else {
    advertIntervalCs = ((m[4]! & 0x0f) << 8) | m[5]!;
  }
  if (advertIntervalCs === 0) return reject('interval', 'advert interval 0');
  const addresses: string[] = [];
  for (let i = 0; i < n; i++) addresses.push(ipv6 ? bytesToIpv6(m, 8 + 16 * i) : bytesToIpv4(m, 8 + 4 * i));
  return { version, vrid: m[1]!, priority: m[2]!, advertIntervalCs, addresses, authPass };
}

/**
 * RFC 5798 §5.2.8's pseudo-header from the IP header's address bytes: IPv4's (RFC 768: addresses,
 * zero, protocol, 16-bit length) from 8 bytes, IPv6's (RFC 8200 §8.1: addresses, 32-bit length,
 * three zeros, next header) from 32.
 */
function pseudoHeaderFrom(addresses: Uint8Array, length: number): Uint8Array {
  if (addresses.length === 32) {
    const p = new Uint8Array(40);
    p.set(addresses, 0);
    p[34] = length >> 8;
    p[35] = length & 0xff;
    p[39] = VRRP_PROTOCOL;
    return p;
  }
  const p = new Uint8Array(12);
  p.set(addresses.subarray(0, 8), 0);
  p[9] = VRRP_PROTOCOL;
  p[10] = length >> 8;
  p[11] = length & 0xff;
  return p;
}

/**
 * Decodes a VRRP message (no IP header). `ends` are the IP header's addresses (v3 checksum).
 * Throws {@link VrrpDecodeError} on anything malformed; never anything else.
 */
export function decodeAdvert(m: Uint8Array, ends: Endpoints, opts: DecodeOptions = {}): Advert {
  return orThrow(parseAdvert(m, endpointBytes(ends), opts));
}

function orThrow<T extends object>(r: T | Rejected): T {
  if (isRejected(r)) throw new VrrpDecodeError(r.rejected, r.detail);
  return r;
}

/** Parses an IPv4 header, or says why the bytes are not one. */
export function parseIpv4(p: Uint8Array): Ipv4Header | Rejected {
  if (p.length < 20) return reject('truncated', `${p.length} bytes is shorter than an IPv4 header`);
  if (p[0]! >> 4 !== 4) return reject('not_ipv4', `IP version ${p[0]! >> 4}`);
  const headerLength = (p[0]! & 0x0f) * 4;
  const totalLength = (p[2]! << 8) | p[3]!;
  if (headerLength < 20 || p.length < headerLength) return reject('truncated', `IPv4 header length ${headerLength}`);
  return {
    tos: p[1]!,
    id: (p[4]! << 8) | p[5]!,
    ttl: p[8]!,
    protocol: p[9]!,
    src: bytesToIpv4(p, 12),
    dst: bytesToIpv4(p, 16),
    headerLength,
    totalLength,
  };
}

/** Decodes an IPv4 header; throws {@link VrrpDecodeError} when the bytes are not one. */
export function decodeIpv4(p: Uint8Array): Ipv4Header {
  return orThrow(parseIpv4(p));
}

/** Encodes a 20-byte IPv4 header followed by `payload` (tests, fixtures, benchmarks). */
export function encodeIpv4(h: Omit<Ipv4Header, 'headerLength' | 'totalLength'>, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p[0] = 0x45;
  p[1] = h.tos;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[4] = h.id >> 8;
  p[5] = h.id & 0xff;
  p[8] = h.ttl;
  p[9] = h.protocol;
  p.set(ipv4ToBytes(h.src), 12);
  p.set(ipv4ToBytes(h.dst), 16);
  const sum = internetChecksum(p.subarray(0, 20));
  p[10] = sum >> 8;
  p[11] = sum & 0xff;
  p.set(payload, 20);
  return p;
}

/** Parses an IPv6 header (RFC 8200 §3), or says why the bytes are not one. */
export function parseIpv6(p: Uint8Array): Ipv6Header | Rejected {
  if (p.length < 40) return reject('truncated', `${p.length} bytes is shorter than an IPv6 header`);
  if (p[0]! >> 4 !== 6) return reject('not_ipv4', `IP version ${p[0]! >> 4}`);
  return {
    trafficClass: ((p[0]! & 0x0f) << 4) | (p[1]! >> 4),
    flowLabel: ((p[1]! & 0x0f) << 16) | (p[2]! << 8) | p[3]!,
    payloadLength: (p[4]! << 8) | p[5]!,
    nextHeader: p[6]!,
    hopLimit: p[7]!,
    src: bytesToIpv6(p, 8),
    dst: bytesToIpv6(p, 24),
  };
}

/** Encodes a 40-byte IPv6 header followed by `payload` (tests, fixtures, benchmarks). */
export function encodeIpv6(h: Omit<Ipv6Header, 'payloadLength'>, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  p[0] = 0x60 | (h.trafficClass >> 4);
  p[1] = ((h.trafficClass & 0x0f) << 4) | ((h.flowLabel >> 16) & 0x0f);
  p[2] = (h.flowLabel >> 8) & 0xff;
  p[3] = h.flowLabel & 0xff;
  p[4] = payload.length >> 8;
  p[5] = payload.length & 0xff;
  p[6] = h.nextHeader;
  p[7] = h.hopLimit;
  p.set(ipv6ToBytes(h.src), 8);
  p.set(ipv6ToBytes(h.dst), 24);
  p.set(payload, 40);
  return p;
}

/** The IP header fields of a received advert, either family's. */
export interface ReceivedHeader {
  family: 4 | 6;
  src: string;
  dst: string;
  /** IPv4's TTL or IPv6's hop limit. */
  ttl: number;
}

/** A received packet: who sent it, to where, and the advert. */
export interface ReceivedAdvert {
  ip: ReceivedHeader;
  advert: Advert;
}

/** The sender of an IPv4 or IPv6 packet, for the drop counters (which name senders), or "unknown" when there is no header to read. */
export function senderOf(p: Uint8Array): string {
  if (p.length >= 40 && p[0]! >> 4 === 6) return bytesToIpv6(p, 8);
  if (p.length >= 20 && p[0]! >> 4 === 4) return bytesToIpv4(p, 12);
  return 'unknown';
}

/** The VRID byte of a VRRP packet with its IP header, or undefined when it is too short to have one. */
export function vridOf(p: Uint8Array): number | undefined {
  if (p.length === 0) return undefined;
  const at = (p[0]! >> 4 === 6 ? 40 : (p[0]! & 0x0f) * 4) + 1;
  return p.length > at ? p[at] : undefined;
}

/**
 * Parses an IP packet carrying a VRRP advert, as the host receives it, or says why it is unusable.
 * RFC 5798 §7.1: anything whose TTL or hop limit is not 255 (it crossed a router) is refused, but
 * for IPv6 unicast with `opts.anyUnicastHopLimit` (see there).
 */
export function parsePacket(p: Uint8Array, opts: DecodeOptions = {}): ReceivedAdvert | Rejected {
  if (p.length > 0 && p[0]! >> 4 === 6) return parsePacket6(p, opts);
  if (p.length < 20) return reject('truncated', `${p.length} bytes is shorter than an IPv4 header`);
  // The cheap byte checks first: a flood of garbage is turned away before any string is built.
  if (p[9] !== VRRP_PROTOCOL) return reject('not_vrrp', `IP protocol ${p[9]}`);
  if (p[8] !== 255) return reject('ttl', `TTL ${p[8]} is not 255`);
  const ip = parseIpv4(p);
  if (isRejected(ip)) return ip;
  const end = Math.min(p.length, Math.max(ip.totalLength, ip.headerLength));
  const advert = parseAdvert(p.subarray(ip.headerLength, end), p.subarray(12, 20), opts);
  return isRejected(advert) ? advert : { ip: { family: 4, src: ip.src, dst: ip.dst, ttl: ip.ttl }, advert };
}

/** {@link parsePacket} for IPv6. Extension headers are not walked: VRRP is the next header or the packet is not ours. */
function parsePacket6(p: Uint8Array, opts: DecodeOptions): ReceivedAdvert | Rejected {
  if (p.length < 40) return reject('truncated', `${p.length} bytes is shorter than an IPv6 header`);
  if (p[6] !== VRRP_PROTOCOL) return reject('not_vrrp', `IPv6 next header ${p[6]}`);
  const multicast = p[24] === 0xff;
  if (p[7] !== 255 && (multicast || !opts.anyUnicastHopLimit)) return reject('ttl', `hop limit ${p[7]} is not 255`);
  const ip = parseIpv6(p);
  if (isRejected(ip)) return ip;
  const advert = parseAdvert(p.subarray(40, Math.min(p.length, 40 + ip.payloadLength)), p.subarray(8, 40), opts);
  return isRejected(advert) ? advert : { ip: { family: 6, src: ip.src, dst: ip.dst, ttl: ip.hopLimit }, advert };
}

/** {@link parsePacket} that throws {@link VrrpDecodeError}. */
export function decodePacket(p: Uint8Array, opts: DecodeOptions = {}): ReceivedAdvert {
  return orThrow(parsePacket(p, opts));
}
