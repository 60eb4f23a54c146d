// keepalived's vrrp_script: a command run every `interval`, killed after `timeout`, judged by its
// exit status, with rise/fall on the same single health counter as the server checks.
import type { Clock, Timer } from '../clock.js';
import type { TrackScriptConfig } from '../config/schema.js';
import { applyCheck, initialHealth, type HealthState } from '../health/health-state.js';
import { killShell, spawnShell } from './shell.js';

/** One tracked script; `onChange` fires when its verdict flips. */
export class TrackScript {
  health: HealthState;
  lastExit: number | string | undefined;
  /** Runs completed so far. */
  runs = 0;
  private timer: Timer | undefined;
  private stopped = false;

  constructor(
    readonly cfg: TrackScriptConfig,
    private readonly clock: Clock,
    private readonly onChange: (script: TrackScript) => void,
  ) {
    // keepalived assumes a script passes until it has failed `fall` times (its init_fail is off by default).
    this.health = { ...initialHealth(cfg, clock.now()), health: cfg.rise + cfg.fall - 1 };
  }

  /** Whether the script currently passes. */
  get ok(): boolean {
    return this.health.up;
  }

  start(): void {
    this.run();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private run(): void {
    if (this.stopped) return;
    const child = spawnShell(this.cfg.command);
    let timedOut = false;
    const killer = this.clock.setTimeout(() => {
      timedOut = true;
      killShell(child);
    }, this.cfg.timeout);
    let done = false;
    const finished = (code: number | string) => {
      if (done) return;
      done = true;
      killer.cancel();
      if (this.stopped) return;
      this.lastExit = timedOut ? 'timeout' : code;
      this.runs++;
      const before = this.health.up;
      this.health = applyCheck(this.health, code === 0 && !timedOut, this.cfg, this.clock.now());
      if (this.health.up !== before) this.onChange(this);
      this.timer = this.clock.setTimeout(() => this.run(), this.cfg.interval);
    };
    child.on('error', (err: NodeJS.ErrnoException) => finished(err.code ?? 'error'));
    child.on('exit', (code, signal) => finished(code ?? signal ?? 'error'));
  }
}
