import type { Socket } from 'node:net';
import { C, descriptorOf, intOption, libc } from '../vrrp/libc.js';

/**
 * Bounds how long a connection may stay up while its peer has vanished (a host powered off, a
 * partition): TCP_USER_TIMEOUT (RFC 5482; Linux aborts once sent data or keepalive probes have gone
 * unacknowledged for this long, instead of retransmitting for ~15 minutes) and keepalive probes
 * from half of it, one a second, so an idle watch is probed too. Node has no API for either
 * option, so they are set on the socket's descriptor through libc (loaded only by backends that
 * ask for it). Returns false when the descriptor or the call is not available.
 */
export function boundDeadPeer(socket: Socket, timeoutMs: number): boolean {
  const fd = descriptorOf(socket);
  if (fd === undefined) return false;
  const c = libc();
  const set = (name: number, value: number) => c.setsockopt(fd, C.IPPROTO_TCP, name, intOption(value), 4) === 0;
  socket.setKeepAlive(true, Math.max(1000, Math.floor(timeoutMs / 2)));
  return set(C.TCP_USER_TIMEOUT, Math.round(timeoutMs)) && set(C.TCP_KEEPINTVL, 1) && set(C.TCP_KEEPCNT, Math.max(1, Math.ceil(timeoutMs / 1000)));
}
