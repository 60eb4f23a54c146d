// `npm run bench:vrrp-pause` (root): what a VM stun (the whole master stopped with SIGSTOP for a
// while, then SIGCONT) does to the VIP, kubeha against Debian keepalived in the same bed, both at
// v3 100 ms adverts. Per trial: master (150) and backup (100) in two namespaces; the master is
// stopped for PAUSE ms; we count the VIP's moves in the 3 s after it resumes (`ip monitor address`
// on both), and how long the VIP was on no node or on both. Not a test: it measures.
//   BENCH_TRIALS=3 (per cell)   BENCH_PAUSES=200,300,500,1000 (ms)
import { readFileSync } from 'node:fs';
import { createBed, startKeepalived, startKubeha, VIP, watchAddresses, type Bed, type NsProcess, type VrrpSettings } from '../test/support/netns.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);
const PAUSES = (process.env.BENCH_PAUSES ?? '200,300,500,1000').split(',').map(Number);
const S: VrrpSettings = { version: 3, advertIntervalMs: 100, vrid: 83 };
type Daemon = 'kubeha' | 'keepalived';

function scope() {
  const after: (() => unknown)[] = [];
  return { t: { after: (fn: () => unknown) => void after.push(fn) }, close: async () => { for (const fn of after.reverse()) await fn(); } };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const start = (d: Daemon, bed: Bed, i: number, priority: number): NsProcess =>
  d === 'kubeha' ? startKubeha(bed, bed.hosts[i]!, S, priority) : startKeepalived(bed, bed.hosts[i]!, S, priority);
const masterRe = (d: Daemon) => (d === 'kubeha' ? /"to":"master"/ : /Entering MASTER STATE/);
const backupRe = (d: Daemon) => (d === 'kubeha' ? /"to":"backup"/ : /Entering BACKUP STATE/);

/**
 * One trial: who held the VIP, step by step from the stop to 3 s after the resume (`a` the master,
 * `b` the backup, `ab` both, `-` none: "a ab b" is one clean move, "a ab a" a takeover and straight
 * back), and the ms it was on both nodes.
 */
async function trial(d: Daemon, pauseMs: number): Promise<[string, number]> {
  const { t, close } = scope();
  try {
    const bed = createBed(t, 2);
    const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
    const master = start(d, bed, 0, 150);
    await master.waitLine(masterRe(d), 15_000);
    const backup = start(d, bed, 1, 100);
    await backup.waitLine(backupRe(d), 15_000);
    const [monA, monB] = await Promise.all([watchAddresses(a), watchAddresses(b)]);
    await sleep(500);
    // keepalived's VRRP runs in a child process: a stun stops every process of the node.
    const pids = d === 'kubeha' ? [master.child.pid!] : ['main', 'vrrp'].map((k) => Number(readFileSync(`${bed.dir}/${a.ns}-${k}.pid`, 'utf8')));
    for (const p of pids) process.kill(p, 'SIGSTOP');
    const stoppedAt = Date.now();
    await sleep(pauseMs);
    for (const p of pids) process.kill(p, 'SIGCONT');
    await sleep(3000);
    const events = [
      ...monA.lines.map((l) => ({ ...l, host: 'a' })),
      ...monB.lines.map((l) => ({ ...l, host: 'b' })),
    ].filter((l) => l.atMs >= stoppedAt && l.line.includes(`inet ${VIP}/`)).sort((x, y) => x.atMs - y.atMs);
    const on: Record<string, boolean> = { a: true, b: false };
    const holder = () => (on.a && on.b ? 'ab' : on.a ? 'a' : on.b ? 'b' : '-');
    const steps = [holder()];
    let both = 0;
    let since = 0;
    for (const e of events) {
      const wasBoth = on.a && on.b;
      on[e.host] = !e.line.startsWith('Deleted');
      if (!wasBoth && on.a && on.b) since = e.atMs;
      if (wasBoth && !(on.a && on.b)) both += e.atMs - since;
      if (holder() !== steps[steps.length - 1]) steps.push(holder());
    }
    return [steps.join(' '), both];
  } finally {
    await close();
  }
}

const rows: string[] = [];
for (const pause of PAUSES) {
  for (const d of ['keepalived', 'kubeha'] as const) {
    const results: [string, number][] = [];
    for (let i = 0; i < TRIALS; i++) {
      const r = await trial(d, pause);
      results.push(r);
      process.stderr.write(`pause ${pause} ms ${d} trial ${i + 1}: VIP ${r[0]}, on both nodes ${r[1]} ms\n`);
    }
    rows.push(`| ${pause} | ${d} | ${results.map((r) => r[0]).join(', ')} | ${results.map((r) => r[1]).join(', ')} |`);
  }
}
console.log(`\nMaster stopped (SIGSTOP) for a while, v3 100 ms adverts, backup priority 100 (master down after ~361 ms); ${TRIALS} trials per row:\n`);
console.log('| pause ms | daemon | who held the VIP (per trial) | ms on both nodes (per trial) |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);
console.log('\na: the backup did not take over. a ab b: it took over and kept the VIP (kubeha: the resumed master yields, and preempts after a 10 s hold-down). a ab a: it took over and the resumed master took the VIP straight back.');
