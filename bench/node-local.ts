// `npm run bench:node-local`: the node-local path (a worker's kubelet to its apiservers) through
// kubeha as the planner renders it for workerAccess: local, next to a direct connection (the
// floor) and to kubespray's nginx `stream` localhost LB, in one run on loopback; and the memory of
// each, idle and holding connections, next to haproxy's and a bare Node pipe's. The apiservers are stood in for by one
// nginx with three ports. Not a test: it measures and prints a table.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { benchWorkspace, DURATION_S, freePort, writeBackendNginx, memoryTable, KUBEHA_BIN, median, processTree, ROUNDS, waitForPort, wrk, type WrkResult } from './lb-harness.js';

/** Concurrent connections of the load: 1 is a lone request chain (unloaded latency), 10 a busy node. */
const LOADS = (process.env.BENCH_LOADS ?? '1,10').split(',').map(Number);

async function main(): Promise<void> {
  const { dir, start, cleanup } = await benchWorkspace('kubeha-bench-local-');
  try {
    const apiPorts = [await freePort(), await freePort(), await freePort()];
    const backendConf = writeBackendNginx(dir, apiPorts.map((p) => `127.0.0.1:${p}`), 'location = /small { return 200 "ok\\n"; } location = /readyz { return 200 "ok"; }');
    start('nginx', ['-c', backendConf, '-e', join(dir, 'backend-error.log')]);

    const paths: { name: string; port: number; pid?: number }[] = [{ name: 'direct', port: apiPorts[0]! }];
    // kubespray's nginx-proxy (roles/kubernetes/node/templates/loadbalancer/nginx.conf.j2): least_conn, passive checks only.
    const nginxPort = await freePort();
    await writeFile(join(dir, 'stream.conf'), `
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid ${dir}/stream.pid;
error_log ${dir}/stream-error.log warn;
events { multi_accept on; use epoll; worker_connections 16384; }
stream {
  upstream kube_apiserver { least_conn; ${apiPorts.map((p) => `server 127.0.0.1:${p};`).join(' ')} }
  server { listen 127.0.0.1:${nginxPort}; proxy_pass kube_apiserver; proxy_timeout 10m; proxy_connect_timeout 1s; }
}`);
    paths.push({ name: 'nginx', port: nginxPort, pid: start('nginx', ['-c', join(dir, 'stream.conf'), '-e', join(dir, 'stream-error.log')]).pid! });

    const haproxyPort = await freePort();
    await writeFile(join(dir, 'haproxy.cfg'), `
global
  nbthread 1
  maxconn 8000
defaults
  mode tcp
  timeout connect 1s
  timeout client 1h
  timeout server 1h
frontend local
  bind 127.0.0.1:${haproxyPort}
  default_backend apiservers
backend apiservers
  option httpchk GET /readyz
${apiPorts.map((p, i) => `  server m${i} 127.0.0.1:${p} check inter 1s`).join('\n')}
`);
    paths.push({ name: 'haproxy', port: haproxyPort, pid: start('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db']).pid! });

    // What the planner renders for a worker (src/plan/render-kubeha.ts), with an http check (the
    // stand-ins speak plain HTTP) and without discovery (no API here; its module is still loaded).
    const kubehaPort = await freePort();
    await writeFile(join(dir, 'kubeha.yaml'), `
global: { logLevel: warn }
frontends:
  - { name: apiserver, bind: 'localhost:${kubehaPort}', backend: apiservers }
backends:
  - name: apiservers
    balance: latency
    tcpUserTimeout: 10s
    healthCheck: { type: http, path: /readyz, interval: 1s, fastInterval: 250ms, timeout: 1s, rise: 2, fall: 2 }
    servers:
${apiPorts.map((p, i) => `      - { name: m${i}, address: '127.0.0.1:${p}' }`).join('\n')}
admin: { bind: '127.0.0.1:0' }
`);
    // With the rendered worker unit's NODE_OPTIONS (src/plan/render-systemd.ts).
    paths.push({ name: 'kubeha', port: kubehaPort, pid: start(process.execPath, [KUBEHA_BIN, 'run', '--config', join(dir, 'kubeha.yaml')], { ...process.env, NODE_OPTIONS: '--max-semi-space-size=1' }).pid! });

    // The floor of any LB written for Node: a bare `net` pipe to one server (no checks, no metrics,
    // no config), under the same NODE_OPTIONS. What kubeha costs beyond it is kubeha's own.
    const pipePort = await freePort();
    await writeFile(join(dir, 'node-pipe.mjs'), `import net from 'node:net';
net.createServer((c) => { const u = net.connect(${apiPorts[0]}, '127.0.0.1'); c.pipe(u).pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }).listen(${pipePort}, '127.0.0.1');
`);
    paths.push({ name: 'node pipe', port: pipePort, pid: start(process.execPath, [join(dir, 'node-pipe.mjs')], { ...process.env, NODE_OPTIONS: '--max-semi-space-size=1' }).pid! });

    for (const p of [...apiPorts, ...paths.map((x) => x.port)]) await waitForPort(p);
    const pids = new Map<string, number[]>();
    for (const p of paths) pids.set(p.name, p.pid ? await processTree(p.pid) : []);
    await new Promise((r) => setTimeout(r, 2000)); // every check has passed and the tiers are set

    const scenarios = LOADS.flatMap((c) => [
      { name: `keep-alive, ${c} conn`, extra: [`-c${c}`], conns: c },
      { name: `new conn each, ${c} conn`, extra: [`-c${c}`, '-H', 'Connection: close'], conns: c },
    ]);
    const results = new Map<string, WrkResult[]>();
    for (const p of paths) await wrk(`http://127.0.0.1:${p.port}/small`, ['-d1s', '-c10']); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const sc of scenarios) {
        const order = paths.map((_, i) => paths[(i + round) % paths.length]!);
        for (const p of order) {
          const r = await wrk(`http://127.0.0.1:${p.port}/small`, sc.extra, pids.get(p.name));
          results.set(`${sc.name}|${p.name}`, [...(results.get(`${sc.name}|${p.name}`) ?? []), r]);
          process.stderr.write(`round ${round + 1}/${ROUNDS} ${sc.name.padEnd(22)} ${p.name.padEnd(9)} p50 ${r.p50ms.toFixed(3)}ms p99 ${r.p99ms.toFixed(3)}ms ${r.rps.toFixed(0).padStart(7)} req/s cpu ${r.cpuMsPer1k.toFixed(1)}ms/1k errors ${r.errors}\n`);
        }
      }
    }
    const names = paths.map((p) => p.name);
    const med = (sc: string, name: string, f: (r: WrkResult) => number) => median((results.get(`${sc}|${name}`) ?? []).map(f));
    const lines = [`wrk -t1 -d${DURATION_S}s on loopback, median of ${ROUNDS} interleaved rounds, ${new Date().toISOString()}`, ''];
    lines.push(`| load | metric | ${names.join(' | ')} | kubeha / nginx |`, `|---|---|${names.map(() => '---|').join('')}---|`);
    for (const sc of ROUNDS > 0 ? scenarios : []) {
      for (const [metric, f, digits] of [['p50 ms', (r: WrkResult) => r.p50ms, 3], ['p99 ms', (r: WrkResult) => r.p99ms, 3], ['req/s', (r: WrkResult) => r.rps, 0], ['LB CPU ms / 1k req', (r: WrkResult) => r.cpuMsPer1k, 1]] as const) {
        const v = names.map((n) => med(sc.name, n, f));
        const k = v[names.indexOf('kubeha')]!;
        const n = v[names.indexOf('nginx')]!;
        lines.push(`| ${sc.name} | ${metric} | ${v.map((x, i) => (names[i] === 'direct' && metric.startsWith('LB CPU') ? '-' : x.toFixed(digits))).join(' | ')} | ${(k / n).toFixed(2)}× |`);
      }
    }
    lines.push(...(await memoryTable(paths.filter((x) => x.pid), pids)));
    const errs = [...results.entries()].filter(([, rs]) => rs.some((r) => r.errors > 0)).map(([k, rs]) => `${k}: ${rs.map((r) => r.errors).join('/')}`);
    if (errs.length) lines.push('', `errors: ${errs.join('; ')}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
