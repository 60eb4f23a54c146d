import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { CertPair } from './self-signed.js';

/** How a stand-in apiserver behaves. */
export interface SimApiserverOptions {
  name: string;
  host: string;
  port: number;
  tls: CertPair;
  /** Time between SIGTERM (readyz turns 500) and closing the listener, like --shutdown-delay-duration. */
  shutdownDelayMs: number;
  /** How long open watches go on after the listener closed (the real v1.20 kept them up to 60 s). */
  watchGraceMs: number;
  /** Answer /readyz with 500 from the start. */
  failReadyz: boolean;
  /** Added delay before every answer. */
  latencyMs: number;
  /** Accept connections and never answer. */
  blackhole: boolean;
}

const VERSION = {
  major: '1', minor: '20', gitVersion: 'v1.20.2-kubeha-sim', gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean', buildDate: '2021-01-13T13:20:00Z', goVersion: 'go1.15.5', compiler: 'gc', platform: 'linux/amd64',
};

/**
 * A stand-in kube-apiserver: HTTPS with HTTP/1.1 and HTTP/2, health endpoints, /version and a watch
 * stream, with the graceful shutdown of a real v1.20 apiserver and switches to misbehave on purpose.
 */
export class SimApiserver {
  private server: Http2SecureServer | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly tlsSockets = new Set<TLSSocket>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly watches = new Set<Http2ServerResponse>();
  /** HTTP/1.1 sockets with a request in progress (idle keep-alive ones are closed on shutdown). */
  private readonly busySockets = new Set<Socket>();
  private readyzFailing: boolean;
  private shuttingDown = false;
  private requests = 0;
  port: number | undefined;

  constructor(private readonly opts: SimApiserverOptions) {
    this.readyzFailing = opts.failReadyz;
  }

  /** Makes /readyz fail (or pass again), as an apiserver losing etcd would. */
  setReadyzFailing(failing: boolean): void {
    this.readyzFailing = failing;
  }

  async start(): Promise<number> {
    const server = createSecureServer({ ...this.opts.tls, allowHTTP1: true }, (req, res) => this.handle(req, res));
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      this.tlsSockets.add(socket);
      socket.on('close', () => this.tlsSockets.delete(socket));
    });
    server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.opts.host, port: this.opts.port }, () => resolve());
    });
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.opts.port;
    return this.port;
  }

  /**
   * Graceful shutdown as a real kube-apiserver: /readyz fails at once while requests are still
   * served; after the shutdown delay HTTP/2 sessions get GOAWAY and the listener closes; open
   * watches end after that. Resolves when everything is closed.
   */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.onTimeline('readyz-failing');
    await new Promise((r) => setTimeout(r, this.opts.shutdownDelayMs));
    // GOAWAY to every HTTP/2 session: no new streams, the open ones (watches) go on until the grace ends.
    for (const s of this.sessions) s.goaway();
    const closed = new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    this.onTimeline('listener-closed');
    // Idle HTTP/1.1 keep-alive connections are closed; busy ones finish their request. HTTP/2
    // connections got their GOAWAY above and close once their streams (watches) end.
    for (const socket of this.tlsSockets) {
      if (socket.alpnProtocol !== 'h2' && !this.busySockets.has(socket)) socket.end();
    }
    await new Promise((r) => setTimeout(r, this.opts.watchGraceMs));
    // End each watch and wait until its stream is closed, then close the sessions.
    await Promise.all([...this.watches].map((w) => new Promise<void>((resolve) => {
      w.once('close', () => resolve());
      w.end();
    })));
    for (const s of this.sessions) s.close();
    this.onTimeline('watches-ended');
    setTimeout(() => this.stop(), 1000).unref();
    await closed;
  }

  /** Called at each step of a graceful shutdown (the CLI prints them as JSON lines). */
  onTimeline: (step: 'readyz-failing' | 'listener-closed' | 'watches-ended') => void = () => {};

  /** Closes everything now. */
  stop(): void {
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
    this.server?.close();
  }

  private handle(req: Http2ServerRequest, res: Http2ServerResponse): void {
    if (this.opts.blackhole) return;
    if (req.httpVersionMajor === 1) {
      const socket = req.socket as Socket;
      this.busySockets.add(socket);
      res.on('close', () => this.busySockets.delete(socket));
      if (this.shuttingDown && !this.server?.listening) res.setHeader('connection', 'close');
    }
    this.requests++;
    const answer = () => this.route(req, res);
    if (this.opts.latencyMs > 0) setTimeout(answer, this.opts.latencyMs);
    else answer();
  }

  private route(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const url = new URL(req.url, 'https://sim');
    res.setHeader('x-kubeha-sim', this.opts.name);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const health = (failing: boolean, check: string) => {
      const verbose = url.searchParams.has('verbose');
      const lines = [`[+]ping ok`, `[+]etcd ok`, `[${failing ? '-' : '+'}]${check} ${failing ? 'failed: reason withheld' : 'ok'}`];
      res.writeHead(failing ? 500 : 200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(verbose ? `${lines.join('\n')}\n${check} check ${failing ? 'failed' : 'passed'}\n` : failing ? `[-]${check} failed: reason withheld\n${check} check failed\n` : 'ok');
    };
    switch (url.pathname) {
      case '/readyz':
        return health(this.readyzFailing || this.shuttingDown, 'shutdown');
      case '/livez':
      case '/healthz':
        return health(false, 'log');
      case '/version':
        return json(200, VERSION);
      case '/sim/readyz': {
        if (req.method !== 'POST') return json(405, { error: 'POST /sim/readyz?fail=true|false' });
        this.readyzFailing = url.searchParams.get('fail') === 'true';
        return json(200, { readyzFailing: this.readyzFailing });
      }
      case '/sim/info':
        return json(200, { name: this.opts.name, requests: this.requests, watches: this.watches.size, shuttingDown: this.shuttingDown });
      default:
        if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') return this.watch(res, url);
        return json(200, { kind: 'Status', apiVersion: 'v1', status: 'Success', served_by: this.opts.name, path: url.pathname });
    }
  }

  /** A watch stream: one JSON event per line every `intervalMs` (query), until the client leaves. */
  private watch(res: Http2ServerResponse, url: URL): void {
    const intervalMs = Math.max(10, Number(url.searchParams.get('intervalMs') ?? 1000));
    res.writeHead(200, { 'content-type': 'application/json' }); // HTTP/1.1 streams it chunked, HTTP/2 as frames
    this.watches.add(res);
    let rv = Number(url.searchParams.get('resourceVersion') ?? 0);
    const tick = setInterval(() => {
      // end() is not the end of the timer: finish/close come later, and a write in between
      // would reset the stream.
      if (res.writableEnded) return;
      rv++;
      res.write(`${JSON.stringify({ type: 'MODIFIED', object: { kind: 'ConfigMap', metadata: { name: 'sim', resourceVersion: String(rv) }, data: { server: this.opts.name } } })}\n`);
    }, intervalMs);
    const end = () => {
      clearInterval(tick);
      this.watches.delete(res);
    };
    res.on('close', end);
    res.on('finish', end);
  }
}
