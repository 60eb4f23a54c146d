// The real VrrpHost: raw IP sockets for VRRP, rtnetlink for the VIPs, a packet socket for ARP, all
// through koffi. Sockets are non-blocking and read from the event loop (libuv poll), so the thread
// that runs VRRP never blocks on the wire.
//
// Two sockets per instance, as keepalived has: a sending one bound to the primary address (never
// the VIP) with TTL 255, and one receiving socket per interface, unbound, that joins 224.0.0.18 on
// that interface (a bound raw socket does not see multicast).
import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import { KubehaError } from '../errors.js';
import { C, check, intOption, libc, sockaddrIn, sockaddrLl } from './libc.js';
import { ipv4ToBytes, VRRP_MULTICAST_GROUP, VRRP_PROTOCOL } from './packet.js';
import type { LinkInfo, VrrpChannel, VrrpHost } from './vrrp-host.js';

const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLMSG_ERROR = 2;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
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
  private netlinkFd: number | undefined;
  private seq = 1;

  link(name: string): LinkInfo | undefined {
    const index = libc().if_nametoindex(name);
    if (index === 0) return undefined;
    const mac = new Uint8Array(sysfs(name, 'address').split(':').map((h) => parseInt(h, 16) || 0));
    const up = this.isLinkUp(name);
    const addresses = (networkInterfaces()[name] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address);
    return { name, index, mac: mac.length === 6 ? mac : new Uint8Array(6), addresses, up };
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

  /** Sends one RTM_NEWADDR / RTM_DELADDR and returns the kernel's errno (0 = done). */
  private netlinkAddress(type: number, iface: string, cidr: string): number {
    const c = libc();
    if (this.netlinkFd === undefined) {
      this.netlinkFd = check(c.socket(C.AF_NETLINK, C.SOCK_RAW | C.SOCK_CLOEXEC, C.NETLINK_ROUTE), 'socket(AF_NETLINK)');
    }
    const [ip = '', prefix = '32'] = cidr.split('/');
    const addr = ipv4ToBytes(ip);
    const m = Buffer.alloc(16 + 8 + 8 + 8);
    m.writeUInt32LE(m.length, 0); // nlmsghdr
    m.writeUInt16LE(type, 4);
    m.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | (type === RTM_NEWADDR ? NLM_F_CREATE : 0), 6);
    m.writeUInt32LE(this.seq++, 8);
    m.writeUInt8(C.AF_INET, 16); // ifaddrmsg: family, prefixlen, flags, scope, index
    m.writeUInt8(Number(prefix), 17);
    m.writeUInt32LE(this.ifindex(iface), 20);
    m.writeUInt16LE(8, 24); // rtattr IFA_LOCAL
    m.writeUInt16LE(IFA_LOCAL, 26);
    m.set(addr, 28);
    m.writeUInt16LE(8, 32); // rtattr IFA_ADDRESS
    m.writeUInt16LE(IFA_ADDRESS, 34);
    m.set(addr, 36);
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
    const proto = ((C.ETH_P_ARP & 0xff) << 8) | (C.ETH_P_ARP >> 8); // htons
    const fd = check(c.socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, proto), 'socket(AF_PACKET)');
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
    const s = this.arpSocket(iface);
    const to = sockaddrLl(this.ifindex(iface), C.ETH_P_ARP, frame.subarray(0, 6));
    check(libc().sendto(s.fd, frame, frame.length, 0, to, 20), `send ARP on ${iface}`);
  }

  watchArp(iface: string, onFrame: (frame: Uint8Array) => void): () => void {
    const s = this.arpSocket(iface);
    s.subscribers.add(onFrame);
    return () => s.subscribers.delete(onFrame);
  }

  /** Closes every socket. */
  close(): void {
    for (const s of [...this.vrrpSockets.values(), ...this.arpSockets.values()]) s.close();
    this.vrrpSockets.clear();
    this.arpSockets.clear();
    if (this.netlinkFd !== undefined) libc().close(this.netlinkFd);
    this.netlinkFd = undefined;
  }
}
