// `npm run bench:proxy`: kubeha against haproxy (nbthread 1, mode tcp) and nginx stream
// (1 worker), interleaved in one run on loopback, in front of the same nginx backends, loaded by
// wrk. Prints a table with ratios to haproxy. Not a test: it asserts nothing, it measures.
// Needs the Debian packages haproxy, nginx, libnginx-mod-stream and wrk.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { benchWorkspace, freePort, SMALL_AND_64K, writeBackendNginx, KUBEHA_BIN, memoryTable, median, processTree, waitForPort, wrk, type WrkResult, DURATION_S, ROUNDS, CONNECTIONS } from './lb-harness.js';

async function main(): Promise<void> {
  const { dir, start, cleanup } = await benchWorkspace('kubeha-bench-');
  try {
    // Backends: one nginx, one worker, two ports (as two apiservers), small and 64 KiB answers.
    const backendPorts = [await freePort(), await freePort()];
    await writeFile(join(dir, '64k.bin'), Buffer.alloc(64 * 1024, 120));
    const backendConf = writeBackendNginx(dir, backendPorts.map((p) => `127.0.0.1:${p}`), SMALL_AND_64K);
    start('nginx', ['-c', backendConf, '-e', join(dir, 'backend-error.log')]);

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
    lines.push(...(await memoryTable(lbs, pids)));
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
