// `npm run bench:vrrp-flood` (root): a VRRP backup under a hostile segment, kubeha against Debian
// keepalived in the same bed (three network namespaces on a bridge). Per trial: a kubeha master
// (priority 200), a backup (100) of one kind, and a third host that sends, at the lowest CPU
// priority, either low-priority adverts for the VRID (a stale or misconfigured peer) or a flood of
// every malformed kind of packet from four spoofed senders. We count the backup's state changes, the
// CPU it spent, the packets its kernel dropped for a full receive buffer (/proc/net/raw), and for
// kubeha the longest gap between the master's adverts as the backup heard them
// (kubeha_vrrp_advert_gap_max_seconds). Not a test: it asserts nothing, it measures.
//   BENCH_TRIALS=3 (per cell)   BENCH_SCENARIOS=stranger,malformed
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpuMs } from './proc-stats.js';
import { createBed, NS_ADMIN, nsFetchJson, startKeepalived, startKubeha, SUBNET, vrrpSocketDrops, type BedHost, type NsProcess, type VrrpSettings } from '../test/support/netns.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);
const FLOOD = fileURLToPath(new URL('../test/support/vrrp-flood.js', import.meta.url));
const S: VrrpSettings = { version: 3, advertIntervalMs: 100, vrid: 111 };
const MALFORMED = ['random', 'truncated', 'checksum', 'ttl', 'version', 'type', 'length', 'other_vrid', 'zero'];

interface Scenario { rate: number; seconds: number; max: number; classes: string[]; spoof: boolean }
const SCENARIOS: Record<string, Scenario> = {
  stranger: { rate: 1000, seconds: 10, max: 10_000, classes: ['low_priority'], spoof: false },
  malformed: { rate: 20_000, seconds: 10, max: 100_000, classes: [...MALFORMED, 'low_priority'], spoof: true },
};
const chosen = (process.env.BENCH_SCENARIOS ?? Object.keys(SCENARIOS).join(',')).split(',');

type Kind = 'kubeha' | 'keepalived';

/** A context like node:test's, for the bed's cleanup. */
function scope() {
  const after: (() => unknown)[] = [];
  return { t: { after: (fn: () => unknown) => void after.push(fn) }, close: async () => { for (const fn of after.reverse()) await fn(); } };
}

interface Result { transitions: number; masterTransitions: number; cpuMs: number; kernelDrops: number; gapMs: number; sent: number; floodMs: number }

async function trial(kind: Kind, sc: Scenario): Promise<Result> {
  const { t, close } = scope();
  try {
    const bed = createBed(t, 3);
    const [stranger, master, backup] = bed.hosts as [BedHost, BedHost, BedHost];
    const m = startKubeha(bed, master, S, 200, {}, NS_ADMIN);
    await m.waitLine(/"to":"master"/, 15_000);
    const b: NsProcess = kind === 'kubeha' ? startKubeha(bed, backup, S, 100, {}, NS_ADMIN) : startKeepalived(bed, backup, S, 100);
    await b.waitLine(kind === 'kubeha' ? /"to":"backup"/ : /Entering BACKUP STATE/, 15_000);
    await new Promise((r) => setTimeout(r, 1000)); // settled: the backup follows the master
    const pids = kind === 'kubeha' ? [b.child.pid!] : ['main', 'vrrp'].map((k) => Number(readFileSync(`${bed.dir}/${backup.ns}-${k}.pid`, 'utf8')));
    const vrrp = (h: BedHost) => (nsFetchJson(h, 'http://127.0.0.1:9000/api/v1/state') as { vrrp: { transitions: number; adverts: { maxGapMs: number } }[] }).vrrp[0]!;
    const linesFrom = b.lines.length;
    const transitionsBefore = kind === 'kubeha' ? vrrp(backup).transitions : 0;
    const masterBefore = vrrp(master).transitions;
    const cpuBefore = cpuMs(pids);
    const dropsBefore = vrrpSocketDrops(backup);
    const sources = sc.spoof ? [stranger.ip, `${SUBNET}.50`, `${SUBNET}.51`, `${SUBNET}.52`] : [stranger.ip];
    const f = stranger.spawn('nice', ['-n', '19', process.execPath, FLOOD, 'eth0', String(S.vrid), String(sc.rate), String(sc.seconds), String(sc.max), sc.classes.join(','), sources.join(',')]);
    const done = JSON.parse((await f.waitLine(/flood-done/, (sc.seconds + 30) * 1000)).line) as { sent: number; ms: number };
    const transitions = kind === 'kubeha'
      ? vrrp(backup).transitions - transitionsBefore
      : b.lines.slice(linesFrom).filter((l) => /Entering (MASTER|BACKUP|FAULT) STATE/.test(l.line)).length;
    return {
      transitions,
      masterTransitions: vrrp(master).transitions - masterBefore,
      cpuMs: cpuMs(pids) - cpuBefore,
      kernelDrops: vrrpSocketDrops(backup) - dropsBefore,
      gapMs: kind === 'kubeha' ? vrrp(backup).adverts.maxGapMs : NaN,
      sent: done.sent,
      floodMs: done.ms,
    };
  } finally {
    await close();
  }
}

const median = (xs: number[]) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2) : NaN;
};
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');

const rows: string[] = [];
for (const name of chosen) {
  const sc = SCENARIOS[name];
  if (!sc) throw new Error(`unknown scenario ${name}; pick from ${Object.keys(SCENARIOS).join(', ')}`);
  const results: Record<Kind, Result[]> = { kubeha: [], keepalived: [] };
  for (let i = 0; i < TRIALS; i++) {
    for (const kind of ['keepalived', 'kubeha'] as const) {
      const r = await trial(kind, sc);
      results[kind].push(r);
      process.stderr.write(`${name} ${kind} trial ${i + 1}: ${JSON.stringify(r)}\n`);
    }
  }
  for (const kind of ['keepalived', 'kubeha'] as const) {
    const rs = results[kind];
    const pps = median(rs.map((r) => r.sent / (r.floodMs / 1000)));
    rows.push(`| ${name} | ${kind} | ${f0(median(rs.map((r) => r.sent)))} at ${f0(pps)}/s | ${rs.map((r) => r.transitions).join(', ')} | ${rs.map((r) => r.masterTransitions).join(', ')} | ` +
      `${f0(median(rs.map((r) => (r.cpuMs / r.sent) * 1000)))} | ${f0(median(rs.map((r) => r.kernelDrops)))} | ${f0(median(rs.map((r) => r.gapMs)))} |`);
  }
}
console.log(`\nA backup under a hostile VRRP segment (${TRIALS} trials per row, interleaved; v3, 100 ms adverts):\n`);
console.log('| scenario | backup | packets sent | backup transitions per trial | master transitions | backup CPU µs/packet | kernel drops | longest advert gap ms |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
