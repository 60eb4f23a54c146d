// The network side of `kubeha doctor`: one HTTPS GET that records what the checks judge (the
// status, the served certificate, the peer's clock) and never throws. The judging is pure, in
// assess.ts.
import { request } from 'node:https';
import type { TLSSocket, PeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import { EtcdClient, type EtcdTls } from '../election/etcd-client.js';
import type { EtcdObservation } from './assess.js';

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

function servedCert(socket: TLSSocket, hasCa: boolean): ServedCert | undefined {
  const c: PeerCertificate = socket.getPeerCertificate();
  if (!c || !c.fingerprint256) return undefined;
  const sans = (c.subjectaltname ?? '')
    .split(',')
    .map((s) => s.trim().replace(/^IP Address:/, 'IP:'))
    .filter(Boolean);
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
