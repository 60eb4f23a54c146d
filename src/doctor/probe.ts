// The network side of `kubeha doctor`: one HTTPS GET that records what the checks judge (the
// status, the served certificate, the peer's clock), the etcd calls, and a bounded listen for
// VRRP adverts on the VIP's segment; none of them throws. The judging is pure, in assess.ts.
import { request } from 'node:https';
import type { TLSSocket, PeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdClient, type EtcdTls } from '../election/etcd-client.js';
import { KubehaError } from '../errors.js';
import { AUTH_PASS_LENGTH, canonicalIp, isRejected, parsePacket, type ReceivedAdvert, type Rejected } from '../vrrp/packet.js';
import { RawHost } from '../vrrp/raw-host.js';
import type { VrrpChannel, VrrpHost } from '../vrrp/vrrp-host.js';
import type { EtcdObservation, HeardAdvert, VrrpObservation } from './assess.js';

/** The certificate a server presented, reduced to what the checks read. */
export interface ServedCert {
  /** SHA-256 fingerprint: tells apart the apiservers behind the VIP (TLS passes through an L4 LB). */
  fingerprint: string;
  subject: string;
  /** subjectAltName entries as `IP:10.0.0.1`, `DNS:kubernetes`. */
  sans: string[];
  notAfterMs: number;
  /** With a CA given: null when the chain verifies, else OpenSSL's reason. Undefined without a CA. */
  chainError?: string | null;
}

/** One GET over TLS, as seen from here. */
export interface HttpsObservation {
  target: string;
  /** Set when no HTTP answer came (refused, timeout, TLS failure). */
  error?: string;
  status?: number;
  body?: string;
  cert?: ServedCert;
  /** The peer's Date header (1 s resolution) and our clock halfway through the exchange. */
  peerDateMs?: number;
  localMidMs?: number;
  latencyMs?: number;
}

export interface ProbeOptions {
  timeoutMs: number;
  /** PEM CA bundle: when given, the chain is verified (and reported), the host name is not. */
  ca?: Buffer;
  /** Client certificate and key (apiservers that demand one for /readyz, etcd). */
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Node's `subjectaltname` text as a list: `DNS:name` and `IP:address`, IPv6 addresses in RFC 5952
 * text (Node prints them upper case and unabbreviated, `IP Address:FD00:8:4:0:0:0:0:55`).
 */
export function sansOf(subjectAltName: string): string[] {
  return subjectAltName
    .split(',')
    .map((s) => s.trim().replace(/^IP Address:/, 'IP:'))
    .map((s) => (s.startsWith('IP:') && s.includes(':', 3) ? `IP:${canonicalIp(s.slice(3))}` : s))
    .filter(Boolean);
}

function servedCert(socket: TLSSocket, hasCa: boolean): ServedCert | undefined {
  const c: PeerCertificate = socket.getPeerCertificate();
  if (!c || !c.fingerprint256) return undefined;
  const sans = sansOf(c.subjectaltname ?? '');
  return {
    fingerprint: c.fingerprint256,
    subject: c.subject?.CN ? `CN=${c.subject.CN}` : '',
    sans,
    notAfterMs: Date.parse(c.valid_to),
    ...(hasCa ? { chainError: socket.authorized ? null : String(socket.authorizationError ?? 'not verified') } : {}),
  };
}

/** GETs `https://host:port/path`; resolves with what happened, never rejects. */
export function httpsGet(host: string, port: number, path: string, o: ProbeOptions): Promise<HttpsObservation> {
  const target = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  const started = Date.now();
  const t0 = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (obs: Omit<HttpsObservation, 'target'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ target, ...obs });
    };
    const req = request({
      host, port, path, method: 'GET', agent: false,
      // Verification is reported, not enforced: a wrong certificate is a finding, not a reason to look away.
      rejectUnauthorized: false,
      ...(o.ca ? { ca: o.ca } : {}), ...(o.cert ? { cert: o.cert, key: o.key } : {}),
      headers: { accept: 'application/json, text/plain', connection: 'close' },
    }, (res) => {
      const cert = servedCert(res.socket as TLSSocket, o.ca !== undefined);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 64 * 1024) chunks.push(c);
      });
      res.on('end', () => {
        const latencyMs = performance.now() - t0;
        const date = res.headers.date ? Date.parse(res.headers.date) : NaN;
        finish({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          ...(cert ? { cert } : {}),
          ...(Number.isFinite(date) ? { peerDateMs: date, localMidMs: started + latencyMs / 2 } : {}),
          latencyMs,
        });
      });
      res.on('error', (err) => finish({ error: err.message }));
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish({ error: `no answer in ${o.timeoutMs} ms` });
    }, o.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish({ error: err.code ?? err.message }));
    req.end();
  });
}

/** Asks one etcd member (through its JSON gateway) for its status, the member list and the alarms. */
export async function probeEtcd(endpoint: string, tls: EtcdTls | undefined, timeoutMs: number): Promise<EtcdObservation> {
  let client: EtcdClient | undefined;
  try {
    client = new EtcdClient({ endpoints: [endpoint], ...(tls ? { tls } : {}), attemptTimeoutMs: timeoutMs });
    const status = await client.call<{ header?: { member_id?: string }; version?: string; dbSize?: string; leader?: string }>('/v3/maintenance/status', {}, timeoutMs);
    const list = await client.call<{ members?: { ID?: string; name?: string; clientURLs?: string[] }[] }>('/v3/cluster/member/list', {}, timeoutMs);
    const alarms = await client.call<{ alarms?: { alarm?: string }[] }>('/v3/maintenance/alarm', { action: 'GET' }, timeoutMs);
    return {
      endpoint,
      ...(status.header?.member_id ? { memberId: status.header.member_id } : {}),
      ...(status.leader ? { leaderId: status.leader } : {}),
      ...(status.version ? { version: status.version } : {}),
      dbSizeBytes: Number(status.dbSize ?? 0),
      members: (list.members ?? []).map((m) => ({ id: m.ID ?? '', name: m.name ?? '', clientURLs: m.clientURLs ?? [] })),
      alarms: (alarms.alarms ?? []).map((a) => a.alarm ?? 'NONE').filter((a) => a !== 'NONE'),
    };
  } catch (err) {
    // The client's message lists each attempt as "host:port: reason"; the first reason says enough.
    const msg = err instanceof Error ? err.message : String(err);
    const attempts = /failed within \d+ms: (.*)$/.exec(msg)?.[1];
    return { endpoint, error: attempts ? attempts.split('; ')[0]!.replace(/^[^ ]+?:\d+: /, '') : msg };
  } finally {
    client?.close();
  }
}

/**
 * Reads a received packet as an advert whatever password it carries: the doctor judges a v2
 * password (is it the inventory's?), it does not filter on it, so a foreign router is heard too.
 */
export function readAnyAdvert(p: Uint8Array): ReceivedAdvert | Rejected {
  const first = parsePacket(p);
  if (!isRejected(first) || first.rejected !== 'auth') return first;
  // RFC 3768 §5.3.6.1: auth_type 1 carries the password in the 8 bytes after the addresses.
  const at = (p[0]! & 0x0f) * 4;
  const end = at + 8 + 4 * (p[at + 3] ?? 0);
  const raw = p.subarray(end, end + AUTH_PASS_LENGTH);
  const nul = raw.indexOf(0);
  return parsePacket(p, { authPass: new TextDecoder().decode(nul < 0 ? raw : raw.subarray(0, nul)) });
}

/**
 * Listens on `iface` for `durationMs` through the VRRP transport (a raw socket for protocol 112
 * that joins 224.0.0.18 there; unicast adverts to this host arrive on it too) and returns every
 * sender and VRID heard. No permission, no such interface: a skip that says why, never a throw.
 */
export async function listenVrrp(iface: string, durationMs: number, host: VrrpHost = new RawHost()): Promise<VrrpObservation> {
  const heard = new Map<string, HeardAdvert>();
  const dropped: Record<string, number> = {};
  let channel: VrrpChannel | undefined;
  try {
    const link = host.link(iface);
    if (!link) return { interface: iface, verdict: 'skip', skipped: `this host has no interface ${iface}, so the VRRP check did not listen`, fix: 'run doctor on a host of the VIP\'s segment, or name its interface there with --vrrp-interface' };
    if (!link.up) return { interface: iface, verdict: 'warn', skipped: `${iface} is down (or has no carrier), so the VRRP check heard nothing`, fix: `ip link set ${iface} up, or name the VIP's segment with --vrrp-interface` };
    const src = link.addresses[0];
    if (!src) return { interface: iface, verdict: 'skip', skipped: `${iface} has no IPv4 address, so the VRRP check did not listen`, fix: 'name the interface on the VIP\'s segment with --vrrp-interface' };
    // The channel's sending socket is never used: the receiving one is what the doctor needs.
    channel = host.openChannel(iface, src, (p) => {
      const r = readAnyAdvert(p);
      if (isRejected(r)) {
        dropped[r.rejected] = (dropped[r.rejected] ?? 0) + 1;
        return;
      }
      const a = r.advert;
      const key = [r.ip.src, a.vrid, a.version, a.priority, a.advertIntervalCs, a.addresses.join(','), a.authPass].join('|');
      const seen = heard.get(key);
      if (seen) seen.count++;
      else heard.set(key, { src: r.ip.src, vrid: a.vrid, version: a.version, priority: a.priority, advertIntervalCs: a.advertIntervalCs, addresses: a.addresses, authPass: a.authPass, count: 1 });
    });
    await sleep(durationMs);
    return { interface: iface, listenedMs: durationMs, heard: [...heard.values()], dropped };
  } catch (err) {
    if (err instanceof KubehaError && err.code === 'KUBEHA_ERR_VRRP_PERMISSION') {
      return {
        interface: iface, verdict: 'warn',
        skipped: `the VRRP check was skipped: ${err.message} (listening for adverts takes a raw socket, which needs root or CAP_NET_RAW), so a foreign user of the VRID would go unnoticed`,
        fix: 'run doctor as root, or with CAP_NET_RAW (setpriv/capsh, AmbientCapabilities=CAP_NET_RAW); --no-vrrp skips the check',
      };
    }
    const why = err instanceof KubehaError ? err.message : err instanceof Error ? err.message : String(err);
    return { interface: iface, verdict: 'warn', skipped: `the VRRP check was skipped: ${why}`, fix: err instanceof KubehaError && err.hint ? err.hint : '--no-vrrp skips the check' };
  } finally {
    channel?.close();
    host.close();
  }
}
