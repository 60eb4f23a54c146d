// What the load-balancer benchmarks share: ports, wrk runs with the LB's CPU time, held
// connections for memory figures, process trees. Not a test: nothing here asserts.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cpuMs, rssKiB } from './proc-stats.js';

export const run = promisify(execFile);
export const KUBEHA_BIN = fileURLToPath(new URL('../../bin/kubeha.js', import.meta.url));
export const DURATION_S = Number(process.env.BENCH_SECONDS ?? 5);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/** Idle proxied connections held open for the memory figures (a kubelet's watches, times the nodes). */
export const IDLE_CONNECTIONS = Number(process.env.BENCH_IDLE_CONNECTIONS ?? 2000);

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/small`);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`port ${port} did not answer`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface WrkResult {
  rps: number;
  mbps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** CPU time (user + system) the load balancer spent per 1000 requests, in ms. */
  cpuMsPer1k: number;
}

/** PIDs of a process and its children (nginx's master and worker). */
export async function processTree(pid: number): Promise<number[]> {
  const { stdout } = await run('sh', ['-c', `echo ${pid}; cat /proc/${pid}/task/*/children 2>/dev/null`]);
  return stdout.split(/\s+/).filter(Boolean).map(Number);
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

function toMB(v: string): number {
  const m = /^([\d.]+)(B|KB|MB|GB)$/.exec(v.trim());
  if (!m) return NaN;
  return Number(m[1]) * ({ B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 } as Record<string, number>)[m[2] as string]!;
}

/** One wrk run against `url`; `via` runs it under a prefix (`ip netns exec NS`: a client host of its own). */
export async function wrk(url: string, extra: string[] = [], lbPids: number[] = [], via: string[] = []): Promise<WrkResult> {
  const cpuBefore = cpuMs(lbPids);
  const [cmd, ...args] = [...via, 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${DURATION_S}s`, '--latency', ...extra, url];
  const { stdout } = await run(cmd!, args, { maxBuffer: 1 << 20 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const mbps = toMB(/Transfer\/sec:\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const p50ms = toMs(/\s50%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const p99ms = toMs(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const err = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = (err ? err.slice(1).reduce((n, x) => n + Number(x), 0) : 0) + non2xx;
  const cpuAfter = cpuMs(lbPids);
  const requests = rps * DURATION_S;
  return { rps, mbps, p50ms, p99ms, errors, cpuMsPer1k: requests > 0 ? ((cpuAfter - cpuBefore) / requests) * 1000 : NaN };
}

/**
 * Opens `n` connections through the load balancer on `port`, each with one answered keep-alive
 * request (so the upstream connection exists too), and resolves with a function that closes them.
 */
export async function holdConnections(port: number, n: number): Promise<() => void> {
  const sockets: Socket[] = [];
  const open = () => new Promise<void>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('GET /small HTTP/1.1\r\nHost: bench\r\n\r\n'));
    s.once('data', () => resolve());
    s.once('error', reject);
    sockets.push(s);
  });
  for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: Math.min(100, n - i) }, open));
  return () => sockets.forEach((s) => s.destroy());
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}


/**
 * The memory table: each load balancer's resident memory (VmRSS of all its processes) idle, then
 * while IDLE_CONNECTIONS proxied connections are held through it. Returns the table's lines.
 */
export async function memoryTable(lbs: { name: string; port: number }[], pids: Map<string, number[]>): Promise<string[]> {
  const lines = ['', `resident memory, idle and holding ${IDLE_CONNECTIONS} proxied keep-alive connections (VmRSS of every process of the LB)`, ''];
  lines.push('| LB | idle MiB | loaded MiB | KiB per connection |', '|---|---|---|---|');
  for (const lb of lbs) {
    const lbPids = pids.get(lb.name) ?? [];
    const idle = rssKiB(lbPids);
    const close = await holdConnections(lb.port, IDLE_CONNECTIONS);
    await new Promise((r) => setTimeout(r, 1000));
    const loaded = rssKiB(lbPids);
    close();
    await new Promise((r) => setTimeout(r, 1000));
    lines.push(`| ${lb.name} | ${(idle / 1024).toFixed(1)} | ${(loaded / 1024).toFixed(1)} | ${((loaded - idle) / IDLE_CONNECTIONS).toFixed(1)} |`);
    process.stderr.write(`memory ${lb.name.padEnd(8)} idle ${(idle / 1024).toFixed(1)} MiB, with ${IDLE_CONNECTIONS} connections ${(loaded / 1024).toFixed(1)} MiB\n`);
  }
  return lines;
}

/**
 * What every LB benchmark starts with: the tools it drives checked, a work folder nginx's workers
 * (www-data) can read, and the processes it starts, stopped (TERM, then KILL) with the folder removed by `cleanup`.
 */
export async function benchWorkspace(prefix: string): Promise<{ dir: string; start: (cmd: string, args: string[], env?: NodeJS.ProcessEnv) => ChildProcess; cleanup: () => Promise<void> }> {
  for (const cmd of ['haproxy', 'nginx', 'wrk']) {
    try {
      await run('sh', ['-c', `command -v ${cmd}`]);
    } catch {
      throw new Error(`${cmd} is not installed: apt-get install haproxy nginx libnginx-mod-stream wrk`);
    }
  }
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  const children: ChildProcess[] = [];
  const start = (cmd: string, args: string[], env?: NodeJS.ProcessEnv) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], ...(env ? { env } : {}) });
    children.push(c);
    return c;
  };
  const signal = (sig: NodeJS.Signals) => {
    for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  const cleanup = async () => {
    signal('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    signal('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  return { dir, start, cleanup };
}

/** The nginx config of the benchmarks' backend: one worker, `listens` each a server with `locations`; its path. */
export function writeBackendNginx(dir: string, listens: string[], locations: string, o: { connections?: number; nofile?: number; keepaliveTimeout?: string } = {}): string {
  const file = join(dir, 'backend.conf');
  writeFileSync(file, `
worker_processes 1;
${o.nofile ? `worker_rlimit_nofile ${o.nofile};\n` : ''}daemon off;
pid ${dir}/backend.pid;
error_log ${dir}/backend-error.log warn;
events { worker_connections ${o.connections ?? 4096}; }
http {
  access_log off;
  keepalive_requests 1000000;
${o.keepaliveTimeout ? `  keepalive_timeout ${o.keepaliveTimeout};\n` : ''}  ${listens.map((l) => `server { listen ${l} reuseport backlog=4096; root ${dir}; ${locations} }`).join('\n  ')}
}`);
  return file;
}

/** The backend's answers: /small (3 bytes) and /64k (the file 64k.bin of the workspace). */
export const SMALL_AND_64K = 'location = /small { return 200 "ok\\n"; } location = /64k { try_files /64k.bin =404; }';

