// IPv6 neighbour discovery frames (RFC 4861), pure: the unsolicited neighbour advertisement a new
// master sends for each IPv6 VIP (IPv6's gratuitous ARP), and the parse that duplicate-VIP detection
// needs. keepalived 2.2.7 sends the NA from the VIP itself to ff02::1 (all nodes), hop limit 255,
// with the Override flag and a target link-layer address option (captured in test/vrrp/fixtures);
// kubeha sends the same bytes.
import { macToString } from './arp.js';
import { bytesToIpv6, internetChecksum, ipv6ToBytes } from './packet.js';

/** IPv6's next-header number of ICMPv6. */
export const ICMPV6 = 58;
const NEIGHBOUR_SOLICITATION = 135;
const NEIGHBOUR_ADVERTISEMENT = 136;
/** RFC 4861 §4.4: the Override flag (the top bits of the flags word are Router, Solicited, Override). */
const NA_FLAG_OVERRIDE = 0x20;
/** RFC 4861 §4.6.1: option types of the source and target link-layer address. */
const OPTION_SOURCE_LL = 1;
const OPTION_TARGET_LL = 2;
const ALL_NODES = ipv6ToBytes('ff02::1');
/** RFC 2464 §7: IPv6 multicast to 33:33 and the group's last 32 bits. */
const ALL_NODES_MAC = new Uint8Array([0x33, 0x33, 0x00, 0x00, 0x00, 0x01]);
const ETHERTYPE_IPV6 = [0x86, 0xdd];
/** Where the IPv6 header starts in an Ethernet frame, and the ICMPv6 message after it. */
const IP = 14;
const ICMP = IP + 40;

/** RFC 4443 §2.3: the ICMPv6 checksum covers the IPv6 pseudo-header (addresses, length, next header). */
function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, message: Uint8Array): number {
  const pseudo = new Uint8Array(40);
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  pseudo[34] = message.length >> 8;
  pseudo[35] = message.length & 0xff;
  pseudo[39] = ICMPV6;
  return internetChecksum(pseudo, message);
}

/** An Ethernet frame carrying an unsolicited neighbour advertisement of `ip` for `mac`. */
export function unsolicitedNaFrame(mac: Uint8Array, ip: string): Uint8Array {
  const target = ipv6ToBytes(ip);
  const f = new Uint8Array(ICMP + 32);
  f.set(ALL_NODES_MAC, 0);
  f.set(mac, 6);
  f.set(ETHERTYPE_IPV6, 12);
  f[IP] = 0x60; // version 6, traffic class 0, flow label 0
  f[IP + 5] = 32; // payload length
  f[IP + 6] = ICMPV6;
  f[IP + 7] = 255; // RFC 4861 §7.1.2: a receiver drops NDP with any other hop limit
  f.set(target, IP + 8);
  f.set(ALL_NODES, IP + 24);
  const m = f.subarray(ICMP);
  m[0] = NEIGHBOUR_ADVERTISEMENT;
  m[4] = NA_FLAG_OVERRIDE;
  m.set(target, 8);
  m[24] = OPTION_TARGET_LL;
  m[25] = 1; // in units of 8 bytes
  m.set(mac, 26);
  const sum = icmpv6Checksum(target, ALL_NODES, m);
  m[2] = sum >> 8;
  m[3] = sum & 0xff;
  return f;
}

/** Who claims an address in a neighbour discovery frame. */
export interface NdiscClaim {
  op: 'solicitation' | 'advertisement';
  senderMac: string;
  /** The address the frame claims for senderMac: an NA's target, or an NS's source (never the unspecified ::). */
  senderIp: string;
}

/** The link-layer address option of `type` in the options from `at`, or undefined. */
function linkLayerOption(f: Uint8Array, at: number, type: number): Uint8Array | undefined {
  while (at + 8 <= f.length) {
    const length = f[at + 1]! * 8;
    if (length === 0) return undefined; // RFC 4861 §4.6: a zero length is invalid
    if (f[at] === type && length >= 8) return f.subarray(at + 2, at + 8);
    at += length;
  }
  return undefined;
}

/**
 * Parses an Ethernet frame carrying an NS or NA that claims an address; undefined for anything else
 * (other ICMPv6, a hop limit other than 255, a DAD probe from ::, extension headers). The MAC is the
 * link-layer option's when there is one, else the frame's source.
 */
export function parseNdiscClaim(f: Uint8Array): NdiscClaim | undefined {
  if (f.length < ICMP + 24 || f[12] !== 0x86 || f[13] !== 0xdd || f[IP]! >> 4 !== 6) return undefined;
  if (f[IP + 6] !== ICMPV6 || f[IP + 7] !== 255) return undefined;
  const type = f[ICMP];
  const frameMac = f.subarray(6, 12);
  if (type === NEIGHBOUR_ADVERTISEMENT) {
    const mac = linkLayerOption(f, ICMP + 24, OPTION_TARGET_LL) ?? frameMac;
    return { op: 'advertisement', senderMac: macToString(mac), senderIp: bytesToIpv6(f, ICMP + 8) };
  }
  if (type === NEIGHBOUR_SOLICITATION) {
    const src = bytesToIpv6(f, IP + 8);
    if (src === '::') return undefined; // duplicate address detection: nobody claims anything yet
    const mac = linkLayerOption(f, ICMP + 24, OPTION_SOURCE_LL) ?? frameMac;
    return { op: 'solicitation', senderMac: macToString(mac), senderIp: src };
  }
  return undefined;
}
