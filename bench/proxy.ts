// `npm run bench:proxy`: kubeha against haproxy (nbthread 1, mode tcp) and nginx stream
// (1 worker), interleaved in one run on loopback, in front of the same nginx backends, loaded by
// wrk. Prints a table with ratios to haproxy. Not a test: it asserts nothing, it measures.
// Needs the Debian packages haproxy, nginx, libnginx-mod-stream and wrk.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cpuMs, rssKiB } from './proc-stats.js';

const run = promisify(execFile);
const KUBEHA_BIN = fileURLToPath(new URL('../../bin/kubeha.js', import.meta.url));
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/** Idle proxied connections held open for the memory figures (a kubelet's watches, times the nodes). */
const IDLE_CONNECTIONS = Number(process.env.BENCH_IDLE_CONNECTIONS ?? 2000);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
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

interface WrkResult {
  rps: number;
  mbps: number;
  p99ms: number;
  errors: number;
  /** CPU time (user + system) the load balancer spent per 1000 requests, in ms. */
  cpuMsPer1k: number;
}

/** PIDs of a process and its children (nginx's master and worker). */
async function processTree(pid: number): Promise<number[]> {
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

async function wrk(url: string, extra: string[] = [], lbPids: number[] = []): Promise<WrkResult> {
  const cpuBefore = cpuMs(lbPids);
  const { stdout } = await run('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${DURATION_S}s`, '--latency', ...extra, url], { maxBuffer: 1 << 20 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const mbps = toMB(/Transfer\/sec:\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const p99ms = toMs(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const err = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = (err ? err.slice(1).reduce((n, x) => n + Number(x), 0) : 0) + non2xx;
  const cpuAfter = cpuMs(lbPids);
  const requests = rps * DURATION_S;
  return { rps, mbps, p99ms, errors, cpuMsPer1k: requests > 0 ? ((cpuAfter - cpuBefore) / requests) * 1000 : NaN };
}

/**
 * Opens `n` connections through the load balancer on `port`, each with one answered keep-alive
 * request (so the upstream connection exists too), and resolves with a function that closes them.
 */
async function holdConnections(port: number, n: number): Promise<() => void> {
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  for (const cmd of ['haproxy', 'nginx', 'wrk']) {
    try {
      await run('sh', ['-c', `command -v ${cmd}`]);
    } catch {
      throw new Error(`${cmd} is not installed: apt-get install haproxy nginx libnginx-mod-stream wrk`);
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-bench-'));
  await chmod(dir, 0o755); // nginx workers run as www-data and read the 64 KiB file from here
  const children: ChildProcess[] = [];
  const start = (cmd: string, args: string[]) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(c);
    return c;
  };
  try {
    // Backends: one nginx, one worker, two ports (as two apiservers), small and 64 KiB answers.
    const backendPorts = [await freePort(), await freePort()];
    await writeFile(join(dir, '64k.bin'), Buffer.alloc(64 * 1024, 120));
    await writeFile(join(dir, 'backend.conf'), `
worker_processes 1;
daemon off;
pid ${dir}/backend.pid;
error_log ${dir}/backend-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  ${backendPorts.map((p) => `server { listen 127.0.0.1:${p} reuseport backlog=4096; root ${dir}; location = /small { return 200 "ok\\n"; } location = /64k { try_files /64k.bin =404; } }`).join('\n  ')}
}`);
    start('nginx', ['-c', join(dir, 'backend.conf'), '-e', join(dir, 'backend-error.log')]);

    const lbs: { name: string; port: number; pid: number }[] = [];
    const haproxyPort = await freePort();
    await writeFile(join(dir, 'haproxy.cfg'), `
global
  nbthread 1
  maxconn 8000
defaults
  mode tcp
  timeout connect 3s
  timeout client 1h
  timeout server 1h
frontend fe
  bind 127.0.0.1:${haproxyPort}
  default_backend be
backend be
  balance roundrobin
${backendPorts.map((p, i) => `  server s${i} 127.0.0.1:${p}`).join('\n')}
`);
    lbs.push({ name: 'haproxy', port: haproxyPort, pid: start('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db']).pid! });

    const nginxPort = await freePort();
    await writeFile(join(dir, 'stream.conf'), `
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid ${dir}/stream.pid;
error_log ${dir}/stream-error.log warn;
events { worker_connections 16384; }
stream {
  upstream be { ${backendPorts.map((p) => `server 127.0.0.1:${p};`).join(' ')} }
  server { listen 127.0.0.1:${nginxPort} backlog=4096; proxy_pass be; proxy_timeout 1h; }
}`);
    lbs.push({ name: 'nginx', port: nginxPort, pid: start('nginx', ['-c', join(dir, 'stream.conf'), '-e', join(dir, 'stream-error.log')]).pid! });

    const kubehaPort = await freePort();
    await writeFile(join(dir, 'kubeha.yaml'), `
global: { logLevel: warn }
frontends:
  - { name: fe, bind: 127.0.0.1:${kubehaPort}, backend: be }
backends:
  - name: be
    healthCheck: { type: tcp, interval: 2s }
    servers:
${backendPorts.map((p, i) => `      - { name: s${i}, address: 127.0.0.1:${p} }`).join('\n')}
`);
    lbs.push({ name: 'kubeha', port: kubehaPort, pid: start(process.execPath, [KUBEHA_BIN, 'run', '--config', join(dir, 'kubeha.yaml')]).pid! });

    for (const p of [...backendPorts, ...lbs.map((l) => l.port)]) await waitForPort(p);
    const pids = new Map<string, number[]>();
    for (const lb of lbs) pids.set(lb.name, await processTree(lb.pid));

    const scenarios: { name: string; path: string; extra: string[] }[] = [
      { name: 'keep-alive small', path: '/small', extra: [] },
      { name: '64 KiB responses', path: '/64k', extra: [] },
      { name: 'new conn per request', path: '/small', extra: ['-H', 'Connection: close'] },
    ];
    const results = new Map<string, WrkResult[]>();
    // Warm-up (JIT, connection pools), not counted.
    for (const lb of lbs) await wrk(`http://127.0.0.1:${lb.port}/small`, ['-d1s']);
    for (let round = 0; round < ROUNDS; round++) {
      for (const sc of scenarios) {
        // Interleaved, and the order rotates every round so no LB always runs first.
        const order = lbs.map((_, i) => lbs[(i + round) % lbs.length]!);
        for (const lb of order) {
          const r = await wrk(`http://127.0.0.1:${lb.port}${sc.path}`, sc.extra, pids.get(lb.name));
          const key = `${sc.name}|${lb.name}`;
          results.set(key, [...(results.get(key) ?? []), r]);
          process.stderr.write(`round ${round + 1}/${ROUNDS} ${sc.name.padEnd(22)} ${lb.name.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} req/s ${r.mbps.toFixed(1).padStart(7)} MB/s p99 ${r.p99ms.toFixed(2)}ms cpu ${r.cpuMsPer1k.toFixed(1)}ms/1k errors ${r.errors}\n`);
        }
      }
    }
    const lines: string[] = [];
    lines.push(`wrk -t1 -c${CONNECTIONS} -d${DURATION_S}s, median of ${ROUNDS} interleaved rounds, ${new Date().toISOString()}`);
    lines.push('');
    lines.push('| scenario | metric | haproxy | nginx | kubeha | kubeha / haproxy |');
    lines.push('|---|---|---|---|---|---|');
    const med = (sc: string, lb: string, f: (r: WrkResult) => number) => median((results.get(`${sc}|${lb}`) ?? []).map(f));
    for (const sc of ROUNDS > 0 ? scenarios : []) {
      const metric = sc.name.startsWith('64') ? 'MB/s' : 'req/s';
      const f = sc.name.startsWith('64') ? (r: WrkResult) => r.mbps : (r: WrkResult) => r.rps;
      const [h, n, k] = ['haproxy', 'nginx', 'kubeha'].map((lb) => med(sc.name, lb, f)) as [number, number, number];
      lines.push(`| ${sc.name} | ${metric} | ${h.toFixed(0)} | ${n.toFixed(0)} | ${k.toFixed(0)} | ${(k / h).toFixed(2)}× |`);
      const [hp, np, kp] = ['haproxy', 'nginx', 'kubeha'].map((lb) => med(sc.name, lb, (r) => r.p99ms)) as [number, number, number];
      lines.push(`| ${sc.name} | p99 ms | ${hp.toFixed(2)} | ${np.toFixed(2)} | ${kp.toFixed(2)} | ${(kp / hp).toFixed(2)}× |`);
      const [hc, nc, kc] = ['haproxy', 'nginx', 'kubeha'].map((lb) => med(sc.name, lb, (r) => r.cpuMsPer1k)) as [number, number, number];
      lines.push(`| ${sc.name} | LB CPU ms / 1k req | ${hc.toFixed(1)} | ${nc.toFixed(1)} | ${kc.toFixed(1)} | ${(kc / hc).toFixed(2)}× |`);
    }
    // Memory: each load balancer idle, then holding IDLE_CONNECTIONS proxied connections.
    lines.push('', `resident memory, idle and holding ${IDLE_CONNECTIONS} proxied keep-alive connections (VmRSS of every process of the LB)`, '');
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
    const errs = [...results.entries()].filter(([, rs]) => rs.some((r) => r.errors > 0)).map(([k, rs]) => `${k}: ${rs.map((r) => r.errors).join('/')}`);
    if (errs.length) lines.push('', `errors: ${errs.join('; ')}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    const signal = (sig: NodeJS.Signals) => {
      for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill(sig);
    };
    signal('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    signal('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
