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
