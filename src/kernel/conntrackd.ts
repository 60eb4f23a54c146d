// The conntrackd that replicates the kernel frontends' flows (conntrack-sync.ts has the why), run
// and watched by kubeha. Like the nftables table it outlives a kubeha restart: a successor finds it
// answering on its control socket and adopts it, so replication goes on while kubeha is away. One
// that stopped answering is started again (a stale lock file of a killed one is removed first).
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Clock, Timer } from '../clock.js';
import type { Logger } from '../observe/logger.js';
import { conntrackdPaths, renderConntrackdConf, type ConntrackSyncSettings } from './conntrack-sync.js';

/** How often the supervisor asks conntrackd whether it is alive. */
export const CONNTRACKD_CHECK_MS = 2000;

/** What the state API shows of the replication. */
export interface ConntrackSyncStats {
  peer: string;
  running: boolean;
  /** Whether this process found a conntrackd of an earlier one and kept it. */
  adopted: boolean;
  /** conntrackd starts by this process (the first included). */
  starts: number;
  lastError: string | null;
}

export class ConntrackdSupervisor {
  private timer: Timer | undefined;
  private stopped = false;
  private checking: Promise<void> | undefined;
  /** Liveness checks completed (tests wait on it). */
  checks = 0;
  readonly stats: ConntrackSyncStats;

  constructor(
    readonly settings: ConntrackSyncSettings,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {
    this.stats = { peer: settings.peer, running: false, adopted: false, starts: 0, lastError: null };
  }

  private run(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.settings.conntrackd, args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
        if (err) {
          const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${this.settings.conntrackd} is not installed (Debian package conntrackd)` : (stderr || stdout || err.message).trim();
          reject(new Error(why));
        } else resolve(stdout);
      });
    });
  }

  /** Whether a conntrackd answers on this config's control socket. */
  private async answers(): Promise<boolean> {
    const { config } = conntrackdPaths(this.settings.runDir);
    return this.run(['-C', config, '-s']).then(() => true, () => false);
  }

  /**
   * Writes the config and makes sure a conntrackd runs it: one already answering with the same
   * config is kept, one with another config is stopped and started again. Resolves with a problem
   * (empty: running).
   */
  async start(): Promise<string | undefined> {
    const paths = conntrackdPaths(this.settings.runDir);
    const text = renderConntrackdConf(this.settings);
    await mkdir(this.settings.runDir, { recursive: true });
    const old = await readFile(paths.config, 'utf8').catch(() => undefined);
    if (await this.answers()) {
      if (old === text) {
        this.stats.adopted = true;
        this.stats.running = true;
        this.log.info({ event: 'conntrack-sync-adopted', peer: this.settings.peer }, `conntrackd of an earlier run keeps replicating the kernel frontends' flows to ${this.settings.peer}`);
        this.schedule();
        return undefined;
      }
      await this.run(['-C', paths.config, '-k']).catch(() => undefined);
    }
    await writeFile(paths.config, text);
    const problem = await this.launch();
    this.schedule();
    return problem;
  }

  private async launch(): Promise<string | undefined> {
    const paths = conntrackdPaths(this.settings.runDir);
    // a conntrackd that was killed leaves its lock file, and the next one refuses to start
    await rm(paths.lock, { force: true });
    await rm(paths.socket, { force: true });
    try {
      await this.run(['-d', '-C', paths.config]);
      this.stats.starts++;
      this.stats.running = true;
      this.stats.lastError = null;
      this.log.info({ event: 'conntrack-sync-started', peer: this.settings.peer }, `conntrackd started: the kernel frontends' flows are replicated to ${this.settings.peer}`);
      return undefined;
    } catch (err) {
      const message = `conntrackd did not start: ${err instanceof Error ? err.message : String(err)} (its log: ${paths.log}) [KUBEHA_ERR_KERNEL]`;
      this.stats.running = false;
      this.stats.lastError = message;
      this.log.error({ event: 'conntrack-sync-failed', peer: this.settings.peer }, message);
      return message;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.checking = this.check().finally(() => {
        this.checking = undefined;
        this.checks++;
        this.schedule();
      });
    }, CONNTRACKD_CHECK_MS);
  }

  private async check(): Promise<void> {
    if (await this.answers()) {
      this.stats.running = true;
      return;
    }
    if (this.stopped) return;
    this.stats.running = false;
    this.log.warn({ event: 'conntrack-sync-lost', peer: this.settings.peer }, 'conntrackd stopped answering: starting it again (flows opened meanwhile are not on the peer until its resync)');
    await this.launch();
  }

  /** Stops watching; conntrackd goes on replicating (a successor adopts it). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.checking;
  }

  /** Stops watching and ends conntrackd (conntrackSync removed from the config, or `kubeha run --cleanup`). */
  async kill(): Promise<void> {
    await this.stop();
    await killConntrackd(this.settings.conntrackd, this.settings.runDir);
    this.stats.running = false;
  }
}

/** Ends the conntrackd of a run folder, if one answers there. */
export async function killConntrackd(binary: string, runDir: string): Promise<boolean> {
  const { config } = conntrackdPaths(runDir);
  return new Promise((resolve) => execFile(binary, ['-C', config, '-k'], { timeout: 10_000 }, (err) => resolve(!err)));
}
