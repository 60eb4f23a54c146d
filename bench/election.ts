// `npm run bench:election`: handover and crash-takeover times of kubeha's election against a real
// 3-member etcd (Debian etcd-server) on loopback, 20 trials each, at kubeha's defaults (TTL 5 s,
// margin 1 s) and at TTL 2 s. Two `kubeha elect` processes per trial; the leader's child is a
// command that prints when it starts; we time from the resign (SIGTERM to the leader) or the crash
// (SIGKILL) to the moment the other process's child starts. client-go's documented defaults are
// printed alongside for comparison. Not a test: it asserts nothing, it measures.
//   BENCH_TRIALS=20
import { fileURLToPath } from 'node:url';
import { startEtcd } from '../test/support/etcd.js';
import { spawnKubeha, type JsonProcess } from '../test/support/processes.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 20);
const CHILD = fileURLToPath(new URL('../test/support/elect-child.js', import.meta.url));

type Line = { event?: string; at?: number; pid?: number };

function scope() {
  const after: (() => unknown)[] = [];
  return { t: { after: (fn: () => unknown) => void after.push(fn) }, close: async () => { for (const fn of after.reverse()) await fn(); } };
}

const stats = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  const med = v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  return { median: med, min: v[0]!, max: v[v.length - 1]! };
};

const outer = scope();
const etcd = await startEtcd(outer.t);
const eps = etcd.endpoints.join(',');
const rows: string[] = [];
let n = 0;
for (const [label, timing] of [['TTL 5s, margin 1s (defaults)', ['--ttl', '5s', '--margin', '1s', '--kill-grace', '500ms']], ['TTL 2s, margin 500ms', ['--ttl', '2s', '--margin', '500ms', '--kill-grace', '200ms']]] as const) {
  for (const how of ['resign (SIGTERM)', 'crash (SIGKILL)'] as const) {
    const times: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const { t, close } = scope();
      const name = `bench-${n++}`;
      const start = (id: string) => spawnKubeha(['elect', '--etcd', eps, '--name', name, '--identity', id, ...timing, '--', process.execPath, CHILD], t);
      const started = (p: JsonProcess) => p.waitFor((l) => (l as Line).event === 'start', 20_000, 'child start') as Promise<Line>;
      const a = start('a');
      const aChild = await started(a);
      const b = start('b');
      await new Promise((r) => setTimeout(r, 300 + ((i * 137) % 1000))); // hit every point of the keepalive cycle
      const at = Date.now();
      if (how === 'crash (SIGKILL)') {
        a.child.kill('SIGKILL');
        process.kill(aChild.pid!, 'SIGKILL'); // the crashed node's child dies with it
      } else a.child.kill('SIGTERM');
      const bChild = await started(b);
      times.push(bChild.at! - at);
      process.stderr.write(`${label} ${how} trial ${i + 1}: ${bChild.at! - at} ms\n`);
      for (const l of b.lines as Line[]) if (l.event === 'start' && l.pid) try { process.kill(l.pid, 'SIGKILL'); } catch { /* gone */ }
      await close();
    }
    const s = stats(times);
    rows.push(`| kubeha, ${label} | ${how} | ${s.median.toFixed(0)} | ${s.min.toFixed(0)} | ${s.max.toFixed(0)} |`);
  }
}
await outer.close();
console.log(`\nElection failover, ms from the signal to the new leader's child running (${TRIALS} trials per row, 3-member etcd on loopback):\n`);
console.log('| candidate | leader ends by | median | min | max |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log('| client-go leaderelection defaults (LeaseDuration 15s, RenewDeadline 10s, RetryPeriod 2s), documented | release on cancel (ReleaseOnCancel) | ≤ 2000 (next retry) | | |');
console.log('| client-go leaderelection defaults, documented | crash | 15000-17000 (lease duration + retry period) | | |');
