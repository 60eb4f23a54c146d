// The socket options a BGP session needs and Node has no API for: TCP MD5 signatures (RFC 2385) and
// the IP TTL (eBGP multihop). Set through libc on the descriptor; an active session's socket is
// created here so the MD5 key is in place before the SYN.
import { Socket, type Server } from 'node:net';
import { C, check, descriptorOf, intOption, libc, sockaddrIn } from '../vrrp/libc.js';
import { ipv4ToBytes } from '../vrrp/packet.js';

/** Linux `struct tcp_md5sig`: sockaddr_storage (128), flags, prefixlen, keylen (u16), ifindex (int), key[80]. */
function md5sig(peer: string, key: string): Buffer {
  const b = Buffer.alloc(216);
  b.writeUInt16LE(C.AF_INET, 0);
  b.set(ipv4ToBytes(peer), 4);
  const k = Buffer.from(key);
  b.writeUInt16LE(k.length, 130);
  k.copy(b, 136);
  return b;
}

/** Sets (or with '' clears) the MD5 key for `peer` on a descriptor. */
function setMd5(fd: number, peer: string, key: string): void {
  const v = md5sig(peer, key);
  check(libc().setsockopt(fd, C.IPPROTO_TCP, C.TCP_MD5SIG, v, v.length), `setsockopt TCP_MD5SIG for ${peer}`);
}

/** A TCP socket, not yet connected, with the MD5 key for `peer`, the TTL, and bound to `localAddress` when given. */
export function bgpSocket(opts: { peer: string; password: string; ttl: number; localAddress?: string }): Socket {
  const c = libc();
  const fd = check(c.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0), 'socket');
  try {
    if (opts.password) setMd5(fd, opts.peer, opts.password);
    check(c.setsockopt(fd, C.IPPROTO_IP, C.IP_TTL, intOption(opts.ttl), 4), 'setsockopt IP_TTL');
    if (opts.localAddress) check(c.bind(fd, sockaddrIn(ipv4ToBytes(opts.localAddress)), 16), `bind ${opts.localAddress}`);
  } catch (err) {
    c.close(fd);
    throw err;
  }
  return new Socket({ fd, readable: true, writable: true });
}

/** Sets the TTL on an accepted session's socket. */
export function setTtl(socket: Socket, ttl: number): void {
  const fd = descriptorOf(socket);
  if (fd !== undefined) check(libc().setsockopt(fd, C.IPPROTO_IP, C.IP_TTL, intOption(ttl), 4), 'setsockopt IP_TTL');
}

/** Installs the MD5 key of each passive peer on the listening socket (accepted connections inherit them). */
export function setListenerMd5(server: Server, keys: { peer: string; password: string }[]): void {
  const fd = descriptorOf(server);
  if (fd === undefined) return;
  for (const k of keys) setMd5(fd, k.peer, k.password);
}
