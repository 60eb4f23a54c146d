// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. Node has no AF_UNIX datagram
// sockets, so it goes through the libc bindings VRRP already loads (koffi).
import { C, libc } from './vrrp/libc.js';

/**
 * Sends `state` (`READY=1`, `MAINPID=1234\nREADY=1`, ...) to systemd when it started us with
 * Type=notify; a no-op elsewhere. Returns whether a datagram was sent. Never throws: a daemon that
 * cannot notify still serves (systemd then times the start out and says so).
 */
export function sdNotify(state: string, socketPath = process.env.NOTIFY_SOCKET): boolean {
  if (!socketPath || (socketPath[0] !== '/' && socketPath[0] !== '@')) return false;
  try {
    const c = libc();
    // struct sockaddr_un: sun_family, then sun_path; a leading '@' is the abstract namespace (a NUL).
    const path = Buffer.from(socketPath[0] === '@' ? `\0${socketPath.slice(1)}` : socketPath);
    if (path.length > 107) return false;
    const addr = Buffer.alloc(2 + path.length + (socketPath[0] === '@' ? 0 : 1));
    addr.writeUInt16LE(C.AF_UNIX, 0);
    path.copy(addr, 2);
    const fd = c.socket(C.AF_UNIX, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const msg = Buffer.from(state);
    const sent = c.sendto(fd, msg, msg.length, 0, addr, addr.length);
    c.close(fd);
    return sent === msg.length;
  } catch {
    return false;
  }
}
