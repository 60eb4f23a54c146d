import { spawn, type ChildProcess } from 'node:child_process';
import { constants, hostname } from 'node:os';
import { parseDuration } from '../config/duration.js';
import { campaign, observe, type Leadership } from '../election/campaign.js';
import { EtcdClient } from '../election/etcd-client.js';
import { checkTiming } from '../election/lease-guard.js';
import { createServer, type Server } from 'node:http';
import { Registry } from 'prom-client';
import { ElectionStats } from '../election/election-stats.js';
import { parseHostPort } from '../config/address.js';
import { KubehaError } from '../errors.js';
import { registerElectionMetrics } from '../observe/election-metrics.js';
import { createLogger } from '../observe/logger.js';

/** Options of `kubeha elect`. */
export interface ElectOptions {
  etcd: string;
  name: string;
  ttl: string;
  margin: string;
  killGrace: string;
  identity?: string;
  observe?: boolean;
  metrics?: string;
  cacert?: string;
  cert?: string;
  key?: string;
}

function duration(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new KubehaError('KUBEHA_ERR_USAGE', `${flag} "${text}" is not a duration`, 'write a number with a unit, e.g. 5s or 500ms');
  return ms;
}

/**
 * `kubeha elect --etcd URLS --name N -- CMD ARGS`: runs CMD only while this process leads election N.
 * On losing the lead the child gets SIGTERM, then SIGKILL after --kill-grace, all before the lease
 * can expire; then it campaigns again. When the child exits on its own, kubeha resigns and exits
 * with the child's status. `--observe` prints the leader (JSON lines) whenever it changes.
 */
export async function electCommand(o: ElectOptions, command: string[]): Promise<number> {
  const log = createLogger('info', 2); // stdout belongs to the child (or to --observe)
  const timing = { ttlMs: duration('--ttl', o.ttl), marginMs: duration('--margin', o.margin) };
  const killGraceMs = duration('--kill-grace', o.killGrace);
  const problem = checkTiming(timing);
  if (problem) throw new KubehaError('KUBEHA_ERR_USAGE', problem, 'use --ttl 5s --margin 1s (the defaults) or similar');
  if (killGraceMs >= timing.marginMs) {
    throw new KubehaError('KUBEHA_ERR_USAGE', `--kill-grace ${o.killGrace} must be shorter than --margin ${o.margin}`, 'the child must be dead before the lease can expire; lower --kill-grace or raise --margin');
  }
  const client = new EtcdClient({ endpoints: o.etcd.split(',').map((s) => s.trim()).filter(Boolean), tls: { caFile: o.cacert, certFile: o.cert, keyFile: o.key } });
  const stop = new AbortController();
  // Our timers are unref'd (they never hold a daemon open); this one keeps the command alive.
  const alive = setInterval(() => {}, 1 << 30);
  const onSignal = (sig: NodeJS.Signals) => {
    log.info({ event: 'signal', signal: sig }, `${sig}: stopping`);
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let metricsServer: Server | undefined;
  try {
    if (o.observe) {
      await observe(client, o.name, (leader) => {
        process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), leader: leader?.identity ?? null, epoch: leader ? leader.epoch.toString() : null })}\n`);
      }, stop.signal);
      return 0;
    }
    if (command.length === 0) throw new KubehaError('KUBEHA_ERR_USAGE', 'no command to run', 'kubeha elect --etcd URLS --name N -- CMD ARGS (or --observe)');
    const identity = o.identity ?? `${hostname()}/${process.pid}`;
    const stats = new ElectionStats(o.name, identity);
    if (o.metrics) metricsServer = await serveMetrics(o.metrics, stats);
    while (!stop.signal.aborted) {
      let leadership: Leadership;
      try {
        leadership = await campaign({
          client, name: o.name, identity, timing, signal: stop.signal,
          onEvent: (e) => {
            stats.onEvent(e);
            if (e.kind === 'retry') log.warn({ event: 'election-retry', error: e.error }, `etcd: ${e.error}; retrying`);
            if (e.kind === 'lost') log.warn({ event: 'election-lost', reason: e.reason }, `leadership of ${o.name} over: ${e.reason}`);
          },
        });
      } catch {
        break; // aborted while campaigning
      }
      if (!leadership.valid()) continue;
      stats.elected(leadership.epoch);
      leadership.signal.addEventListener('abort', () => stats.lost(leadership.endReason()), { once: true });
      log.info({ event: 'election-won', name: o.name, epoch: leadership.epoch.toString(), identity }, `leading ${o.name} with epoch ${leadership.epoch}: starting ${command[0]}`);
      const status = await runWhileLeader(command, leadership, killGraceMs, stop.signal, log);
      if (status !== undefined) {
        await leadership.resign();
        log.info({ event: 'child-exited', status }, `${command[0]} exited with ${status}; resigned`);
        return status;
      }
      if (stop.signal.aborted) await leadership.resign();
    }
    return 0;
  } finally {
    metricsServer?.close();
    clearInterval(alive);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    client.close();
  }
}

/** Serves the kubeha_election_* metrics at http://ADDR/metrics. */
async function serveMetrics(addr: string, stats: ElectionStats): Promise<Server> {
  const hp = parseHostPort(addr, true);
  if (typeof hp === 'string') throw new KubehaError('KUBEHA_ERR_USAGE', `--metrics "${addr}" is not host:port: ${hp}`, 'e.g. --metrics 127.0.0.1:9101');
  const registry = new Registry();
  registerElectionMetrics(registry, () => stats);
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new KubehaError('KUBEHA_ERR_BIND', `--metrics ${addr}: ${err.message}`, 'pick a free port')));
    server.listen(hp.port, hp.host, resolve);
  });
  server.unref();
  return server;
}

/**
 * Runs the child until it exits (resolves with its status) or leadership ends or we are stopped
 * (resolves undefined once the child is gone: SIGTERM, then SIGKILL after `killGraceMs`).
 */
function runWhileLeader(command: string[], leadership: Leadership, killGraceMs: number, stop: AbortSignal, log: ReturnType<typeof createLogger>): Promise<number | undefined> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(command[0]!, command.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, KUBEHA_EPOCH: leadership.epoch.toString(), KUBEHA_LEADER: leadership.identity },
    });
    let ending = false;
    const end = (why: string) => {
      if (ending) return;
      ending = true;
      log.warn({ event: 'child-stop', reason: why, pid: child.pid }, `stopping ${command[0]} (${why}): SIGTERM, SIGKILL in ${killGraceMs}ms`);
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), killGraceMs);
      child.once('exit', () => clearTimeout(killer));
    };
    const onLost = () => end(leadership.endReason());
    const onStop = () => end('kubeha elect is stopping');
    leadership.signal.addEventListener('abort', onLost, { once: true });
    stop.addEventListener('abort', onStop, { once: true });
    child.on('error', (err) => log.error({ event: 'child-error', err: err.message }, `cannot run ${command[0]}: ${err.message}`));
    child.once('exit', (code, signal) => {
      leadership.signal.removeEventListener('abort', onLost);
      stop.removeEventListener('abort', onStop);
      if (ending) return resolve(undefined);
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
