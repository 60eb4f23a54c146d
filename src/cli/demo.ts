import { request } from 'node:https';
import { configSchema } from '../config/schema.js';
import { parseDuration } from '../config/duration.js';
import { Daemon } from '../daemon.js';
import { createLogger } from '../observe/logger.js';
import type { ServerTransition } from '../proxy/server-pool.js';
import { fullStackDemo, RELAY_ENV, runRelay, stageNamespaces, STAGE_ENV } from '../demo/full-stack.js';
import { runStage, type StageOptions } from '../demo/stage.js';
import { SimApiserver } from '../sim/apiserver.js';
import { selfSignedCert, type CertPair } from '../sim/self-signed.js';

/** Options of `kubeha demo`. */
export interface DemoOptions {
  for?: string;
  port: string;
  quiet?: boolean;
  chaos?: boolean;
  chaosInterval: string;
  /** Stop after this many rounds of the chaos steps (full stack). */
  chaosRounds?: string;
  /** One load balancer on loopback, no namespaces (today's demo; also the fallback). */
  single?: boolean;
}

const NAMES = ['master1', 'master2', 'master3'];
/** Requests per second the demo's own client sends through the load balancer. */
const DEMO_RPS = 20;

/** One stand-in apiserver that chaos can crash and bring back on the same port. */
class DemoMaster {
  sim: SimApiserver;
  port = 0;
  running = false;

  constructor(
    readonly name: string,
    private readonly tls: CertPair,
  ) {
    this.sim = this.make(0);
  }

  private make(port: number): SimApiserver {
    return new SimApiserver({ name: this.name, host: '127.0.0.1', port, tls: this.tls, shutdownDelayMs: 1500, watchGraceMs: 1000, failReadyz: false, latencyMs: 0, blackhole: false });
  }

  async start(): Promise<void> {
    this.sim = this.make(this.port);
    this.port = await this.sim.start();
    this.running = true;
  }

  /** Dies at once, as on SIGKILL or a host crash. */
  crash(): void {
    this.running = false;
    this.sim.stop();
  }

  /** Shuts down as a real apiserver on SIGTERM: /readyz fails first, then the listener closes. */
  async terminate(): Promise<void> {
    this.running = false;
    await this.sim.shutdown();
    this.sim.stop();
  }
}

/** A tiny HTTPS client loop through the load balancer, so there is traffic to watch. */
class DemoTraffic {
  ok = 0;
  failed = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly recent: number[] = [];

  constructor(private readonly port: number) {}

  start(): void {
    this.timer = setInterval(() => this.once(), 1000 / DEMO_RPS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Answered requests in the last second. */
  get rate(): number {
    const cutoff = Date.now() - 1000;
    while (this.recent.length && (this.recent[0] as number) < cutoff) this.recent.shift();
    return this.recent.length;
  }

  private once(): void {
    const req = request({ host: '127.0.0.1', port: this.port, path: '/version', agent: false, rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) {
          this.ok++;
          this.recent.push(Date.now());
        } else this.failed++;
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => this.failed++);
    req.end();
  }
}

/**
 * `kubeha demo`: the whole front door — three stand-in apiservers, two kubeha LB nodes floating a VIP
 * with VRRP, a client through the VIP — in a private user and network namespace (demo/full-stack.ts);
 * where this machine allows no such namespace, it says why in one line and shows one load balancer
 * on loopback instead (`--single`).
 */
export async function demoCommand(opts: DemoOptions): Promise<number> {
  const stage = process.env[STAGE_ENV];
  if (stage) return runStage(JSON.parse(stage) as StageOptions);
  const relaySpec = process.env[RELAY_ENV];
  if (relaySpec) return runRelay(relaySpec);
  const runForMs = opts.for ? parseDuration(opts.for) : undefined;
  const chaosEveryMs = parseDuration(opts.chaosInterval);
  const chaosRounds = opts.chaosRounds === undefined ? undefined : Number(opts.chaosRounds);
  if ((opts.for && runForMs === undefined) || chaosEveryMs === undefined || (chaosRounds !== undefined && !(Number.isInteger(chaosRounds) && chaosRounds > 0))) {
    process.stderr.write(`--for and --chaos-interval take a duration with a unit, like 30s, and --chaos-rounds a whole number [KUBEHA_ERR_USAGE]\n`);
    return 1;
  }
  if (!opts.single) {
    const ns = stageNamespaces();
    if (ns.ok) {
      return fullStackDemo({
        lbPort: Number(opts.port), chaos: !!opts.chaos, chaosIntervalMs: chaosEveryMs, quiet: !!opts.quiet,
        ...(chaosRounds !== undefined ? { chaosRounds } : {}), ...(runForMs !== undefined ? { forMs: runForMs } : {}),
      }, ns.args);
    }
    process.stdout.write(`kubeha demo: ${ns.reason}: showing one load balancer on loopback instead (the VIP and VRRP need a network namespace)\n`);
  }
  return singleLbDemo(opts, runForMs, chaosEveryMs);
}

/**
 * The single-LB demo: three stand-in apiservers on loopback behind a kubeha load balancer with https
 * checks on /readyz, a light client loop through it, and a live summary. `--chaos` crashes or
 * terminates a random master every few seconds and brings it back. No root, no config; Ctrl-C
 * stops everything it started (it starts no child processes that outlive it).
 */
async function singleLbDemo(opts: DemoOptions, runForMs: number | undefined, chaosEveryMs: number): Promise<number> {
  const tls = await selfSignedCert('kubeha-demo');
  const masters = NAMES.map((n) => new DemoMaster(n, tls));
  await Promise.all(masters.map((m) => m.start()));
  const config = configSchema.parse({
    global: { shutdownGrace: '2s', logLevel: 'warn' },
    frontends: [{ name: 'apiserver', bind: `127.0.0.1:${opts.port}`, backend: 'apiservers' }],
    backends: [{
      name: 'apiservers', balance: 'roundrobin', slowStart: '5s',
      healthCheck: { type: 'https', path: '/readyz', interval: '1s', fastInterval: '250ms', downInterval: '1s', timeout: '500ms', rise: 2, fall: 2 },
      servers: masters.map((m) => ({ name: m.name, address: `127.0.0.1:${m.port}` })),
    }],
    admin: { bind: '127.0.0.1:0' },
  });
  // The demo shows server events itself; the daemon's own log keeps to errors on stderr.
  const daemon = new Daemon({ log: createLogger('error', 2) });
  await daemon.start(config);
  const lbPort = daemon.listener('apiserver')?.boundPort ?? 0;
  const adminPort = daemon.adminPort;
  const lines = [
    'kubeha demo: three stand-in kube-apiservers behind one kubeha load balancer',
    '',
    ...masters.map((m) => `  ${m.name.padEnd(13)}  https://127.0.0.1:${m.port}   (stand-in kube-apiserver)`),
    `  load balancer  https://127.0.0.1:${lbPort}`,
    `  dashboard      http://127.0.0.1:${adminPort}/`,
    `  state, metrics http://127.0.0.1:${adminPort}/api/v1/state  http://127.0.0.1:${adminPort}/metrics`,
    '',
    `  try:  curl -k https://127.0.0.1:${lbPort}/version`,
    `        curl -k -X POST 'https://127.0.0.1:${masters[1]?.port}/sim/readyz?fail=true'   # master2 turns unready`,
    `        npx kubeha status --admin 127.0.0.1:${adminPort}                     # then ask kubeha what is wrong`,
    opts.chaos ? '  chaos: a random master crashes or shuts down every few seconds and comes back' : '  (add --chaos to crash and restart masters at random)',
    '',
    runForMs ? `running for ${opts.for}; Ctrl-C stops it` : 'Ctrl-C stops it',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  const traffic = new DemoTraffic(lbPort);
  traffic.start();
  let lastEvent = '';
  daemon.pool('apiservers')?.onTransition((t: ServerTransition) => {
    lastEvent = `${new Date().toTimeString().slice(0, 8)} ${t.server.id} ${t.up ? 'UP' : 'DOWN'} (${t.cause}: ${t.detail})`;
    if (!process.stdout.isTTY && !opts.quiet) process.stdout.write(`event  ${lastEvent}\n`);
  });
  const timers: NodeJS.Timeout[] = [];
  let chaosTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  if (opts.chaos) {
    const chaos = () => {
      chaosTimer = setTimeout(async () => {
        // Only masters the load balancer sees up: one that just came back gets to recover first,
        // and at least one always stays to serve.
        const pool = daemon.pool('apiservers');
        const up = masters.filter((m) => m.running && pool?.servers.some((s) => s.id === m.name && s.health.up));
        const victim = up[Math.floor(Math.random() * up.length)];
        if (victim && up.length > 1 && !stopping) {
          const crash = Math.random() < 0.5;
          lastEvent = `${new Date().toTimeString().slice(0, 8)} chaos: ${crash ? 'crashing' : 'terminating'} ${victim.name}`;
          if (!process.stdout.isTTY && !opts.quiet) process.stdout.write(`event  ${lastEvent}\n`);
          if (crash) victim.crash();
          else await victim.terminate();
          timers.push(setTimeout(() => void (stopping ? undefined : victim.start()), (chaosEveryMs * 2) / 3));
        }
        if (!stopping) chaos();
      }, chaosEveryMs);
    };
    chaos();
  }
  let drawn = 0;
  const draw = () => {
    const pool = daemon.pool('apiservers');
    const rows = (pool?.servers ?? []).map((s) => {
      const state = s.health.up ? (s.effectiveWeight < s.weight ? `UP ${Math.round((100 * s.effectiveWeight) / s.weight)}%` : 'UP') : 'DOWN';
      const latency = s.lastCheck ? `${s.lastCheck.latencyMs.toFixed(1)}ms` : '-';
      return `  ${s.id.padEnd(8)} ${state.padEnd(8)} sessions ${String(s.active).padStart(3)}  total ${String(s.sessionsTotal).padStart(6)}  check ${latency.padStart(7)}  ${s.lastCheck?.detail ?? ''}`;
    });
    const summary = [...rows, `  requests/s ${traffic.rate}   ok ${traffic.ok}   failed ${traffic.failed}`, `  last event ${lastEvent || '-'}`];
    if (process.stdout.isTTY) {
      if (drawn) process.stdout.write(`\x1b[${drawn}A`);
      process.stdout.write(summary.map((l) => `\x1b[2K${l}`).join('\n') + '\n');
      drawn = summary.length;
    }
  };
  if (!opts.quiet) timers.push(setInterval(draw, 500));
  if (!opts.quiet && !process.stdout.isTTY) timers.push(setInterval(() => process.stdout.write(`status requests/s ${traffic.rate} ok ${traffic.ok} failed ${traffic.failed}\n`), 5000));

  await new Promise<void>((resolve) => {
    if (runForMs !== undefined) timers.push(setTimeout(resolve, runForMs));
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  stopping = true;
  clearTimeout(chaosTimer);
  for (const t of timers) clearTimeout(t);
  traffic.stop();
  await daemon.shutdown(1000);
  for (const m of masters) m.crash();
  process.stdout.write(`demo stopped: ${traffic.ok} requests answered, ${traffic.failed} failed\n`);
  return 0;
}
