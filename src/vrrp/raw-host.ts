// The real VrrpHost: raw IP sockets for VRRP, rtnetlink for the VIPs, packet sockets for ARP and
// IPv6 neighbour discovery, all through koffi. Sockets are non-blocking and read from the event loop
// (libuv poll), so the thread that runs VRRP never blocks on the wire.
//
// IPv4: two sockets per instance, as keepalived has: a sending one bound to the primary address
// (never the VIP) with TTL 255, and one receiving socket per interface, unbound, that joins
// 224.0.0.18 on that interface (a bound raw socket does not see multicast).
//
// IPv6: the sending socket is bound to the link-local address (or the unicast source) with hop
// limit 255 and joins ff02::12, so the interface accepts the group's frames. A raw IPv6 socket does
// not hand over the IP header, and the receiver needs it (the hop limit, and the destination for
// the checksum), so IPv6 VRRP is read from one packet socket per interface instead, with a BPF
// filter that lets only VRRP and neighbour solicitations/advertisements into user space; the same
// socket watches NS/NA for duplicate VIPs and sends the unsolicited NAs.
import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import { KubehaError } from '../errors.js';
import { BPF, bpfProgram, C, check, intOption, libc, sockaddrIn, sockaddrIn6, sockaddrLl } from './libc.js';
import { ICMPV6 } from './ndisc.js';
import { canonicalIp, familyOf, ipToBytes, ipv4ToBytes, ipv6ToBytes, VRRP_MULTICAST_GROUP, VRRP_MULTICAST_GROUP6, VRRP_PROTOCOL } from './packet.js';
import type { LinkInfo, VrrpChannel, VrrpHost } from './vrrp-host.js';

const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLMSG_ERROR = 2;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
/** ifaddrmsg flag: no duplicate address detection (a VIP is usable at once, and is ours by election). */
const IFA_F_NODAD = 0x02;
/** Where the next header and the ICMPv6 type stand in an Ethernet frame carrying IPv6. */
const FRAME_NEXT_HEADER = 14 + 6;
const FRAME_ICMPV6_TYPE = 14 + 40;
/**
 * The IPv6 packet socket's filter: VRRP, and ICMPv6 neighbour solicitations (135) and
 * advertisements (136); everything else the interface carries (the proxied traffic too) stays in
 * the kernel.
 */
const IPV6_FILTER = bpfProgram([
  [BPF.LDB_ABS, 0, 0, FRAME_NEXT_HEADER],
  [BPF.JEQ_K, 4, 0, VRRP_PROTOCOL], // → accept
  [BPF.JEQ_K, 0, 4, ICMPV6], // else → drop
  [BPF.LDB_ABS, 0, 0, FRAME_ICMPV6_TYPE],
  [BPF.JEQ_K, 1, 0, 135],
  [BPF.JEQ_K, 0, 1, 136],
  [BPF.RET_K, 0, 0, 0x40000],
  [BPF.RET_K, 0, 0, 0],
]);
/** The largest packet we read: one Ethernet MTU. */
const MAX_PACKET = 2048;
/**
 * The receive buffer of the VRRP and ARP sockets. The default (~208 KiB, a few hundred small
 * packets) overflows within milliseconds under a flood of garbage, and the kernel then drops the
 * real master's adverts with it. 4 MiB (the kernel doubles it for its own bookkeeping) holds a
 * quarter of a second of a 20k packets/s flood while the thread is busy; memory is only used while
 * packets wait.
 */
const RECEIVE_BUFFER_BYTES = 4 << 20;
/**
 * Packets read per readiness callback. The poll is level-triggered, so what is left is read at the
 * next turn of the loop, after the timers: a flood cannot hold the advert timer or the master-down
 * timer behind an endless read loop.
 */
const MAX_PACKETS_PER_WAKE = 256;

/** A 16-bit protocol number in network byte order, as socket(AF_PACKET) takes it. */
const htons = (v: number) => ((v & 0xff) << 8) | (v >> 8);

/** One attribute of an interface from /sys/class/net ('' when it cannot be read: no such interface, or down). */
function sysfs(iface: string, attribute: string): string {
  try {
    return readFileSync(`/sys/class/net/${iface}/${attribute}`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Sets the socket's receive buffer to RECEIVE_BUFFER_BYTES: past net.core.rmem_max with CAP_NET_ADMIN, else as far as the limit allows. */
function growReceiveBuffer(fd: number): void {
  const c = libc();
  const size = intOption(RECEIVE_BUFFER_BYTES);
  if (c.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVBUFFORCE, size, 4) < 0) c.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVBUF, size, 4);
}

/** A non-blocking fd read on readiness; each datagram goes to every subscriber. */
class SharedSocket {
  readonly subscribers = new Set<(data: Uint8Array) => void>();
  private readonly stopWatch: () => void;
  private readonly buf = Buffer.alloc(MAX_PACKET);

  constructor(readonly fd: number) {
    growReceiveBuffer(fd);
    this.stopWatch = libc().watch(fd, () => this.drain());
  }

  private drain(): void {
    const c = libc();
    for (let i = 0; i < MAX_PACKETS_PER_WAKE; i++) {
      const n = c.recvfrom(this.fd, this.buf, this.buf.length, C.MSG_DONTWAIT, null, null);
      if (n <= 0) return; // EAGAIN: nothing more queued
      const copy = new Uint8Array(this.buf.subarray(0, n));
      for (const s of this.subscribers) s(copy);
    }
  }

  close(): void {
    this.stopWatch();
    libc().close(this.fd);
  }
}

/** The VrrpHost of a Linux machine (or of the network namespace the process runs in). */
export class RawHost implements VrrpHost {
  private readonly vrrpSockets = new Map<string, SharedSocket>();
  private readonly arpSockets = new Map<string, SharedSocket>();
  /** Per interface: the IPv6 packet socket (VRRP and NS/NA in, NAs out). */
  private readonly ipv6Sockets = new Map<string, SharedSocket>();
  private netlinkFd: number | undefined;
  private seq = 1;

  link(name: string): LinkInfo | undefined {
    const index = libc().if_nametoindex(name);
    if (index === 0) return undefined;
    const mac = new Uint8Array(sysfs(name, 'address').split(':').map((h) => parseInt(h, 16) || 0));
    const up = this.isLinkUp(name);
    const all = networkInterfaces()[name] ?? [];
    const addresses = all.filter((a) => a.family === 'IPv4').map((a) => a.address);
    const v6 = all.filter((a) => a.family === 'IPv6').map((a) => canonicalIp(a.address.split('%')[0]!));
    const linkLocal = (a: string) => /^fe[89ab]/.test(a);
    return { name, index, mac: mac.length === 6 ? mac : new Uint8Array(6), addresses, addresses6: v6.filter((a) => !linkLocal(a)), linkLocal6: v6.find(linkLocal), up };
  }

  isLinkUp(name: string): boolean {
    const flags = parseInt(sysfs(name, 'flags'), 16) || 0;
    return (flags & 0x1) !== 0 && sysfs(name, 'carrier') === '1'; // IFF_UP and carrier
  }

  private ifindex(name: string): number {
    const index = libc().if_nametoindex(name);
    if (index === 0) throw new KubehaError('KUBEHA_ERR_VRRP_INTERFACE', `interface ${name} does not exist`, 'check `interface:` against `ip link`');
    return index;
  }

  openChannel(iface: string, src: string, onPacket: (packet: Uint8Array) => void): VrrpChannel {
    return familyOf(src) === 6 ? this.openChannel6(iface, src, onPacket) : this.openChannel4(iface, src, onPacket);
  }

  private openChannel4(iface: string, src: string, onPacket: (packet: Uint8Array) => void): VrrpChannel {
    const c = libc();
    const index = this.ifindex(iface);
    let shared = this.vrrpSockets.get(iface);
    if (!shared) {
      const fd = check(c.socket(C.AF_INET, C.SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, VRRP_PROTOCOL), 'socket(AF_INET, SOCK_RAW, 112)');
      try {
        const dev = Buffer.from(`${iface}\0`);
        check(c.setsockopt(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, dev, dev.length), `SO_BINDTODEVICE ${iface}`);
        const mreq = Buffer.alloc(12); // struct ip_mreqn: group, local address (any), ifindex
        mreq.set(ipv4ToBytes(VRRP_MULTICAST_GROUP), 0);
        mreq.writeInt32LE(index, 8);
        check(c.setsockopt(fd, C.IPPROTO_IP, C.IP_ADD_MEMBERSHIP, mreq, 12), `IP_ADD_MEMBERSHIP 224.0.0.18 on ${iface}`);
      } catch (err) {
        c.close(fd);
        throw err;
      }
      shared = new SharedSocket(fd);
      this.vrrpSockets.set(iface, shared);
    }
    const receiver = shared;
    receiver.subscribers.add(onPacket);

    // Non-blocking like the receiver (and keepalived's): a blocking sendto would wait whenever the
    // send buffer is full of packets the kernel has not let go of yet, and hold the VRRP thread's
    // timers with it. A send that would block fails at once and is counted
    // (kubeha_vrrp_advert_send_errors_total); the next advert follows on time.
    const fd = check(c.socket(C.AF_INET, C.SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, VRRP_PROTOCOL), 'socket(AF_INET, SOCK_RAW, 112)');
    try {
      const dev = Buffer.from(`${iface}\0`);
      check(c.setsockopt(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, dev, dev.length), `SO_BINDTODEVICE ${iface}`);
      const srcBytes = ipv4ToBytes(src);
      const bound = c.bind(fd, sockaddrIn(srcBytes), 16);
      if (bound < 0 && c.errno() === C.EADDRNOTAVAIL) {
        throw new KubehaError('KUBEHA_ERR_VRRP_INTERFACE', `cannot send VRRP from ${src}: the address is not on this host`, 'set unicastSrcIp to an address of the interface, or leave it out');
      }
      check(bound, `bind ${src}`);
      // RFC 5798 §5.1.1.3: TTL 255; keepalived also sets TOS 0xc0 (internetwork control).
      check(c.setsockopt(fd, C.IPPROTO_IP, C.IP_TTL, intOption(255), 4), 'IP_TTL');
      check(c.setsockopt(fd, C.IPPROTO_IP, C.IP_MULTICAST_TTL, intOption(255), 4), 'IP_MULTICAST_TTL');
      check(c.setsockopt(fd, C.IPPROTO_IP, C.IP_MULTICAST_LOOP, intOption(0), 4), 'IP_MULTICAST_LOOP');
      check(c.setsockopt(fd, C.IPPROTO_IP, C.IP_TOS, intOption(0xc0), 4), 'IP_TOS');
      const mreq = Buffer.alloc(12);
      mreq.set(srcBytes, 4);
      mreq.writeInt32LE(index, 8);
      check(c.setsockopt(fd, C.IPPROTO_IP, C.IP_MULTICAST_IF, mreq, 12), 'IP_MULTICAST_IF');
    } catch (err) {
      c.close(fd);
      receiver.subscribers.delete(onPacket);
      throw err;
    }
    let open = true;
    return {
      send(message, dst) {
        check(c.sendto(fd, message, message.length, 0, sockaddrIn(ipv4ToBytes(dst)), 16), `sendto ${dst}`);
      },
      close: () => {
        if (!open) return;
        open = false;
        c.close(fd);
        receiver.subscribers.delete(onPacket);
        if (receiver.subscribers.size === 0) {
          receiver.close();
          this.vrrpSockets.delete(iface);
        }
      },
    };
  }

  private openChannel6(iface: string, src: string, onPacket: (packet: Uint8Array) => void): VrrpChannel {
    const c = libc();
    const index = this.ifindex(iface);
    const receiver = this.ipv6Socket(iface);
    const onFrame = (frame: Uint8Array) => {
      if (frame[FRAME_NEXT_HEADER] === VRRP_PROTOCOL) onPacket(frame.subarray(14));
    };
    receiver.subscribers.add(onFrame);
    const scope = (ip: string) => (/^(fe[89ab]|ff02)/.test(ip) ? index : 0);
    // Non-blocking, as the IPv4 sender (see there).
    const fd = check(c.socket(C.AF_INET6, C.SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, VRRP_PROTOCOL), 'socket(AF_INET6, SOCK_RAW, 112)');
    try {
      const dev = Buffer.from(`${iface}\0`);
      check(c.setsockopt(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, dev, dev.length), `SO_BINDTODEVICE ${iface}`);
      // The sender reads nothing (the packet socket does): a filter that keeps nothing stops unicast
      // adverts to the bound address from queueing on it.
      check(c.attachFilter(fd, bpfProgram([[BPF.RET_K, 0, 0, 0]])), 'SO_ATTACH_FILTER');
      const bound = c.bind(fd, sockaddrIn6(ipv6ToBytes(src), scope(src)), 28);
      if (bound < 0 && c.errno() === C.EADDRNOTAVAIL) {
        throw new KubehaError('KUBEHA_ERR_VRRP_INTERFACE', `cannot send VRRP from ${src}: the address is not on ${iface}, or is still tentative (duplicate address detection has not finished)`,
          'set unicastSrcIp to an address of the interface, or leave it out; wait for the link-local address to become usable (`ip -6 addr show` without "tentative")');
      }
      check(bound, `bind ${src}`);
      // RFC 5798 §5.1.2.3: hop limit 255; keepalived also sets traffic class 0xc0, as for IPv4.
      check(c.setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_MULTICAST_HOPS, intOption(255), 4), 'IPV6_MULTICAST_HOPS');
      check(c.setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_UNICAST_HOPS, intOption(255), 4), 'IPV6_UNICAST_HOPS');
      check(c.setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_MULTICAST_LOOP, intOption(0), 4), 'IPV6_MULTICAST_LOOP');
      check(c.setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_MULTICAST_IF, intOption(index), 4), 'IPV6_MULTICAST_IF');
      check(c.setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_TCLASS, intOption(0xc0), 4), 'IPV6_TCLASS');
      const mreq = Buffer.alloc(20); // struct ipv6_mreq: group, ifindex
      mreq.set(ipv6ToBytes(VRRP_MULTICAST_GROUP6), 0);
      mreq.writeInt32LE(index, 16);
      check(c.setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_JOIN_GROUP, mreq, 20), `IPV6_JOIN_GROUP ff02::12 on ${iface}`);
    } catch (err) {
      c.close(fd);
      this.unsubscribe(this.ipv6Sockets, iface, onFrame);
      throw err;
    }
    let open = true;
    return {
      send(message, dst) {
        check(c.sendto(fd, message, message.length, 0, sockaddrIn6(ipv6ToBytes(dst), scope(dst)), 28), `sendto ${dst}`);
      },
      close: () => {
        if (!open) return;
        open = false;
        c.close(fd);
        this.unsubscribe(this.ipv6Sockets, iface, onFrame);
      },
    };
  }

  /** Removes a subscriber of a shared socket, and closes the socket after its last one. */
  private unsubscribe(sockets: Map<string, SharedSocket>, iface: string, subscriber: (data: Uint8Array) => void): void {
    const s = sockets.get(iface);
    if (!s) return;
    s.subscribers.delete(subscriber);
    if (s.subscribers.size > 0) return;
    s.close();
    sockets.delete(iface);
  }

  /** The interface's IPv6 packet socket: VRRP and NS/NA only (IPV6_FILTER), never our own frames. */
  private ipv6Socket(iface: string): SharedSocket {
    let s = this.ipv6Sockets.get(iface);
    if (s) return s;
    const c = libc();
    const index = this.ifindex(iface);
    const fd = check(c.socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, htons(C.ETH_P_IPV6)), 'socket(AF_PACKET, ETH_P_IPV6)');
    try {
      // The filter goes on before the bind, so that no unfiltered frame is ever queued.
      check(c.attachFilter(fd, IPV6_FILTER), 'SO_ATTACH_FILTER');
      check(c.setsockopt(fd, C.SOL_PACKET, C.PACKET_IGNORE_OUTGOING, intOption(1), 4), 'PACKET_IGNORE_OUTGOING');
      check(c.bind(fd, sockaddrLl(index, C.ETH_P_IPV6), 20), `bind packet socket to ${iface}`);
    } catch (err) {
      c.close(fd);
      throw err;
    }
    s = new SharedSocket(fd);
    this.ipv6Sockets.set(iface, s);
    return s;
  }

  /** Sends one RTM_NEWADDR / RTM_DELADDR and returns the kernel's errno (0 = done). */
  private netlinkAddress(type: number, iface: string, cidr: string): number {
    const c = libc();
    if (this.netlinkFd === undefined) {
      this.netlinkFd = check(c.socket(C.AF_NETLINK, C.SOCK_RAW | C.SOCK_CLOEXEC, C.NETLINK_ROUTE), 'socket(AF_NETLINK)');
    }
    const [ip = '', prefix] = cidr.split('/');
    const addr = ipToBytes(ip);
    const v6 = addr.length === 16;
    const attr = 4 + addr.length;
    const m = Buffer.alloc(16 + 8 + 2 * attr);
    m.writeUInt32LE(m.length, 0); // nlmsghdr
    m.writeUInt16LE(type, 4);
    m.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | (type === RTM_NEWADDR ? NLM_F_CREATE : 0), 6);
    m.writeUInt32LE(this.seq++, 8);
    m.writeUInt8(v6 ? C.AF_INET6 : C.AF_INET, 16); // ifaddrmsg: family, prefixlen, flags, scope, index
    m.writeUInt8(Number(prefix ?? (v6 ? 128 : 32)), 17);
    m.writeUInt8(v6 ? IFA_F_NODAD : 0, 18);
    m.writeUInt32LE(this.ifindex(iface), 20);
    m.writeUInt16LE(attr, 24); // rtattr IFA_LOCAL
    m.writeUInt16LE(IFA_LOCAL, 26);
    m.set(addr, 28);
    m.writeUInt16LE(attr, 24 + attr); // rtattr IFA_ADDRESS
    m.writeUInt16LE(IFA_ADDRESS, 26 + attr);
    m.set(addr, 28 + attr);
    const kernel = Buffer.alloc(12);
    kernel.writeUInt16LE(C.AF_NETLINK, 0);
    check(c.sendto(this.netlinkFd, m, m.length, 0, kernel, 12), 'netlink sendto');
    const reply = Buffer.alloc(1024);
    const n = check(c.recvfrom(this.netlinkFd, reply, reply.length, 0, null, null), 'netlink recv');
    if (n >= 20 && reply.readUInt16LE(4) === NLMSG_ERROR) return -reply.readInt32LE(16);
    return 0;
  }

  addAddress(iface: string, cidr: string): void {
    const err = this.netlinkAddress(RTM_NEWADDR, iface, cidr);
    if (err === 0 || err === C.EEXIST) return;
    if (err === C.EPERM || err === C.EACCES) check(-1, `add ${cidr} to ${iface}`); // throws the permission error
    throw new KubehaError('KUBEHA_ERR_VRRP_INTERFACE', `cannot add ${cidr} to ${iface}: ${libc().strerror(err)}`, 'check the VIP and the interface');
  }

  removeAddress(iface: string, cidr: string): boolean {
    const err = this.netlinkAddress(RTM_DELADDR, iface, cidr);
    if (err === 0) return true;
    if (err === C.EADDRNOTAVAIL || err === C.ENODEV) return false;
    throw new KubehaError('KUBEHA_ERR_VRRP_INTERFACE', `cannot remove ${cidr} from ${iface}: ${libc().strerror(err)}`, 'check the interface');
  }

  private arpSocket(iface: string): SharedSocket {
    let s = this.arpSockets.get(iface);
    if (s) return s;
    const c = libc();
    const index = this.ifindex(iface);
    const fd = check(c.socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, htons(C.ETH_P_ARP)), 'socket(AF_PACKET)');
    try {
      check(c.bind(fd, sockaddrLl(index, C.ETH_P_ARP), 20), `bind packet socket to ${iface}`);
    } catch (err) {
      c.close(fd);
      throw err;
    }
    s = new SharedSocket(fd);
    this.arpSockets.set(iface, s);
    return s;
  }

  sendFrame(iface: string, frame: Uint8Array): void {
    const ethertype = (frame[12]! << 8) | frame[13]!;
    const v6 = ethertype === C.ETH_P_IPV6;
    const s = v6 ? this.ipv6Socket(iface) : this.arpSocket(iface);
    const to = sockaddrLl(this.ifindex(iface), ethertype, frame.subarray(0, 6));
    check(libc().sendto(s.fd, frame, frame.length, 0, to, 20), `send ${v6 ? 'neighbour advertisement' : 'ARP'} on ${iface}`);
  }

  watchNeighbours(iface: string, family: 4 | 6, onFrame: (frame: Uint8Array) => void): () => void {
    if (family === 4) {
      const s = this.arpSocket(iface);
      s.subscribers.add(onFrame);
      return () => s.subscribers.delete(onFrame);
    }
    const onIcmp = (frame: Uint8Array) => {
      if (frame[FRAME_NEXT_HEADER] === ICMPV6) onFrame(frame);
    };
    this.ipv6Socket(iface).subscribers.add(onIcmp);
    return () => this.unsubscribe(this.ipv6Sockets, iface, onIcmp);
  }

  /** Closes every socket. */
  close(): void {
    for (const s of [...this.vrrpSockets.values(), ...this.arpSockets.values(), ...this.ipv6Sockets.values()]) s.close();
    this.vrrpSockets.clear();
    this.arpSockets.clear();
    this.ipv6Sockets.clear();
    if (this.netlinkFd !== undefined) libc().close(this.netlinkFd);
    this.netlinkFd = undefined;
  }
}
