import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';
import type { TestContextLike } from './tcp.js';

/** bin/kubeha.js of this checkout. */
export const KUBEHA_BIN = fileURLToPath(new URL('../../../bin/kubeha.js', import.meta.url));

/** A child process whose stdout is JSON lines (pino logs, sim events). */
export interface JsonProcess {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the first line (already seen or future) that satisfies `pred`. */
  waitFor(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number, what?: string): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** How to start it: `via` a command that execs the rest (setpriv), another copy's `bin`, an environment. */
export interface SpawnOptions {
  via?: string[];
  bin?: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts `kubeha ARGS`; the test's `after` kills it by PID if it is still running. */
export function spawnKubeha(args: string[], t: TestContextLike, o: SpawnOptions = {}): JsonProcess {
  const command = [...(o.via ?? []), process.execPath, o.bin ?? KUBEHA_BIN, ...args];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(o.env ? { env: o.env } : {}) });
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let stdoutBuf = '';
  let stderrBuf = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdoutBuf += d;
    let nl: number;
    while ((nl = stdoutBuf.indexOf('\n')) >= 0) {
      const text = stdoutBuf.slice(0, nl);
      stdoutBuf = stdoutBuf.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { text };
      }
      lines.push(line);
      for (const w of [...waiters]) if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderrBuf += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let running = true;
  void exited.then(() => (running = false));
  t.after(() => {
    try {
      if (running && child.pid) process.kill(child.pid, 'SIGKILL');
    } catch (err) {
      // it exited on its own (a handed-over process stops once drained) before its exit event was read
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    return exited;
  });
  return {
    child, lines, exited, stderr: () => stderrBuf,
    waitFor(pred, timeoutMs = 15_000, what = 'a log line') {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr: ${stderrBuf}`)), timeoutMs);
        waiters.push({ pred, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      });
    },
  };
}

/** Starts a stand-in apiserver on a free loopback port; resolves with the process and its port. */
export async function startSim(name: string, t: TestContextLike, certFile: string, keyFile: string, extra: string[] = []): Promise<{ proc: JsonProcess; port: number }> {
  const proc = spawnKubeha(['sim', 'apiserver', '--port', '0', '--name', name, '--cert', certFile, '--key', keyFile, ...extra], t);
  const line = await proc.waitFor((l) => l.event === 'listening', 15_000, `sim ${name} to listen`);
  return { proc, port: Number(line.port) };
}

/** The outcome of one HTTPS request on a new connection. */
export interface Answer {
  ok: boolean;
  status: number;
  servedBy: string;
  error?: string;
}

/** GET `path` on a fresh TLS connection (no keep-alive), like a client that reconnects every time. */
export function httpsGet(port: number, path = '/version', timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, rejectUnauthorized: false, servername: 'localhost', timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, status: res.statusCode ?? 0, servedBy: String(res.headers['x-kubeha-sim'] ?? '') }));
      res.on('error', (err) => resolve({ ok: false, status: 0, servedBy: '', error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ ok: false, status: 0, servedBy: '', error: err.message }));
    req.end();
  });
}

/** Sequential request loops, `workers` at a time, until `stop()`; bounded by count and time. */
export function requestLoop(port: number, workers = 4, maxRequests = 50_000, maxMs = 60_000) {
  const results: (Answer & { startedAt: number })[] = [];
  let stopped = false;
  const started = Date.now();
  const worker = async () => {
    while (!stopped && results.length < maxRequests && Date.now() - started < maxMs) {
      const startedAt = Date.now();
      results.push({ ...(await httpsGet(port)), startedAt });
    }
  };
  let ended = false;
  const done = Promise.all(Array.from({ length: workers }, worker)).then(() => {
    ended = true;
  });
  return {
    results,
    /** Whether the loop ran out of its count or time (a test waiting for more results must stop waiting). */
    ended: () => ended,
    stop: async () => {
      stopped = true;
      await done;
      return results;
    },
  };
}

/** Makes a stand-in apiserver's /readyz fail (or pass again) through its control endpoint. */
export function setSimReadyz(port: number, fail: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/sim/readyz?fail=${fail}`, agent: false, rejectUnauthorized: false }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve();
      else reject(new Error(`POST /sim/readyz answered ${res.statusCode}`));
    });
    req.on('error', reject);
    req.end();
  });
}
