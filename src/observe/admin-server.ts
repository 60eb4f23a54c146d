import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { Server as NetServer } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { isLoopbackHost, parseHostPort } from '../config/address.js';
import type { AdminConfig } from '../config/schema.js';
import type { InheritedSocket } from '../handover.js';
import { DASHBOARD_HTML } from './dashboard-page.js';
import type { Logger } from './logger.js';
import type { NodeState } from './node-state.js';

/** What the admin API asks of the daemon. */
export interface AdminHandlers {
  metrics(): Promise<{ contentType: string; body: string }>;
  state(): NodeState | Promise<NodeState>;
  reload(): Promise<{ ok: boolean; errors: string[] }>;
  /** Changes a server at run time; answers with an HTTP status and a body. */
  setServer(backend: string, server: string, change: unknown): { status: number; body: unknown };
  /** Changes a VRRP instance at run time (maintenance). */
  setVrrp(instance: string, change: unknown): { status: number; body: unknown };
}

const SERVER_ROUTE = /^\/api\/v1\/backends\/([^/]+)\/servers\/([^/]+)$/;
const VRRP_ROUTE = /^\/api\/v1\/vrrp\/([^/]+)$/;
/** The largest POST body (the runtime API's are a few bytes); a larger one is answered 413. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Limits that keep junk from holding the admin server's memory or sockets (Node's defaults allow a
 * request 5 minutes and check every 30 s): a client has 5 s to send its headers and 10 s for the
 * whole request; headers over 16 KiB are answered 431; at most 256 connections at once (more are
 * closed at accept); a connection idle for 30 s is closed.
 */
export const ADMIN_LIMITS = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  maxHeaderBytes: 16 * 1024,
  maxConnections: 256,
  idleTimeoutMs: 30_000,
  /** How often Node looks for requests past their timeouts. */
  checkIntervalMs: 1_000,
} as const;

/** A body over MAX_BODY_BYTES. */
class BodyTooLarge extends Error {}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return reject(new BodyTooLarge(`the body is over ${MAX_BODY_BYTES} bytes`));
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(c);
      // Stop buffering; the answer closes the connection, which discards the rest.
      req.off('data', onData);
      req.pause();
      reject(new BodyTooLarge(`the body is over ${MAX_BODY_BYTES} bytes`));
    };
    req.on('data', onData);
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {});
      } catch {
        reject(new Error('the body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

/**
 * The admin HTTP server: `/` (the dashboard), `/metrics` (Prometheus), `/api/v1/state` (JSON),
 * `POST /api/v1/reload`, the runtime API, `/healthz`, with read and write scopes (see `access`).
 */
export class AdminServer {
  private server: HttpServer | undefined;
  private token: Buffer | undefined;
  private readToken: Buffer | undefined;
  /** Bound to loopback: reads need no token unless a read token is configured. */
  private loopback = true;
  /** The port actually bound. */
  port: number | undefined;

  constructor(
    readonly cfg: AdminConfig,
    private readonly handlers: AdminHandlers,
    private readonly log: Logger,
  ) {}

  /** Listens on admin.bind, or on `inherited`, the socket the previous process served on (a restart). */
  async start(inherited?: InheritedSocket): Promise<void> {
    if (this.cfg.tokenFile) this.token = Buffer.from((await readFile(this.cfg.tokenFile, 'utf8')).trim());
    if (this.cfg.readTokenFile) this.readToken = Buffer.from((await readFile(this.cfg.readTokenFile, 'utf8')).trim());
    const hp = parseHostPort(this.cfg.bind, true);
    if (typeof hp === 'string') throw new Error(`unvalidated admin bind ${this.cfg.bind}`);
    this.loopback = isLoopbackHost(hp.host);
    const server = createServer({
      headersTimeout: ADMIN_LIMITS.headersTimeoutMs,
      requestTimeout: ADMIN_LIMITS.requestTimeoutMs,
      maxHeaderSize: ADMIN_LIMITS.maxHeaderBytes,
      connectionsCheckingInterval: ADMIN_LIMITS.checkIntervalMs,
    }, (req, res) => void this.handle(req, res));
    server.maxConnections = ADMIN_LIMITS.maxConnections;
    server.setTimeout(ADMIN_LIMITS.idleTimeoutMs, (socket) => socket.destroy());
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const listening = () => {
        server.off('error', reject);
        const addr = server.address();
        this.port = typeof addr === 'object' && addr ? addr.port : hp.port;
        resolve();
      };
      if (inherited) {
        server.once('listening', listening);
        inherited.adopt(server, (s) => {
          server.emit('connection', s);
          s.resume(); // held paused (the holder reads nothing); http reads from here
        });
      }
      else server.listen({ host: hp.host, port: hp.port }, listening);
    });
    server.on('error', (err) => this.log.error({ err }, 'admin server error'));
  }

  /**
   * Stops listening. By default every connection is closed and the call waits for them. With
   * `gracefully` (a reload moving the API) requests in flight finish — among them the reload
   * request that caused this, whose answer is still to be written — idle connections close now,
   * the rest within 5 s; the port is free when the call returns.
   */
  async stop(gracefully = false): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    if (gracefully) {
      server.close();
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 5000).unref();
      return;
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The listening socket, for a restart to hand over. */
  get listeningServer(): NetServer | undefined {
    return this.server?.listening ? this.server : undefined;
  }

  /**
   * Who may do what. `/` (the dashboard shell, no data) and `/healthz` (liveness probes send no
   * token) are open. Reads (the other GETs) need the read or the write token when a read token is
   * configured, the write token when the API is reachable from other hosts, and nothing on loopback.
   * Writes (POST) need the write token when there is one; the read token is refused with 403.
   */
  private access(req: IncomingMessage, route: string): 'ok' | 401 | 403 {
    if (route === 'GET /' || route === 'GET /healthz') return 'ok';
    const header = req.headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7).trim() : '');
    const is = (token: Buffer | undefined) => !!token && given.length === token.length && timingSafeEqual(given, token);
    const writer = is(this.token);
    if (req.method !== 'GET') return !this.token || writer ? 'ok' : is(this.readToken) ? 403 : 401;
    if (writer || is(this.readToken)) return 'ok';
    if (this.readToken) return 401;
    return this.token && !this.loopback ? 401 : 'ok';
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    try {
      const route = `${req.method} ${url.pathname}`;
      // The dashboard page holds no data (it fetches the state with the token), so it is served to anyone.
      if (route === 'GET /') return send(200, DASHBOARD_HTML, 'text/html; charset=utf-8');
      const access = this.access(req, route);
      if (access === 401) return send(401, JSON.stringify({ error: req.method === 'GET' ? 'a bearer token is required (admin.readTokenFile or admin.tokenFile)' : 'a bearer token is required (admin.tokenFile)' }));
      if (access === 403) return send(403, JSON.stringify({ error: 'the read-only token (admin.readTokenFile) cannot change anything; use the admin.tokenFile token' }));
      switch (route) {
        case 'GET /metrics': {
          const m = await this.handlers.metrics();
          return send(200, m.body, m.contentType);
        }
        case 'GET /api/v1/state':
          return send(200, JSON.stringify(await this.handlers.state(), null, 2));
        case 'POST /api/v1/reload': {
          const result = await this.handlers.reload();
          return send(result.ok ? 200 : 422, JSON.stringify(result));
        }
        case 'GET /healthz':
          return send(200, 'ok\n', 'text/plain');
        default: {
          const server = SERVER_ROUTE.exec(url.pathname);
          const vrrp = VRRP_ROUTE.exec(url.pathname);
          if ((server || vrrp) && req.method === 'POST') {
            let body: unknown;
            try {
              body = await readJson(req);
            } catch (err) {
              if (err instanceof BodyTooLarge) res.setHeader('connection', 'close');
              return send(err instanceof BodyTooLarge ? 413 : 400, JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
            }
            const r = server
              ? this.handlers.setServer(decodeURIComponent(server[1]!), decodeURIComponent(server[2]!), body)
              : this.handlers.setVrrp(decodeURIComponent(vrrp![1]!), body);
            return send(r.status, JSON.stringify(r.body));
          }
          return send(404, JSON.stringify({ error: `no route ${route}` }));
        }
      }
    } catch (err) {
      this.log.error({ err }, 'admin request failed');
      send(500, JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    }
  }
}
