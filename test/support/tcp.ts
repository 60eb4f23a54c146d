import { createServer, connect, type Server, type Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';
import { configSchema, type Config } from '../../src/config/schema.js';
import { Daemon } from '../../src/daemon.js';
import type { ServerPool } from '../../src/proxy/server-pool.js';
import type { Server as BackendServer } from '../../src/proxy/server.js';

/** A loopback TCP server that greets each client with `name\n` and then echoes what it gets. */
export interface TaggedBackend {
  name: string;
  port: number;
  server: Server;
  sockets: Set<Socket>;
  accepted: number;
  close(): Promise<void>;
}

export async function taggedBackend(name: string, onSocket?: (s: Socket) => void): Promise<TaggedBackend> {
  const sockets = new Set<Socket>();
  const b: TaggedBackend = {
    name, port: 0, sockets, accepted: 0,
    server: createServer({ allowHalfOpen: true }, (s) => {
      b.accepted++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
      if (onSocket) return onSocket(s);
      s.write(`${name}\n`);
      s.pipe(s);
    }),
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      b.server.close(() => resolve());
    }),
  };
  await new Promise<void>((resolve) => b.server.listen(0, '127.0.0.1', resolve));
  b.port = (b.server.address() as { port: number }).port;
  return b;
}

/** Connects (to 127.0.0.1 unless told), reads the greeting line, and returns it with the open socket. */
export function greet(port: number, host = '127.0.0.1'): Promise<{ name: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    let buf = '';
    socket.setEncoding('utf8');
    const onData = (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        socket.off('data', onData);
        resolve({ name: buf.slice(0, nl), socket });
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('end', () => reject(new Error(`closed before a greeting (got "${buf}")`)));
  });
}

/** Connects, reads the greeting and closes: the name of the server that answered. */
export async function whoAnswers(port: number): Promise<string> {
  return whoAnswersAt('127.0.0.1', port);
}

/** {@link whoAnswers} on another address (::1, 127.0.0.x). */
export async function whoAnswersAt(host: string, port: number): Promise<string> {
  const { name, socket } = await greet(port, host);
  socket.destroy();
  return name;
}

/** Log lines captured in memory, for asserting on what the daemon says. */
export function memoryLogger(level = 'info'): { log: Logger; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
  return { log: pino({ level }, stream), lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Builds a validated config from the same shape as the YAML. */
export function config(raw: unknown): Config {
  return configSchema.parse(raw);
}

/** A one-frontend config on 127.0.0.1:0 with the given servers and backend settings. */
export function lbConfig(servers: { name: string; port: number; weight?: number }[], backend: Record<string, unknown> = {}): Config {
  return config({
    global: { shutdownGrace: '1s', logLevel: 'silent' },
    frontends: [{ name: 'fe', bind: '127.0.0.1:0', backend: 'be' }],
    backends: [{
      name: 'be',
      healthCheck: { type: 'tcp', interval: '1h' },
      ...backend,
      servers: servers.map((s) => ({ name: s.name, address: `127.0.0.1:${s.port}`, weight: s.weight ?? 100 })),
    }],
  });
}

/** The part of a node:test context that support code needs. */
export interface TestContextLike {
  after(fn: () => unknown): void;
}

/** Starts a daemon on `cfg` and returns it with its frontend port; stopped by `t.after`. */
export async function startDaemon(cfg: Config, t: TestContextLike, log?: Logger): Promise<{ daemon: Daemon; port: number }> {
  const daemon = new Daemon({ log: log ?? pino({ level: 'silent' }) });
  await daemon.start(cfg);
  t.after(() => daemon.shutdown(0));
  const port = daemon.listener('fe')?.boundPort;
  if (!port) throw new Error('frontend fe did not bind');
  return { daemon, port };
}

/** Resolves when `cond` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Marks a server down as `fall` failed checks would. One failure is not enough in general: a real
 * check may already have passed (checks start at a random point of the first second), which puts
 * the health counter above `rise`.
 */
export function markDown(pool: ServerPool, server: BackendServer, now: number): void {
  for (let i = 0; i < pool.settings.fall; i++) pool.recordCheck(server, { ok: false, latencyMs: 1, detail: 'marked down by the test', atMs: now });
}
