import { isIP } from 'node:net';

/** A parsed `host:port`; `host` has no brackets, even for IPv6. */
export interface HostPort {
  host: string;
  port: number;
}

/** The admin server a config without an `admin` section gets: loopback only, so `kubeha status` works. */
export const IMPLICIT_ADMIN_BIND = '127.0.0.1:9000';

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Parses `host:port`, `[v6]:port` or `v4:port`. Port 0 is accepted only when `allowPortZero`
 * (a listener that lets the kernel pick, handy for tests and shown in /api/v1/state).
 */
/** The host part of a frontend's bind (`10.8.4.55:6443` → `10.8.4.55`); the text itself when it does not parse. */
export function bindHost(bind: string): string {
  const hp = parseHostPort(bind, true);
  return typeof hp === 'string' ? bind : hp.host;
}

export function parseHostPort(text: string, allowPortZero = false): HostPort | string {
  const s = text.trim();
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || s[close + 1] !== ':') return 'an IPv6 address needs brackets and a port, like [::1]:6443';
    host = s.slice(1, close);
    portText = s.slice(close + 2);
    if (isIP(host) !== 6) return `"${host}" is not an IPv6 address`;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) return 'no port: write host:port, like 10.8.4.91:6443';
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) return 'an IPv6 address needs brackets, like [fd00::1]:6443';
    if (isIP(host) === 0 && !HOSTNAME.test(host)) return `"${host}" is neither an IP address nor a host name`;
  }
  if (!/^\d{1,5}$/.test(portText)) return `"${portText}" is not a port number`;
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !allowPortZero)) return `port ${port} is out of range 1-65535`;
  return { host, port };
}

/** Formats a host and port back to `host:port` (`[v6]:port` for IPv6). */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** True for addresses that only this host can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** An IPv4 address with a prefix, `10.8.4.55/24`; without `/prefix` only when `prefixOptional` (then /32). */
export function parseIpv4Cidr(text: string, prefixOptional = false): { ip: string; prefix: number } | undefined {
  const [ip = '', prefixText, ...rest] = text.split('/');
  if (rest.length > 0 || isIP(ip) !== 4) return undefined;
  if (prefixText === undefined) return prefixOptional ? { ip, prefix: 32 } : undefined;
  if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) return undefined;
  return { ip, prefix: Number(prefixText) };
}

/** An IPv4 or IPv6 address with a prefix (`10.8.4.55/24`, `fd00:8:4::55/64`), with its family; undefined for anything else. */
export function parseCidr(text: string): { ip: string; prefix: number; family: 4 | 6 } | undefined {
  const v4 = parseIpv4Cidr(text);
  if (v4) return { ...v4, family: 4 };
  const [ip = '', prefixText, ...rest] = text.split('/');
  if (rest.length > 0 || isIP(ip) !== 6 || prefixText === undefined || !/^\d{1,3}$/.test(prefixText) || Number(prefixText) > 128) return undefined;
  return { ip, prefix: Number(prefixText), family: 6 };
}

/** An IPv4 address as an unsigned 32-bit number. */
function ipv4Number(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** Whether IPv4 `ip` lies in `network/prefix`. */
export function inSubnet(ip: string, network: string, prefix: number): boolean {
  const size = 2 ** (32 - prefix);
  return Math.floor(ipv4Number(ip) / size) === Math.floor(ipv4Number(network) / size);
}
