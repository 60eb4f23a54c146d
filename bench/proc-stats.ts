// What the benches read of a process from /proc: resident memory and CPU time, summed over pids.
import { readFileSync } from 'node:fs';

/** /proc/PID/FILE, or '' when the process is gone. */
function proc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** Resident memory (KiB) of `pids` together (VmRSS). */
export function rssKiB(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + Number(/^VmRSS:\s+(\d+) kB/m.exec(proc(pid, 'status'))?.[1] ?? 0), 0);
}

/** CPU time (user + system, ms) used so far by `pids` and their threads. */
export function cpuMs(pids: number[]): number {
  return pids.reduce((sum, pid) => {
    const stat = proc(pid, 'stat');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return sum + (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 10; // utime + stime in clock ticks (100 Hz)
  }, 0);
}

/** Per-CPU jiffies from /proc/stat: [busy, softirq, total] for each CPU. */
export function cpuTimes(): [number, number, number][] {
  return readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).map((l) => {
    const [user, nice, system, idle, iowait, irq, softirq, steal] = l.split(/\s+/).slice(1).map(Number) as number[];
    const busy = user! + nice! + system! + irq! + softirq! + steal!;
    return [busy, softirq!, busy + idle! + iowait!];
  });
}

/** What each CPU did between two {@link cpuTimes} readings: `busy%/softirq%` per CPU, e.g. "98/41 97/12". */
export function cpuShare(before: [number, number, number][], after: [number, number, number][]): string {
  return after.map(([b, s, t], i) => {
    const [b0, s0, t0] = before[i]!;
    const total = t - t0 || 1;
    return `${Math.round((100 * (b - b0)) / total)}/${Math.round((100 * (s - s0)) / total)}`;
  }).join(' ');
}
