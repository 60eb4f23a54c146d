import { request, type RequestOptions } from 'node:https';
import type { Clock, Timer } from '../clock.js';
import { parseHostPort } from '../config/address.js';
import type { Logger } from '../observe/logger.js';
import { EndpointObjects, parseWatchLine, serversFor, type DiscoveredServer } from './endpoint-list.js';
import { apiserverIdentity, readKubeconfig, type KubeCredentials } from './kubeconfig.js';
import type { DiscoveredList } from './server-list.js';

/** The three ways to read the `kubernetes` service's endpoints, newest first; a 404 (or 403) moves to the next. */
const APIS = [
  { kind: 'endpointslices', name: 'discovery.k8s.io/v1', path: '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes' },
  { kind: 'endpointslices', name: 'discovery.k8s.io/v1beta1', path: '/apis/discovery.k8s.io/v1beta1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes' },
  { kind: 'endpoints', name: 'v1 endpoints', path: '/api/v1/namespaces/default/endpoints?fieldSelector=metadata.name%3Dkubernetes' },
] as const;
type Api = (typeof APIS)[number];

const CONNECT_TIMEOUT_MS = 3000;
const LIST_TIMEOUT_MS = 10_000;
const MAX_LIST_BYTES = 4 * 1024 * 1024;
/** Watches end on the server side after this long (plus jitter), so a silently dead one is also replaced. */
const WATCH_SECONDS = 60;
/** No byte for this long on a watch (bookmarks come at least once a minute) means it is dead. */
const WATCH_SILENCE_MS = (WATCH_SECONDS + 30) * 1000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 8000;

/** What a {@link KubeDiscovery} needs from the daemon. */
export interface KubeDiscoveryOptions {
  backend: string;
  kubeconfig: string;
  /** Replaces the port the API lists (`discovery.kubernetes.port`). */
  port: number | undefined;
  list: DiscoveredList;
  bootstrap: DiscoveredServer[];
  /** Addresses (`host:port`) to reach the API through, best first: the backend's usable servers, then the rest. */
  candidates: () => string[];
  clock: Clock;
  log: Logger;
  rng?: () => number;
}

class HttpStatusError extends Error {
  constructor(readonly status: number, body: string) {
    super(`HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`);
  }
}

/**
 * Keeps a backend's server list in step with the `default/kubernetes` endpoints: list, then watch
 * from the list's resourceVersion (with bookmarks, so a resumed watch rarely needs a new list), list
 * again on 410 Gone, and on any failure try the next apiserver after a backoff with jitter. It talks
 * to the apiservers directly (the backend's own servers), never through the node-local frontend
 * that depends on it.
 */
export class KubeDiscovery {
  private stopped = false;
  private abort: AbortController | undefined;
  private sleepTimer: Timer | undefined;
  private wake: (() => void) | undefined;
  private objects: EndpointObjects | undefined;
  private api: Api | undefined;
  private candidateIndex = 0;
  private backoffMs = BACKOFF_MIN_MS;
  private readonly rng: () => number;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: KubeDiscoveryOptions) {
    this.rng = opts.rng ?? Math.random;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the watch; resolves once the loop has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.sleepTimer?.cancel();
    this.wake?.();
    this.opts.list.stop();
    await this.loop;
  }

  /** The pool marked `address` down: a watch through it is moved to another apiserver now. */
  serverDown(address: string): void {
    if (this.opts.list.stats.via === address) this.abort?.abort(new Error(`${address} was marked down`));
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const target = this.nextTarget();
      if (!target) {
        this.opts.list.failed('no apiserver address to reach the API through');
        await this.sleep();
        continue;
      }
      this.abort = new AbortController();
      const signal = this.abort.signal;
      try {
        const creds = await readKubeconfig(this.opts.kubeconfig);
        this.opts.list.stats.via = target;
        if (!this.objects || !this.api) await this.list(target, creds, signal);
        this.backoffMs = BACKOFF_MIN_MS; // a list worked: the next failure starts the backoff afresh
        await this.watch(target, creds, signal);
      } catch (err) {
        if (this.stopped) break;
        const message = signal.aborted && signal.reason instanceof Error ? signal.reason.message : err instanceof Error ? err.message : String(err);
        this.opts.list.failed(`${target}: ${message}`);
        this.opts.log.warn({ event: 'discovery-error', backend: this.opts.backend, via: target, error: message }, `backend ${this.opts.backend}: discovery through ${target} failed (${message}); trying the next apiserver [KUBEHA_ERR_DISCOVERY]`);
        this.opts.list.stats.via = null;
        this.candidateIndex++;
        await this.sleep();
      }
    }
  }

  /** The address to try now: the candidates in turn, the bootstrap list and the kubeconfig's server after them. */
  private nextTarget(): string | undefined {
    const all = [...new Set([...this.opts.candidates(), ...this.opts.bootstrap.map((s) => s.address)])];
    if (all.length === 0) return undefined;
    return all[this.candidateIndex % all.length];
  }

  private sleep(): Promise<void> {
    const delay = this.backoffMs * (0.8 + 0.4 * this.rng());
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = this.opts.clock.setTimeout(resolve, delay);
    });
  }

  /** Lists the endpoints (finding which API the server has) and offers the result. */
  private async list(target: string, creds: KubeCredentials, signal: AbortSignal): Promise<void> {
    let lastError: Error | undefined;
    for (const api of this.api ? [this.api] : APIS) {
      try {
        const body = await getJson(target, api.path, creds, signal);
        const objects = new EndpointObjects(api.kind);
        if (!objects.replace(body)) throw new Error(`${api.name}: the answer is not a list`);
        this.objects = objects;
        if (this.api !== api) this.opts.log.info({ event: 'discovery-api', backend: this.opts.backend, api: api.name, via: target }, `backend ${this.opts.backend}: discovering apiservers from ${api.name} through ${target}`);
        this.api = api;
        this.opts.list.stats.api = api.name;
        this.publish();
        return;
      } catch (err) {
        lastError = err instanceof Error ? err : new Error(String(err));
        if (!(err instanceof HttpStatusError) || (err.status !== 404 && err.status !== 403)) throw err;
      }
    }
    throw lastError ?? new Error('no API to list endpoints from');
  }

  private publish(): void {
    const objects = this.objects as EndpointObjects;
    this.opts.list.stats.resourceVersion = objects.resourceVersion || null;
    const servers = serversFor(objects.ready(), this.opts.port, this.opts.bootstrap);
    const taken = this.opts.list.offer(servers, objects.kind);
    if (!taken) this.opts.log.warn({ event: 'discovery-empty', backend: this.opts.backend }, `backend ${this.opts.backend}: the API lists no ready apiserver; keeping the ${this.opts.list.servers.length} known servers`);
  }

  /** Watches from the current resourceVersion until the stream ends; throws on a failure, forgets the list on 410. */
  private watch(target: string, creds: KubeCredentials, signal: AbortSignal): Promise<void> {
    const objects = this.objects as EndpointObjects;
    const api = this.api as Api;
    const seconds = WATCH_SECONDS + Math.floor(this.rng() * 30);
    const path = `${api.path}&watch=1&allowWatchBookmarks=true&timeoutSeconds=${seconds}&resourceVersion=${encodeURIComponent(objects.resourceVersion)}`;
    return new Promise((resolve, reject) => {
      let partial = '';
      let silence: Timer | undefined;
      const armSilence = () => {
        silence?.cancel();
        silence = this.opts.clock.setTimeout(() => req.destroy(new Error(`the watch was silent for ${WATCH_SILENCE_MS / 1000}s`)), WATCH_SILENCE_MS);
      };
      const finish = (err?: Error) => {
        silence?.cancel();
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => req.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      const req = request({ ...requestOptions(target, `${path}`, creds), timeout: CONNECT_TIMEOUT_MS }, (res) => {
        req.setTimeout(0);
        if (res.statusCode !== 200) {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body = (body + d).slice(0, 1000)));
          res.on('end', () => {
            if (res.statusCode === 410) this.objects = undefined;
            finish(new HttpStatusError(res.statusCode ?? 0, body));
          });
          return;
        }
        res.socket.setKeepAlive(true, 5000);
        armSilence();
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          armSilence();
          partial += d;
          let nl: number;
          while ((nl = partial.indexOf('\n')) >= 0) {
            const line = partial.slice(0, nl).trim();
            partial = partial.slice(nl + 1);
            if (line === '') continue;
            if (this.onWatchLine(line) === 'relist') {
              req.destroy();
              return finish();
            }
          }
          if (partial.length > MAX_LIST_BYTES) req.destroy(new Error('a watch event larger than 4 MiB'));
        });
        res.on('end', () => finish());
        res.on('error', (err) => finish(err));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${CONNECT_TIMEOUT_MS}ms`)));
      req.on('error', (err) => finish(err));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort);
      req.end();
    });
  }

  /** One watch line: applied, dropped and counted when malformed; 'relist' when the list must be read again. */
  private onWatchLine(line: string): 'ok' | 'relist' {
    const event = parseWatchLine(line);
    const objects = this.objects as EndpointObjects;
    if (!event) {
      this.opts.list.failed(`a malformed watch line was dropped: ${line.slice(0, 80)}`);
      return 'ok';
    }
    this.opts.list.stats.lastSyncMs = this.opts.clock.now();
    const outcome = objects.apply(event);
    this.opts.list.stats.resourceVersion = objects.resourceVersion || null;
    if (outcome.kind === 'changed') this.publish();
    if (outcome.kind === 'relist') {
      this.opts.log.info({ event: 'discovery-relist', backend: this.opts.backend, reason: outcome.reason }, `backend ${this.opts.backend}: the watch's resourceVersion expired (${outcome.reason}); listing again`);
      this.objects = undefined;
      return 'relist';
    }
    if (outcome.kind === 'error') this.opts.list.failed(`watch: ${outcome.reason}`);
    return 'ok';
  }
}

/** The https options for a request to the apiserver at `target`, with the kubeconfig's credentials. */
function requestOptions(target: string, path: string, creds: KubeCredentials): RequestOptions {
  const hp = parseHostPort(target);
  if (typeof hp === 'string') throw new Error(`not host:port: ${target}`);
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'kubeha-discovery' };
  if (creds.token) headers.authorization = `Bearer ${creds.token}`;
  return {
    host: hp.host,
    port: hp.port,
    path,
    method: 'GET',
    headers,
    agent: false,
    ...(creds.ca ? { ca: creds.ca } : {}),
    ...(creds.cert ? { cert: creds.cert } : {}),
    ...(creds.key ? { key: creds.key } : {}),
    rejectUnauthorized: !creds.insecure,
    checkServerIdentity: apiserverIdentity(hp.host, creds.server),
  };
}

/** GET `path` on `target` and parse the JSON answer; throws HttpStatusError on a status other than 200. */
function getJson(target: string, path: string, creds: KubeCredentials, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ ...requestOptions(target, path, creds), timeout: CONNECT_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_LIST_BYTES) req.destroy(new Error('the list is larger than 4 MiB'));
        else chunks.push(d);
      });
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new HttpStatusError(res.statusCode ?? 0, body));
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error('the list is not JSON'));
        }
      });
      res.on('error', reject);
    });
    const deadline = setTimeout(() => req.destroy(new Error(`no list within ${LIST_TIMEOUT_MS}ms`)), LIST_TIMEOUT_MS);
    deadline.unref();
    req.on('close', () => clearTimeout(deadline));
    req.on('timeout', () => req.destroy(new Error(`no answer within ${CONNECT_TIMEOUT_MS}ms`)));
    req.on('error', reject);
    const onAbort = () => req.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}
