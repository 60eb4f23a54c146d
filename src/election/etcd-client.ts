// A small client for etcd's JSON gateway (/v3/kv, /v3/lease, /v3/watch), enough for elections.
// Every call has a deadline and moves to the next endpoint when one does not answer in time; int64
// fields stay strings (lease IDs exceed 2^53). See docs/architecture.md for why not the etcd3 package.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { KubehaError } from '../errors.js';

/** TLS material for https endpoints (etcdctl's --cacert, --cert, --key). */
export interface EtcdTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** Options of an {@link EtcdClient}. */
export interface EtcdClientOptions {
  endpoints: string[];
  tls?: EtcdTls;
  /** The longest one attempt on one endpoint may take before the next endpoint is tried. */
  attemptTimeoutMs?: number;
}

/** A key-value as the gateway returns it, decoded. */
export interface EtcdKv {
  key: string;
  value: string;
  createRevision: bigint;
  modRevision: bigint;
  lease: string;
}

/** A watch event. */
export interface EtcdEvent {
  type: 'PUT' | 'DELETE';
  kv: EtcdKv;
}

/** An etcd call that failed on every endpoint within its deadline. */
export class EtcdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EtcdError';
  }
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

/** The range end that selects every key starting with `prefix` (etcd's "prefix" semantics). */
export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i] = end[i]! + 1;
      return end.toString('base64');
    }
  }
  return b64('\0');
}

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

function decodeKv(kv: RawKv): EtcdKv {
  return {
    key: unb64(kv.key),
    value: unb64(kv.value),
    createRevision: BigInt(kv.create_revision ?? '0'),
    modRevision: BigInt(kv.mod_revision ?? '0'),
    lease: kv.lease ?? '0',
  };
}

/** The gateway client. */
export class EtcdClient {
  readonly endpoints: URL[];
  private preferred = 0;
  private readonly attemptTimeoutMs: number;
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent: HttpsAgent | undefined;

  constructor(opts: EtcdClientOptions) {
    if (opts.endpoints.length === 0) throw new KubehaError('KUBEHA_ERR_USAGE', 'no etcd endpoints', 'give --etcd http(s)://host:2379[,...]');
    this.endpoints = opts.endpoints.map((e) => {
      try {
        return new URL(e);
      } catch {
        throw new KubehaError('KUBEHA_ERR_USAGE', `etcd endpoint "${e}" is not a URL`, 'write it as http://10.0.0.1:2379 or https://...');
      }
    });
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 1000;
    if (this.endpoints.some((u) => u.protocol === 'https:')) {
      const t = opts.tls ?? {};
      const read = (f: string | undefined) => (f ? readFileSync(f) : undefined);
      this.httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 8, ca: read(t.caFile), cert: read(t.certFile), key: read(t.keyFile) });
    }
  }

  /** Closes idle connections. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent?.destroy();
  }

  private send(url: URL, path: string, body: unknown, timeoutMs: number): Promise<{ status: number; res: IncomingMessage }> {
    return new Promise((resolve, reject) => {
      const https = url.protocol === 'https:';
      const req = (https ? httpsRequest : httpRequest)(new URL(path, url), {
        method: 'POST',
        agent: https ? this.httpsAgent : this.httpAgent,
        headers: { 'content-type': 'application/json' },
      }, (res) => resolve({ status: res.statusCode ?? 0, res }));
      const timer = setTimeout(() => req.destroy(new Error(`no answer in ${timeoutMs}ms`)), timeoutMs);
      req.on('response', () => clearTimeout(timer));
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(JSON.stringify(body));
    });
  }

  /**
   * POSTs `body` to `path`, endpoint after endpoint, until one answers or `deadlineMs` has passed.
   * An answer with an etcd error (a 4xx with a message) is not retried elsewhere.
   */
  async call<T>(path: string, body: unknown, deadlineMs = 3000): Promise<T> {
    const end = performance.now() + deadlineMs;
    const errors: string[] = [];
    for (let attempt = 0; attempt < this.endpoints.length * 3; attempt++) {
      const left = end - performance.now();
      if (left <= 0) break;
      const index = (this.preferred + attempt) % this.endpoints.length;
      const url = this.endpoints[index]!;
      try {
        const { status, res } = await this.send(url, path, body, Math.min(left, this.attemptTimeoutMs));
        const text = await readBody(res, end - performance.now());
        if (status >= 500 || status === 0) throw new Error(`HTTP ${status}: ${text.slice(0, 200)}`);
        const parsed = JSON.parse(text) as T & { error?: string; message?: string };
        if (status >= 400) throw new EtcdError(`${url.host}${path}: ${parsed.message ?? parsed.error ?? text}`);
        this.preferred = index;
        return parsed;
      } catch (err) {
        if (err instanceof EtcdError) throw err;
        errors.push(`${url.host}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    throw new EtcdError(`${path} failed within ${deadlineMs}ms: ${errors.join('; ') || 'deadline passed'}`);
  }

  /** Grants a lease of `ttlS` seconds; returns its ID (a decimal string). */
  async grant(ttlS: number, deadlineMs?: number): Promise<{ id: string; ttlS: number }> {
    const r = await this.call<{ ID: string; TTL: string }>('/v3/lease/grant', { TTL: ttlS }, deadlineMs);
    return { id: r.ID, ttlS: Number(r.TTL) };
  }

  /** Renews a lease once; returns the TTL granted (0 = the lease no longer exists). */
  async keepAlive(id: string, deadlineMs?: number): Promise<number> {
    const r = await this.call<{ result?: { TTL?: string } }>('/v3/lease/keepalive', { ID: id }, deadlineMs);
    return Number(r.result?.TTL ?? 0);
  }

  /** Revokes a lease (its keys go with it). */
  async revoke(id: string, deadlineMs?: number): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id }, deadlineMs);
  }

  /** Creates `key` attached to `lease` unless it exists; returns the key as stored either way. */
  async createIfAbsent(key: string, value: string, lease: string, deadlineMs?: number): Promise<{ created: boolean; revision: bigint; kv: EtcdKv | undefined }> {
    const k = b64(key);
    const r = await this.call<{ succeeded?: boolean; header: { revision: string }; responses?: { response_range?: { kvs?: RawKv[] } }[] }>('/v3/kv/txn', {
      compare: [{ key: k, target: 'CREATE', create_revision: '0' }],
      success: [{ request_put: { key: k, value: b64(value), lease } }],
      failure: [{ request_range: { key: k } }],
    }, deadlineMs);
    const revision = BigInt(r.header.revision);
    if (r.succeeded) return { created: true, revision, kv: { key, value, createRevision: revision, modRevision: revision, lease } };
    const kv = r.responses?.[0]?.response_range?.kvs?.[0];
    return { created: false, revision, kv: kv ? decodeKv(kv) : undefined };
  }

  /** Every key under `prefix`, oldest creation first, and the store's revision. */
  async rangePrefix(prefix: string, deadlineMs?: number): Promise<{ kvs: EtcdKv[]; revision: bigint }> {
    const r = await this.call<{ header: { revision: string }; kvs?: RawKv[] }>('/v3/kv/range', {
      key: b64(prefix), range_end: prefixEnd(prefix), sort_order: 'ASCEND', sort_target: 'CREATE',
    }, deadlineMs);
    return { kvs: (r.kvs ?? []).map(decodeKv), revision: BigInt(r.header.revision) };
  }

  /** Deletes one key. */
  async delete(key: string, deadlineMs?: number): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) }, deadlineMs);
  }

  /** Puts `key` only if its mod revision is still `modRevision` (0 = absent); returns whether it did. */
  async putIf(key: string, value: string, compare: { target: 'VALUE'; value: string } | { target: 'MOD'; modRevision: bigint }, deadlineMs?: number): Promise<boolean> {
    const k = b64(key);
    const cmp = compare.target === 'VALUE'
      ? { key: k, target: 'VALUE', result: 'EQUAL', value: b64(compare.value) }
      : { key: k, target: 'MOD', result: 'EQUAL', mod_revision: compare.modRevision.toString() };
    const r = await this.call<{ succeeded?: boolean }>('/v3/kv/txn', { compare: [cmp], success: [{ request_put: { key: k, value: b64(value) } }] }, deadlineMs);
    return !!r.succeeded;
  }

  /**
   * Watches every key under `prefix` from `fromRevision` until `signal` aborts or the stream ends
   * (the promise then resolves; the caller re-ranges and watches again). One endpoint, the preferred.
   */
  async watchPrefix(prefix: string, fromRevision: bigint, onEvents: (events: EtcdEvent[]) => void, signal: AbortSignal): Promise<void> {
    const url = this.endpoints[this.preferred]!;
    const https = url.protocol === 'https:';
    await new Promise<void>((resolve) => {
      const req = (https ? httpsRequest : httpRequest)(new URL('/v3/watch', url), {
        method: 'POST', agent: false, signal,
        headers: { 'content-type': 'application/json' },
        ...(https ? { ca: this.httpsAgent?.options.ca, cert: this.httpsAgent?.options.cert, key: this.httpsAgent?.options.key } : {}),
      }, (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            try {
              const msg = JSON.parse(line) as { result?: { events?: { type?: string; kv: RawKv }[] } };
              const events = msg.result?.events;
              if (events?.length) onEvents(events.map((e) => ({ type: e.type === 'DELETE' ? 'DELETE' : 'PUT', kv: decodeKv(e.kv) })));
            } catch {
              // a partial or unexpected line: the caller's periodic re-range covers anything missed
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      req.end(JSON.stringify({ create_request: { key: b64(prefix), range_end: prefixEnd(prefix), start_revision: fromRevision.toString() } }));
    });
  }
}

function readBody(res: IncomingMessage, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      res.destroy();
      reject(new Error('body not received in time'));
    }, Math.max(1, timeoutMs));
    res.setEncoding('utf8');
    res.on('data', (d: string) => (text += d));
    res.on('end', () => {
      clearTimeout(timer);
      resolve(text);
    });
    res.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
