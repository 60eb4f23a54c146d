// `npm run bench:failover` (root): kubeha against Debian keepalived in the same test bed (three
// network namespaces on a bridge), with the same VRRP settings. Per trial: a master (priority 150)
// and a backup (100) of one kind; the master gets SIGTERM or SIGKILL; we time from the signal to
// the VIP appearing on the backup (`ip monitor address`) and to its gratuitous ARP (IPv6: its
// unsolicited neighbour advertisement) reaching a third namespace (a packet socket there). Not a
// test: it asserts nothing, it measures.
//   BENCH_TRIALS=10 (per cell)   BENCH_SETTINGS=v3-100ms,v3-100ms-ipv6,v2-1s
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rssKiB } from './proc-stats.js';
import { createBed, startKeepalived, startKubeha, VIP, VIP6, watchAddresses, type Bed, type NsProcess, type VrrpSettings } from '../test/support/netns.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 10);
const SETTINGS: Record<string, VrrpSettings> = {
  'v3-100ms': { version: 3, advertIntervalMs: 100, vrid: 81 },
  'v3-100ms-ipv6': { version: 3, advertIntervalMs: 100, vrid: 83, family: 6 },
  'v2-1s': { version: 2, advertIntervalMs: 1000, vrid: 82, authPass: 'k8s-ha' },
};
const chosen = (process.env.BENCH_SETTINGS ?? Object.keys(SETTINGS).join(',')).split(',');
const GARP_WATCH = fileURLToPath(new URL('./garp-watch.js', import.meta.url));

type Daemon = 'kubeha' | 'keepalived';

/** A context like node:test's, for the bed's cleanup. */
function scope() {
  const after: (() => unknown)[] = [];
  return { t: { after: (fn: () => unknown) => void after.push(fn) }, close: async () => { for (const fn of after.reverse()) await fn(); } };
}

const start = (d: Daemon, bed: Bed, i: number, s: VrrpSettings, priority: number): NsProcess =>
  d === 'kubeha' ? startKubeha(bed, bed.hosts[i]!, s, priority) : startKeepalived(bed, bed.hosts[i]!, s, priority);
const masterRe = (d: Daemon) => (d === 'kubeha' ? /"to":"master"/ : /Entering MASTER STATE/);
const backupRe = (d: Daemon) => (d === 'kubeha' ? /"to":"backup"/ : /Entering BACKUP STATE/);

/**
 * One trial: resolves with [ms to the VIP on the backup, ms to the GARP at the observer, the
 * master's resident memory in KiB just before the signal (keepalived: all its processes)].
 */
async function trial(d: Daemon, s: VrrpSettings, signal: 'SIGTERM' | 'SIGKILL'): Promise<[number, number, number]> {
  const { t, close } = scope();
  try {
    const bed = createBed(t, 3);
    const [a, b, c] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0], typeof bed.hosts[0]];
    const v6 = s.family === 6;
    const vip = v6 ? VIP6 : VIP;
    const observer = c.spawn(process.execPath, [GARP_WATCH, 'eth0', v6 ? '6' : '4']);
    await observer.waitLine(/watching/);
    const master = start(d, bed, 0, s, 150);
    await master.waitLine(masterRe(d), 15_000);
    const backup = start(d, bed, 1, s, 100);
    await backup.waitLine(backupRe(d), 15_000);
    const mon = await watchAddresses(b);
    await new Promise((r) => setTimeout(r, Math.max(500, 2 * s.advertIntervalMs)));
    const garpsBefore = observer.lines.length;
    const pidFile = (k: string) => Number(readFileSync(`${bed.dir}/${a.ns}-${k}.pid`, 'utf8'));
    const rss = rssKiB(d === 'kubeha' ? [master.child.pid!] : ['main', 'vrrp'].map(pidFile));
    const killedAt = Date.now();
    if (d === 'keepalived' && signal === 'SIGKILL') {
      // keepalived's VRRP work happens in a child process; a crash of the node kills both.
      process.kill(pidFile('vrrp'), 'SIGKILL');
      master.child.kill('SIGKILL');
    } else master.child.kill(signal);
    const vipLine = await mon.waitLine(new RegExp(`^\\d+: eth0\\s+inet6? ${vip.replace(/\./g, '\\.')}/`), 10_000);
    const deadline = Date.now() + 5000;
    let garpAt: number | undefined;
    while (garpAt === undefined && Date.now() < deadline) {
      // Any GARP for the VIP after the kill comes from the new master: the old one is dead or has
      // released the VIP (neither daemon sends GARPs when it stops).
      garpAt = observer.lines.slice(garpsBefore).find((l) => l.line.includes(`"senderIp":"${vip}"`))?.atMs;
      if (garpAt === undefined) await new Promise((r) => setTimeout(r, 5));
    }
    return [vipLine.atMs - killedAt, (garpAt ?? NaN) - killedAt, rss];
  } finally {
    await close();
  }
}

const stats = (xs: number[]) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  const med = v.length ? (v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2) : NaN;
  return { median: med, min: v[0] ?? NaN, max: v[v.length - 1] ?? NaN, n: v.length };
};

const rows: string[] = [];
for (const name of chosen) {
  const s = SETTINGS[name];
  if (!s) throw new Error(`unknown setting ${name}; pick from ${Object.keys(SETTINGS).join(', ')}`);
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    const results: Record<Daemon, [number, number, number][]> = { kubeha: [], keepalived: [] };
    // Interleaved, so drift on the machine hits both alike.
    for (let i = 0; i < TRIALS; i++) {
      for (const d of ['keepalived', 'kubeha'] as const) {
        const r = await trial(d, s, signal);
        results[d].push(r);
        process.stderr.write(`${name} ${signal} ${d} trial ${i + 1}: VIP ${r[0]} ms, GARP ${r[1]} ms, RSS ${(r[2] / 1024).toFixed(1)} MiB\n`);
      }
    }
    for (const d of ['keepalived', 'kubeha'] as const) {
      const vip = stats(results[d].map((r) => r[0]));
      const garp = stats(results[d].map((r) => r[1]));
      const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
      const rss = stats(results[d].map((r) => r[2] / 1024));
      rows.push(`| ${name} | ${signal} | ${d} | ${f(vip.median)} | ${f(vip.min)} | ${f(vip.max)} | ${f(garp.median)} | ${f(garp.min)} | ${f(garp.max)} | ${garp.n}/${TRIALS} | ${rss.median.toFixed(1)} |`);
    }
  }
}
console.log(`\nFailover, ms from the signal to the master (${TRIALS} trials per row, interleaved):\n`);
console.log('| settings | signal | daemon | VIP median | min | max | GARP seen median | min | max | GARPs seen | master RSS MiB |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
