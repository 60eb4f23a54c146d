// Commands from the config (track scripts, notify hooks) run as `/bin/sh -c` in a process group of
// their own, so a timeout kills the whole command (`sh -c 'sleep 30; ...'` leaves its `sleep`
// behind when only the shell is killed).
import { spawn, type ChildProcess } from 'node:child_process';

/** Starts `command` under /bin/sh; `args` become "$@" (keepalived appends its notify arguments so). */
export function spawnShell(command: string, args: string[] = [], env?: NodeJS.ProcessEnv): ChildProcess {
  const script = args.length ? `${command} "$@"` : command;
  return spawn('/bin/sh', ['-c', script, 'kubeha', ...args], { stdio: 'ignore', detached: true, ...(env ? { env } : {}) });
}

/** SIGKILLs the command's whole process group. */
export function killShell(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
