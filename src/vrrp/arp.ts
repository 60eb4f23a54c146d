// ARP frames, pure: the gratuitous ARP a new master broadcasts, and the parse that duplicate-VIP
// detection needs. keepalived 2.2.7 sends `who-has VIP tell VIP`, target MAC ff:ff:ff:ff:ff:ff, to
// the broadcast address (captured in test/vrrp/fixtures); kubeha sends the same bytes.
import { bytesToIpv4, ipv4ToBytes } from './packet.js';

const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** An Ethernet frame carrying a gratuitous ARP request for `ip` from `mac`. */
export function garpFrame(mac: Uint8Array, ip: string): Uint8Array {
  const f = new Uint8Array(42);
  f.set(BROADCAST, 0);
  f.set(mac, 6);
  f.set([0x08, 0x06], 12); // EtherType ARP
  f.set([0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01], 14); // Ethernet, IPv4, hlen 6, plen 4, op request
  f.set(mac, 22);
  f.set(ipv4ToBytes(ip), 28);
  f.set(BROADCAST, 32);
  f.set(ipv4ToBytes(ip), 38);
  return f;
}

/** The fields of an ARP frame that say who claims an address. */
export interface ArpClaim {
  op: 'request' | 'reply';
  senderMac: string;
  senderIp: string;
  targetIp: string;
}

/** Parses an Ethernet/IPv4 ARP frame; undefined for anything else. */
export function parseArp(f: Uint8Array): ArpClaim | undefined {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x06) return undefined;
  if (f[14] !== 0 || f[15] !== 1 || f[16] !== 0x08 || f[17] !== 0 || f[18] !== 6 || f[19] !== 4) return undefined;
  const op = f[21] === 1 ? 'request' : f[21] === 2 ? 'reply' : undefined;
  if (!op) return undefined;
  return { op, senderMac: macToString(f.subarray(22, 28)), senderIp: bytesToIpv4(f, 28), targetIp: bytesToIpv4(f, 38) };
}

/** `aa:bb:cc:dd:ee:ff`. */
export function macToString(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
