// `npm run bench:bgp` (root): how long a router keeps sending traffic to an LB host that can no
// longer serve it. A router namespace (BIRD 2 or FRR) and two kubeha nodes announcing the VIP
// (ECMP); per trial one node fails and we time from the fault to the router's kernel FIB without
// that node's next hop (polled every 10 ms). Faults: the node unplugged (a dead host: no FIN, no
// NOTIFICATION; with BFD and without), kubeha SIGKILLed (the host's kernel closes the session), its
// tracked backend killed (kubeha withdraws). kube-vip (not in Debian, so not run here) is given by
// its documented defaults. Not a test: it asserts nothing, it measures.
//   BENCH_TRIALS=5 (per cell; the no-BFD cell runs 2: each waits the hold time)
import { birdConfig, createBgpBed, frrConfig, fibNextHops, ROUTER_ASN, startBgpNode, startBird, startFrr, untilBgp, untilFib, type BgpBed } from '../test/support/bgp-bed.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);

/** A context like node:test's, for the bed's cleanup. */
function scope() {
  const after: (() => unknown)[] = [];
  return { t: { after: (fn: () => unknown) => void after.push(fn) }, close: async () => { for (const fn of after.reverse()) await fn(); } };
}

type Fault = 'unplugged' | 'sigkill' | 'backend';
interface Cell { name: string; router: 'bird' | 'frr'; bfd: boolean; fault: Fault; trials: number }

const CELLS: Cell[] = [
  { name: 'node unplugged, BFD 100 ms × 3 (BIRD)', router: 'bird', bfd: true, fault: 'unplugged', trials: TRIALS },
  { name: 'node unplugged, BFD 100 ms × 3 (FRR)', router: 'frr', bfd: true, fault: 'unplugged', trials: TRIALS },
  { name: 'node unplugged, no BFD, hold 9 s (BIRD)', router: 'bird', bfd: false, fault: 'unplugged', trials: Math.min(TRIALS, 2) },
  { name: 'kubeha SIGKILLed, host up (BIRD)', router: 'bird', bfd: true, fault: 'sigkill', trials: TRIALS },
  { name: 'tracked backend killed, checks 100 ms fall 2 (BIRD)', router: 'bird', bfd: true, fault: 'backend', trials: TRIALS },
];

async function trial(c: Cell): Promise<number> {
  const { t, close } = scope();
  try {
    const bb: BgpBed = createBgpBed(t, 2);
    const [n1, n2] = bb.nodes as [typeof bb.nodes[0], typeof bb.nodes[0]];
    if (c.router === 'bird') startBird(bb, birdConfig(bb, { bfd: c.bfd }));
    else await startFrr(bb, frrConfig(bb, { bfd: c.bfd }), c.bfd);
    const peer = { address: bb.router.ip, asn: ROUTER_ASN, ...(c.bfd ? { bfd: { interval: '100ms', multiplier: 3 } } : {}) };
    const a = startBgpNode(bb, n1, { peers: [peer] });
    startBgpNode(bb, n2, { peers: [peer] });
    if (!(await untilFib(bb.router, (h) => h.length === 2, 30_000))) throw new Error(`no ECMP route: ${fibNextHops(bb.router).join(', ')}`);
    if (c.bfd) for (const n of [n1, n2]) await untilBgp(n, (x) => x.peers[0]?.bfd?.state === 'up', 'BFD up');
    const at = Date.now();
    if (c.fault === 'unplugged') bb.bed.plug(1, false);
    else if (c.fault === 'sigkill') a.kubeha.child.kill('SIGKILL');
    else a.backend.child.kill('SIGKILL');
    const gone = await untilFib(bb.router, (h) => h.length === 1 && h[0] === n2.ip, 30_000);
    if (!gone) throw new Error('the next hop never left the FIB');
    return gone - at;
  } finally {
    await close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: string[][] = [['fault (router)', 'trials', 'median ms', 'min', 'max']];
for (const c of CELLS) {
  const times: number[] = [];
  for (let i = 0; i < c.trials; i++) times.push(await trial(c));
  rows.push([c.name, String(c.trials), String(median(times)), String(Math.min(...times)), String(Math.max(...times))]);
  console.error(`${c.name}: ${times.join(', ')} ms`);
}
rows.push(['kube-vip BGP mode, node dead (documented: hold 30 s, no BFD by default)', '-', '30000', '-', '-']);
rows.push(['kube-vip, apiserver dead (documented: #1498 opt-in, 3 × 5 s checks)', '-', '≈15000', '-', '-']);
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  '));
console.log('\nTarget: a dead node out of the routers\' FIB in ≤ 500 ms with BFD at its defaults (100 ms × 3).');
