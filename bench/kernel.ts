// `npm run bench:kernel` (root): both of kubeha's data planes next to haproxy (nbthread 1, mode
// tcp), nginx stream (1 worker) and a direct connection, in network namespaces on one bridge:
// client hosts | LB hosts | a backend host (one nginx, two ports per path as two apiservers), so
// every path crosses veth pairs as it would cross a network. The kernel data plane runs twice: on an LB
// host of its own (DNAT at prerouting, forwarded) and on a client host of its own (node-local, DNAT
// at output). Each path's hosts have only that path's netfilter hooks: conntrack runs on a host only
// when the path through it needs it (a kernel table on the shared client or LB host would make
// every other path pay for a conntrack entry per connection there too, and direct would not be the
// physical limit). wrk runs on the path's client host, with two threads (BENCH_WRK_THREADS): with
// one, its thread and the softirq work of the packets it sends fill one core while the other idles
// on the paths with no process of their own (direct and kernel: 75–78 % of the two cores busy at
// -c50, -c100 and -c200 alike), so the figure was the client's limit, not the path's; with two,
// every path keeps both cores busy (the busy share is printed per run) and a path's rate is what the
// machine does with that path's cost. Before each run every host's conntrack table and TIME_WAIT
// sockets are emptied, so no run inherits the previous ones'. Then the memory with BENCH_HELD
// (9000) held connections through each.
// Prints tables with ratios to haproxy and to direct. Not a test: it asserts nothing, it measures.
// Needs root and the Debian packages haproxy, nginx, libnginx-mod-stream, wrk, nftables, conntrack.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { benchWorkspace, CONNECTIONS, DURATION_S, KUBEHA_BIN, median, processTree, ROUNDS, run, SMALL_AND_64K, wrk, writeBackendNginx, type WrkResult } from './lb-harness.js';
import { cpuShare, cpuTimes, rssKiB } from './proc-stats.js';

// A user-space proxy holds two descriptors per connection: 9000 fits the 20000 of this machine's hard limit.
const HELD = Number(process.env.BENCH_HELD ?? 9000);
const WRK_THREADS = Number(process.env.BENCH_WRK_THREADS ?? 2);
const HOLD_CLIENT = fileURLToPath(new URL('./hold-client.js', import.meta.url));
const id = `kb${process.pid}`;
// client: wrk for every path but the node-local one; lb: haproxy, nginx, kubeha user space (no
// netfilter table); kernelLb: kubeha with a kernel frontend; local: the node-local kernel client host
const NS = { bridge: `${id}br`, client: `${id}c`, lb: `${id}l`, backend: `${id}b`, kernelLb: `${id}k`, local: `${id}n` };
// TEST-NET-2, only ever inside these namespaces
const IP = { client: '198.51.100.1', lb: '198.51.100.2', backend: '198.51.100.3', kernelLb: '198.51.100.4', local: '198.51.100.5' };
const HOSTS = ['client', 'lb', 'backend', 'kernelLb', 'local'] as const;
const LOCAL_SERVICE = '169.254.99.1';

/**
 * Empties every host's conntrack table and kills its TIME_WAIT sockets (no connection is open
 * between runs); returns how many of each there were. A new connection per request leaves
 * thousands of both a second (TIME_WAIT 60 s on the host that closes first, the conntrack entry
 * 120 s on a tracking host), up to the per-host caps, and a later run would inherit them.
 */
async function flushHosts(): Promise<{ entries: number; timeWait: number }> {
  let entries = 0;
  let timeWait = 0;
  for (const host of HOSTS) {
    entries += Number((await inNs(NS[host], 'conntrack', ['-C'])).stdout.trim()) || 0;
    await inNs(NS[host], 'conntrack', ['-F']).catch(() => undefined);
    timeWait += (await inNs(NS[host], 'ss', ['-Htan', 'state', 'time-wait'], { maxBuffer: 64 << 20 })).stdout.split('\n').filter(Boolean).length;
    await inNs(NS[host], 'ss', ['-K', 'state', 'time-wait'], { maxBuffer: 64 << 20 });
  }
  return { entries, timeWait };
}
// Each path has its own pair of backend ports (direct, haproxy, nginx, kubeha user space, kernel on
// the LB, kernel on the client): with a new connection per request the paths that leave the LB
// host from its address would otherwise meet each other's TIME_WAIT connections on the backend.
const PATHS = 6;
const backendPorts = (path: number) => [8001 + 2 * path, 8002 + 2 * path];
const BACKEND_PORTS = Array.from({ length: PATHS }, (_, i) => backendPorts(i)).flat();

const ip = (...args: string[]) => run('ip', args);
const inNs = (ns: string, cmd: string, args: string[], opts: { maxBuffer?: number } = {}) => run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
const via = (ns: string) => ['ip', 'netns', 'exec', ns];

async function createBed(): Promise<void> {
  await ip('netns', 'add', NS.bridge);
  await ip('-n', NS.bridge, 'link', 'add', 'br0', 'type', 'bridge');
  await ip('-n', NS.bridge, 'link', 'set', 'br0', 'up');
  for (const [i, host] of HOSTS.entries()) {
    const ns = NS[host];
    await ip('netns', 'add', ns);
    await ip('-n', NS.bridge, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip('-n', NS.bridge, 'link', 'set', `p${i}`, 'master', 'br0');
    await ip('-n', NS.bridge, 'link', 'set', `p${i}`, 'up');
    await ip('-n', ns, 'addr', 'add', `${IP[host]}/24`, 'dev', 'eth0');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  await inNs(NS.kernelLb, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  // a new connection per request opens ~40,000 in a 5 s run from one address: more ports than the
  // default range, and TIME_WAIT ones reused, on the hosts that connect (the clients; the LB's proxies)
  for (const ns of [NS.client, NS.local, NS.lb]) await inNs(ns, 'sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65000']);
  // the node-local service address: on the node-local client host itself (its own flows are DNATed at output)
  await ip('-n', NS.local, 'addr', 'add', `${LOCAL_SERVICE}/32`, 'dev', 'eth0');
}

async function removeBed(): Promise<void> {
  for (const ns of Object.values(NS)) await ip('netns', 'del', ns).catch(() => undefined);
}

/** Waits until `url` answers from the client host `ns`. */
async function waitForUrl(url: string, ns: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await inNs(ns, 'wrk', ['-t1', '-c1', '-d1s', url]).then((r) => /Requests\/sec/.test(r.stdout) && !/Non-2xx|Socket errors/.test(r.stdout), () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer from ${ns}`);
  }
}

/** The size of one conntrack entry in the kernel (the nf_conntrack slab's object size). */
function conntrackEntryBytes(): number {
  const row = readFileSync('/proc/slabinfo', 'utf8').split('\n').find((l) => l.startsWith('nf_conntrack '));
  return Number(row?.split(/\s+/)[3] ?? NaN);
}

/** Established conntrack entries in a namespace of TCP flows to host:port (the held connections; not wrk's, which are closing). */
async function heldEntries(ns: string, host: string, port: number): Promise<number> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, 'conntrack', '-L', '-p', 'tcp', '--orig-dst', host, '--orig-port-dst', String(port), '--state', 'ESTABLISHED'], { maxBuffer: 64 << 20 }).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter((l) => l.startsWith('tcp')).length;
}

interface Target {
  name: string;
  url: (path: string) => string;
  host: string;
  port: number;
  /** The namespaces of the path's client host and of its LB host (none for direct). */
  clientNs: string;
  lbNs?: string;
  /** The processes whose CPU and memory count (none for direct; kubeha's for a kernel frontend, which forwards nothing itself). */
  pids: number[];
}

async function main(): Promise<void> {
  const { dir, start, cleanup } = await benchWorkspace('kubeha-bench-kernel-');
  await removeBed();
  await createBed();
  const startIn = (ns: string, cmd: string, args: string[]) => start('ip', ['netns', 'exec', ns, cmd, ...args]);
  try {
    writeFileSync(join(dir, '64k.bin'), Buffer.alloc(64 * 1024, 120));
    const backendConf = writeBackendNginx(dir, BACKEND_PORTS.map((p) => `${IP.backend}:${p}`), SMALL_AND_64K, { connections: 19990, nofile: 20000, keepaliveTimeout: '300s' });
    startIn(NS.backend, 'nginx', ['-c', backendConf, '-e', join(dir, 'backend-error.log')]);

    writeFileSync(join(dir, 'haproxy.cfg'), `
global
  nbthread 1
  maxconn 9990
defaults
  mode tcp
  timeout connect 3s
  timeout client 1h
  timeout server 1h
frontend fe
  bind ${IP.lb}:7001
  default_backend be
backend be
  balance roundrobin
${backendPorts(1).map((p, i) => `  server s${i} ${IP.backend}:${p}`).join('\n')}
`);
    const haproxy = startIn(NS.lb, 'haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db']);
    writeFileSync(join(dir, 'stream.conf'), `
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid ${dir}/stream.pid;
error_log ${dir}/stream-error.log warn;
events { worker_connections 19990; }
stream {
  upstream be { ${backendPorts(2).map((p) => `server ${IP.backend}:${p};`).join(' ')} }
  server { listen ${IP.lb}:7002 backlog=4096; proxy_pass be; proxy_timeout 1h; }
}`);
    const nginx = startIn(NS.lb, 'nginx', ['-c', join(dir, 'stream.conf'), '-e', join(dir, 'stream-error.log')]);

    const kubehaConfig = (file: string, bind: string, admin: number, dataPlane: string, path: number) => {
      writeFileSync(join(dir, file), JSON.stringify({
        global: { logLevel: 'warn' },
        admin: { bind: `127.0.0.1:${admin}` },
        frontends: [{ name: 'fe', bind, backend: 'be', dataPlane }],
        backends: [{ name: 'be', healthCheck: { type: 'tcp', interval: '2s' }, servers: backendPorts(path).map((p, i) => ({ name: `s${i}`, address: `${IP.backend}:${p}` })) }],
      }));
      return join(dir, file);
    };
    const kubehaUser = startIn(NS.lb, process.execPath, [KUBEHA_BIN, 'run', '--config', kubehaConfig('user.yaml', `${IP.lb}:7003`, 9101, 'userspace', 3)]);
    const targets: Target[] = [
      { name: 'direct', url: (p) => `http://${IP.backend}:${BACKEND_PORTS[0]}${p}`, host: IP.backend, port: BACKEND_PORTS[0]!, clientNs: NS.client, pids: [] },
      { name: 'haproxy', url: (p) => `http://${IP.lb}:7001${p}`, host: IP.lb, port: 7001, clientNs: NS.client, lbNs: NS.lb, pids: [haproxy.pid!] },
      { name: 'nginx', url: (p) => `http://${IP.lb}:7002${p}`, host: IP.lb, port: 7002, clientNs: NS.client, lbNs: NS.lb, pids: [nginx.pid!] },
      { name: 'kubeha userspace', url: (p) => `http://${IP.lb}:7003${p}`, host: IP.lb, port: 7003, clientNs: NS.client, lbNs: NS.lb, pids: [kubehaUser.pid!] },
    ];
    const kubehaKernel = startIn(NS.kernelLb, process.execPath, [KUBEHA_BIN, 'run', '--config', kubehaConfig('kernel.yaml', `${IP.kernelLb}:7004`, 9102, 'kernel', 4)]);
    const kubehaLocal = startIn(NS.local, process.execPath, [KUBEHA_BIN, 'run', '--config', kubehaConfig('local.yaml', `${LOCAL_SERVICE}:7005`, 9103, 'kernel', 5)]);
    targets.push(
      { name: 'kubeha kernel (LB host)', url: (p) => `http://${IP.kernelLb}:7004${p}`, host: IP.kernelLb, port: 7004, clientNs: NS.client, lbNs: NS.kernelLb, pids: [kubehaKernel.pid!] },
      { name: 'kubeha kernel (client host)', url: (p) => `http://${LOCAL_SERVICE}:7005${p}`, host: LOCAL_SERVICE, port: 7005, clientNs: NS.local, pids: [kubehaLocal.pid!] },
    );
    for (const t of targets) await waitForUrl(t.url('/small'), t.clientNs);
    // the claim above, checked: only the kernel paths' hosts track connections
    const tracking: string[] = [];
    for (const host of HOSTS) if ((await inNs(NS[host], 'nft', ['list', 'tables'])).stdout.trim()) tracking.push(host);
    process.stderr.write(`hosts with a netfilter table: ${tracking.join(', ') || 'none'}\n`);
    for (const t of targets) if (t.pids.length) t.pids = await processTree(t.pids[0]!);

    // BENCH_SCENARIOS=new picks the scenarios whose names contain one of its words
    const only = process.env.BENCH_SCENARIOS?.split(',').filter(Boolean);
    const scenarios = [
      { name: 'keep-alive small', path: '/small', extra: [] as string[] },
      { name: '64 KiB responses', path: '/64k', extra: [] },
      { name: 'new conn per request', path: '/small', extra: ['-H', 'Connection: close'] },
    ].filter((sc) => !only || only.some((w) => sc.name.includes(w)));
    const results = new Map<string, WrkResult[]>();
    for (const t of targets) await wrk(t.url('/small'), ['-d1s'], [], via(t.clientNs)); // warm-up (JIT, pools), not counted
    for (let round = 0; round < ROUNDS; round++) {
      for (const sc of scenarios) {
        const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
        for (const t of order) {
          const leftover = await flushHosts();
          const cpuBefore = cpuTimes();
          const r = await wrk(t.url(sc.path), [`-t${WRK_THREADS}`, ...sc.extra], t.pids, via(t.clientNs));
          const cpu = cpuShare(cpuBefore, cpuTimes());
          const key = `${sc.name}|${t.name}`;
          results.set(key, [...(results.get(key) ?? []), r]);
          process.stderr.write(`round ${round + 1}/${ROUNDS} ${sc.name.padEnd(22)} ${t.name.padEnd(28)} ${r.rps.toFixed(0).padStart(7)} req/s ${r.mbps.toFixed(1).padStart(7)} MB/s p99 ${r.p99ms.toFixed(2)}ms errors ${r.errors} CPUs busy/softirq % ${cpu} (emptied first: ${leftover.entries} conntrack entries, ${leftover.timeWait} TIME_WAIT sockets)\n`);
        }
      }
    }

    const lines: string[] = [];
    lines.push(`network namespaces client | LB | backend on one bridge (each path on hosts of its own), wrk -t${WRK_THREADS} -c${CONNECTIONS} -d${DURATION_S}s on the client host, median of ${ROUNDS} interleaved rounds, ${new Date().toISOString()}`, '');
    lines.push(`| scenario | metric | ${targets.map((t) => t.name).join(' | ')} | kernel (LB) / haproxy | kernel (LB) / direct | kernel (client) / haproxy | userspace / haproxy |`);
    lines.push(`|---|---|${targets.map(() => '---|').join('')}---|---|---|---|`);
    const med = (sc: string, t: string, f: (r: WrkResult) => number) => median((results.get(`${sc}|${t}`) ?? []).map(f));
    for (const sc of ROUNDS > 0 ? scenarios : []) {
      const f = sc.name.startsWith('64') ? (r: WrkResult) => r.mbps : (r: WrkResult) => r.rps;
      const v = targets.map((t) => med(sc.name, t.name, f));
      const [direct, haproxyV, , user, kernelLb, kernelClient] = v as [number, number, number, number, number, number];
      lines.push(`| ${sc.name} | ${sc.name.startsWith('64') ? 'MB/s' : 'req/s'} | ${v.map((x) => x.toFixed(0)).join(' | ')} | ${(kernelLb / haproxyV).toFixed(2)}× | ${(kernelLb / direct).toFixed(2)}× | ${(kernelClient / haproxyV).toFixed(2)}× | ${(user / haproxyV).toFixed(2)}× |`);
      lines.push(`| ${sc.name} | p99 ms | ${targets.map((t) => med(sc.name, t.name, (r) => r.p99ms).toFixed(2)).join(' | ')} | | | | |`);
    }
    const errs = [...results.entries()].filter(([, rs]) => rs.some((r) => r.errors > 0)).map(([k, rs]) => `${k}: ${rs.map((r) => r.errors).join('/')}`);
    if (errs.length) lines.push('', `errors: ${errs.join('; ')}`);

    lines.push('', `memory holding ${HELD} keep-alive connections (one answered request each) through each: the LB processes' VmRSS, and the conntrack entries they add on the client and LB hosts × the entry size (${conntrackEntryBytes()} B)`, '');
    lines.push('| data plane | idle MiB | loaded MiB | KiB per connection (process) | KiB per connection (conntrack entries) |', '|---|---|---|---|---|');
    for (const t of targets.slice(1)) {
      const idle = rssKiB(t.pids);
      // the entries the held connections add, in the namespaces they pass (client and LB host)
      const entries = async () => (await heldEntries(t.clientNs, t.host, t.port)) + (t.lbNs ? await heldEntries(t.lbNs, t.host, t.port) : 0);
      const entriesIdle = await entries();
      const hold = spawn('ip', ['netns', 'exec', t.clientNs, process.execPath, HOLD_CLIENT, t.host, String(t.port), String(HELD)], { stdio: ['pipe', 'pipe', 'inherit'] });
      const ready = await new Promise<boolean>((resolve) => {
        createInterface({ input: hold.stdout! }).once('line', (l) => resolve(l === 'ready'));
        hold.once('exit', () => resolve(false));
      });
      const loaded = rssKiB(t.pids);
      const entriesLoaded = await entries();
      hold.stdin!.end();
      await new Promise((r) => hold.once('exit', r));
      const row = ready ? `| ${t.name} | ${(idle / 1024).toFixed(1)} | ${(loaded / 1024).toFixed(1)} | ${((loaded - idle) / HELD).toFixed(2)} | ${(((entriesLoaded - entriesIdle) * conntrackEntryBytes()) / 1024 / HELD).toFixed(2)} |` : `| ${t.name} | ${(idle / 1024).toFixed(1)} | could not hold ${HELD} | | |`;
      lines.push(row);
      process.stderr.write(`memory ${t.name.padEnd(28)} ${row}\n`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await cleanup();
    await removeBed();
  }
}

main().catch(async (err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  await removeBed();
  process.exit(1);
});
