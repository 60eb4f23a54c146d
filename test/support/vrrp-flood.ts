// `vrrp-flood IFACE VRID RATE SECONDS MAX_PACKETS CLASS[,CLASS...] [SOURCES]`: sends VRRP-shaped
// packets to 224.0.0.18 from inside a test namespace, as a broken or hostile host on the segment
// would: `RATE` packets a second for at most `SECONDS` and at most `MAX_PACKETS`, cycling through
// the classes, with source addresses spoofed from the comma-separated `SOURCES` (default: the
// interface's own). Prints one JSON line per class count at the end. Bounded in count and time.
//
// Classes (all for VRID unless named): random (random bytes), truncated (a VRRP header cut short),
// checksum, ttl (64), version (4), type (2), length (an address count the packet does not carry),
// other_vrid (valid adverts of VRID + 1), low_priority (valid adverts at priority 1 or 2), zero
// (valid priority-0 adverts), equal:P (valid adverts at priority P; the sources say from where).
import { networkInterfaces } from 'node:os';
import { C, check, intOption, libc, sockaddrIn } from '../../src/vrrp/libc.js';
import { encodeAdvert, encodeIpv4, ipv4ToBytes, VRRP_MULTICAST_GROUP } from '../../src/vrrp/packet.js';

const [iface = 'eth0', vridArg = '1', rateArg = '1000', secondsArg = '1', maxArg = '1000', classArg = 'random', sourcesArg = ''] = process.argv.slice(2);
const vrid = Number(vridArg);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const maxPackets = Number(maxArg);
const classes = classArg.split(',');
const IPPROTO_RAW = 255;

const c = libc();
// IPPROTO_RAW implies IP_HDRINCL: we write the IP header (TTL, source); the kernel fills in the
// header checksum and total length.
const fd = check(c.socket(C.AF_INET, C.SOCK_RAW | C.SOCK_CLOEXEC, IPPROTO_RAW), 'socket(AF_INET, SOCK_RAW, IPPROTO_RAW)');
const dev = Buffer.from(`${iface}\0`);
check(c.setsockopt(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, dev, dev.length), `SO_BINDTODEVICE ${iface}`);
const mreq = Buffer.alloc(12);
mreq.writeInt32LE(c.if_nametoindex(iface), 8);
check(c.setsockopt(fd, C.IPPROTO_IP, C.IP_MULTICAST_IF, mreq, 12), 'IP_MULTICAST_IF');
check(c.setsockopt(fd, C.IPPROTO_IP, C.IP_MULTICAST_LOOP, intOption(0), 4), 'IP_MULTICAST_LOOP');
const dst = sockaddrIn(ipv4ToBytes(VRRP_MULTICAST_GROUP));

const own = networkInterfaces()[iface]?.find((a) => a.family === 'IPv4')?.address;
if (!own) throw new Error(`${iface} has no IPv4 address`);
// The v3 checksum covers the source address, so it is always written out (never left to the kernel).
const sources = sourcesArg ? sourcesArg.split(',') : [own];
let seed = 12345;
/** A small LCG: the flood is the same in every run. */
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed % n;
};

function advert(src: string, over: { vrid?: number; priority?: number } = {}): Uint8Array {
  return encodeAdvert({ version: 3, vrid: over.vrid ?? vrid, priority: over.priority ?? 1, advertIntervalCs: 10, addresses: ['192.0.2.200'], authPass: '' },
    { src, dst: VRRP_MULTICAST_GROUP });
}

/** The VRRP part (no IP header) of one packet of `kind` from `src`, and its TTL. */
function payload(kind: string, src: string): [Uint8Array, number] {
  switch (kind) {
    case 'random': {
      const b = new Uint8Array(8 + rand(40));
      for (let i = 0; i < b.length; i++) b[i] = rand(256);
      b[1] = vrid; // ours, so that the instance examines it
      return [b, 255];
    }
    case 'truncated':
      return [advert(src).subarray(0, 1 + rand(7)), 255];
    case 'checksum': {
      const b = advert(src);
      b[7] = b[7]! ^ 0x5a;
      return [b, 255];
    }
    case 'ttl':
      return [advert(src), 64];
    case 'version': {
      const b = advert(src);
      b[0] = 0x41;
      return [b, 255];
    }
    case 'type': {
      const b = advert(src);
      b[0] = 0x32;
      return [b, 255];
    }
    case 'length': {
      const b = advert(src);
      b[3] = 9; // nine addresses claimed, one carried
      return [b, 255];
    }
    case 'other_vrid':
      return [advert(src, { vrid: (vrid % 255) + 1, priority: 254 }), 255];
    case 'low_priority':
      return [advert(src, { priority: 1 + rand(2) }), 255];
    case 'zero':
      return [advert(src, { priority: 0 }), 255];
    default: {
      const m = /^equal:(\d+)$/.exec(kind);
      if (!m) throw new Error(`unknown class ${kind}`);
      return [advert(src, { priority: Number(m[1]) }), 255];
    }
  }
}

// Packets are built ahead (a pool per class and source), so that sending is one syscall each.
const POOL = 64;
const pools = classes.map((kind) => sources.map((src) => Array.from({ length: POOL }, () => {
  const [vrrp, ttl] = payload(kind, src);
  return encodeIpv4({ tos: 0xc0, id: 0, ttl, protocol: 112, src, dst: VRRP_MULTICAST_GROUP }, vrrp);
})));
const counts: Record<string, number> = {};
let sent = 0;
let errors = 0;
const started = Date.now();
const endAt = started + seconds * 1000;
const TICK_MS = 10;

function burst(): void {
  const due = Math.min(maxPackets, Math.floor(((Date.now() - started) / 1000) * rate));
  for (; sent < due; sent++) {
    const k = sent % classes.length;
    const kind = classes[k]!;
    const packet = pools[k]![Math.floor(sent / classes.length) % sources.length]![sent % POOL]!;
    if (c.sendto(fd, packet, packet.length, 0, dst, 16) < 0) errors++;
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  if (sent >= maxPackets || Date.now() >= endAt) {
    c.close(fd);
    console.log(JSON.stringify({ event: 'flood-done', sent, errors, ms: Date.now() - started, counts }));
    return;
  }
  setTimeout(burst, TICK_MS);
}
console.log(JSON.stringify({ event: 'flood-start', iface, vrid, rate, classes }));
burst();
