// The few libc calls the VRRP driver needs (raw IP, packet and netlink sockets), bound through koffi.
// Loaded on first use, so importing kubeha never needs libc or koffi until VRRP actually runs.
import { createRequire } from 'node:module';
import { KubehaError } from '../errors.js';

// koffi is CommonJS with a native addon; createRequire keeps it out of the ESM graph until needed.
const require = createRequire(import.meta.url);

/** Linux constants (x86_64 and arm64 agree on all of these). */
export const C = {
  AF_UNIX: 1,
  AF_INET: 2,
  AF_INET6: 10,
  AF_NETLINK: 16,
  AF_PACKET: 17,
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_RAW: 3,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1,
  SO_RCVBUF: 8,
  SO_BINDTODEVICE: 25,
  SO_ATTACH_FILTER: 26,
  SO_RCVBUFFORCE: 33,
  IPPROTO_IP: 0,
  IPPROTO_TCP: 6,
  TCP_KEEPIDLE: 4,
  TCP_KEEPINTVL: 5,
  TCP_KEEPCNT: 6,
  TCP_USER_TIMEOUT: 18,
  TCP_MD5SIG: 14,
  IP_TOS: 1,
  IP_TTL: 2,
  IP_MULTICAST_IF: 32,
  IP_MULTICAST_TTL: 33,
  IP_MULTICAST_LOOP: 34,
  IP_ADD_MEMBERSHIP: 35,
  IPPROTO_IPV6: 41,
  IPV6_UNICAST_HOPS: 16,
  IPV6_MULTICAST_IF: 17,
  IPV6_MULTICAST_HOPS: 18,
  IPV6_MULTICAST_LOOP: 19,
  IPV6_JOIN_GROUP: 20,
  IPV6_TCLASS: 67,
  SOL_PACKET: 263,
  PACKET_IGNORE_OUTGOING: 23,
  NETLINK_ROUTE: 0,
  ETH_P_ARP: 0x0806,
  ETH_P_IPV6: 0x86dd,
  MSG_DONTWAIT: 0x40,
  EPERM: 1,
  EACCES: 13,
  EEXIST: 17,
  EADDRNOTAVAIL: 99,
  ENODEV: 19,
} as const;

/** The bound functions. Pointer arguments take Buffers, which koffi passes without copying. */
export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, length: number): number;
  /** SO_ATTACH_FILTER with a classic BPF program (8 bytes per instruction, as `struct sock_filter`). */
  attachFilter(fd: number, program: Buffer): number;
  bind(fd: number, addr: Buffer, length: number): number;
  sendto(fd: number, buf: Uint8Array, length: number, flags: number, addr: Buffer | null, addrLength: number): number;
  recvfrom(fd: number, buf: Buffer, length: number, flags: number, addr: Buffer | null, addrLength: Buffer | null): number;
  close(fd: number): number;
  if_nametoindex(name: string): number;
  strerror(errnum: number): string;
  errno(): number;
  /** Calls `onReadable` from the event loop whenever `fd` is readable (libuv poll); returns a stopper. */
  watch(fd: number, onReadable: () => void): () => void;
}

let bound: Libc | undefined;

/** The libc bindings; throws a KubehaError when koffi or libc cannot be loaded (not Linux). */
export function libc(): Libc {
  if (bound) return bound;
  // koffi's typings are loose; this module is the only place that touches them.
  let koffi: typeof import('koffi');
  try {
    koffi = require('koffi') as typeof import('koffi');
  } catch (err) {
    throw new KubehaError('KUBEHA_ERR_VRRP_UNSUPPORTED', `VRRP needs the koffi native module: ${(err as Error).message}`, 'reinstall with `npm ci` on Linux x86_64 or arm64');
  }
  const lib = koffi.load('libc.so.6');
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: koffi passes the Buffer's
  // memory as the pointer, and the kernel copies the program during the call.
  const fprog = koffi.struct('kubeha_sock_fprog', { len: 'uint16_t', filter: 'void *' });
  const f = {
    socket: lib.func('int socket(int, int, int)'),
    setsockoptFilter: lib.func('setsockopt', 'int', ['int', 'int', 'int', koffi.pointer(fprog), 'uint32_t']),
    setsockopt: lib.func('int setsockopt(int, int, int, const void *, uint32_t)'),
    bind: lib.func('int bind(int, const void *, uint32_t)'),
    sendto: lib.func('long sendto(int, const void *, unsigned long, int, const void *, uint32_t)'),
    recvfrom: lib.func('long recvfrom(int, void *, unsigned long, int, void *, void *)'),
    close: lib.func('int close(int)'),
    if_nametoindex: lib.func('unsigned int if_nametoindex(const char *)'),
    strerror: lib.func('const char *strerror(int)'),
  };
  bound = {
    socket: (d, t, p) => f.socket(d, t, p) as number,
    setsockopt: (fd, l, n, v, len) => f.setsockopt(fd, l, n, v, len) as number,
    attachFilter: (fd, program) => f.setsockoptFilter(fd, C.SOL_SOCKET, C.SO_ATTACH_FILTER, { len: program.length / 8, filter: program }, 16) as number,
    bind: (fd, a, len) => f.bind(fd, a, len) as number,
    sendto: (fd, b, len, fl, a, alen) => Number(f.sendto(fd, b, len, fl, a, alen)),
    recvfrom: (fd, b, len, fl, a, alen) => Number(f.recvfrom(fd, b, len, fl, a, alen)),
    close: (fd) => f.close(fd) as number,
    if_nametoindex: (name) => f.if_nametoindex(name) as number,
    strerror: (e) => f.strerror(e) as string,
    errno: () => koffi.errno(),
    watch(fd, onReadable) {
      const handle = koffi.node.poll(fd, { readable: true }, () => onReadable());
      return () => handle.close();
    },
  };
  return bound;
}

/** An OS error from a libc call, with errno and its text. */
export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${libc().strerror(errno)} (errno ${errno})`);
    this.name = 'SyscallError';
  }
}

/** Throws a SyscallError when a libc call returned -1; the permission errors become a KubehaError that says what to grant. */
export function check(result: number, call: string): number {
  if (result >= 0) return result;
  const e = libc().errno();
  if (e === C.EPERM || e === C.EACCES) {
    throw new KubehaError(
      'KUBEHA_ERR_VRRP_PERMISSION',
      `${call}: operation not permitted`,
      'VRRP needs CAP_NET_RAW (raw and packet sockets) and CAP_NET_ADMIN (addresses): run as root, add AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN to the systemd unit, or `setcap cap_net_raw,cap_net_admin+ep` on node',
    );
  }
  throw new SyscallError(call, e);
}

/** A 16-byte `struct sockaddr_in` for `ip` (port 0). */
export function sockaddrIn(ip: Uint8Array): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(C.AF_INET, 0);
  b.set(ip, 4);
  return b;
}

/** A 28-byte `struct sockaddr_in6` for `ip` (port 0); `scopeId` is the interface index a link-local address needs. */
export function sockaddrIn6(ip: Uint8Array, scopeId = 0): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(C.AF_INET6, 0);
  b.set(ip, 8);
  b.writeUInt32LE(scopeId, 24);
  return b;
}

/** One classic BPF instruction (`struct sock_filter`): opcode, jump-if-true, jump-if-false, operand. */
export type BpfInstruction = [code: number, jt: number, jf: number, k: number];

/** A classic BPF program as SO_ATTACH_FILTER takes it. */
export function bpfProgram(instructions: BpfInstruction[]): Buffer {
  const b = Buffer.alloc(8 * instructions.length);
  instructions.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, 8 * i);
    b.writeUInt8(jt, 8 * i + 2);
    b.writeUInt8(jf, 8 * i + 3);
    b.writeUInt32LE(k >>> 0, 8 * i + 4);
  });
  return b;
}

/** Classic BPF opcodes (linux/filter.h). */
export const BPF = {
  /** Load the byte at an absolute offset into A. */
  LDB_ABS: 0x30,
  /** Jump on A == k. */
  JEQ_K: 0x15,
  /** Return k (bytes of the packet to keep; 0 drops it). */
  RET_K: 0x06,
} as const;

/** A 4-byte int option value. */
export function intOption(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return b;
}

/** A 20-byte `struct sockaddr_ll` for interface `ifindex`, protocol `proto`, and optional hardware address. */
export function sockaddrLl(ifindex: number, proto: number, mac?: Uint8Array): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16LE(C.AF_PACKET, 0);
  b.writeUInt16BE(proto, 2);
  b.writeInt32LE(ifindex, 4);
  if (mac) {
    b.writeUInt8(mac.length, 11);
    b.set(mac, 12);
  }
  return b;
}

/** The descriptor of a Node socket or server (Node keeps it on its internal handle; there is no public accessor), or undefined. */
export function descriptorOf(handleOwner: object): number | undefined {
  const fd = (handleOwner as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
