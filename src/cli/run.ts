import { NftDriver } from '../kernel/nft.js';
import { CONNTRACKD_DEFAULTS } from '../kernel/conntrack-sync.js';
import { killConntrackd } from '../kernel/conntrackd.js';
import { formatProblem } from '../config/problem.js';
import { loadConfigIsolated } from '../config/isolated-parse.js';
import { Daemon } from '../daemon.js';
import { handOver, receiveInheritance } from '../handover.js';
import { createLogger } from '../observe/logger.js';
import { sdNotify } from '../systemd-notify.js';

/**
 * `kubeha run --config F`: the daemon. SIGHUP reloads the config (a bad one is refused and the
 * running one kept); SIGUSR1 reopens the access log; SIGUSR2 restarts without a gap (handover.ts:
 * a successor from the code on disk takes the sockets, then this process drains and exits); SIGTERM or SIGINT stops accepting and drains for `global.shutdownGrace`;
 * a second SIGTERM or SIGINT exits at once.
 */
/**
 * `kubeha run --cleanup`: removes kubeha's nftables table (the kernel frontends keep forwarding
 * without the daemon until then). Nothing to remove is success.
 */
export async function cleanupCommand(file: string): Promise<number> {
  // the conntrackd of conntrackSync goes too (its run folder from the config; the default one when
  // the config cannot be read: a cleanup does not depend on a valid config)
  const loaded = await loadConfigIsolated(file).catch(() => undefined);
  const sync = loaded?.ok ? loaded.config.conntrackSync : undefined;
  if (await killConntrackd(sync?.conntrackd ?? CONNTRACKD_DEFAULTS.conntrackd, sync?.runDir ?? CONNTRACKD_DEFAULTS.runDir)) process.stdout.write('ended conntrackd (conntrackSync)\n');
  try {
    const driver = new NftDriver();
    const had = await driver.tableExists();
    await driver.removeTable();
    process.stdout.write(had ? 'removed the nftables table inet kubeha\n' : 'no nftables table inet kubeha: nothing to remove\n');
    return 0;
  } catch (err) {
    process.stderr.write(`cannot remove the nftables table inet kubeha: ${err instanceof Error ? err.message : String(err)} [KUBEHA_ERR_KERNEL]\n`);
    return 1;
  }
}

export async function runCommand(file: string): Promise<number> {
  const loaded = await loadConfigIsolated(file);
  if (!loaded.ok) {
    for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const log = createLogger(loaded.config.global.logLevel);
  let succession;
  try {
    succession = await receiveInheritance();
  } catch (err) {
    log.fatal({ err }, `cannot take over from the running process: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const daemon = new Daemon({ log, configPath: file, ...(succession ? { inheritance: succession.inheritance } : {}) });
  // Every handler is in place before the first line that says we serve: a signal that arrived in
  // between would otherwise get its default action (SIGUSR2 and SIGHUP terminate the process).
  let serving = false;
  let stopping = false;
  let handingOver = false;
  let stopped: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (stopped = resolve));
  const stop = (signal: string) => {
    if (!serving) {
      // Nothing to drain yet (and a start half done is no state to shut down from): exit as the
      // signal's default action would have. A successor exiting here leaves its predecessor serving.
      log.warn({ event: 'signal', signal }, `${signal} while starting: exiting`);
      process.exit(1);
    }
    if (stopping) {
      log.warn({ event: 'forced-exit', signal }, `${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info({ event: 'signal', signal }, `${signal}: draining`);
    void daemon.shutdown().then(() => {
      log.info({ event: 'stopped' }, 'stopped');
      stopped(0);
    });
  };
  const notYet = (signal: string) => log.warn({ event: 'signal-ignored', signal }, `${signal} ignored: still starting`);
  process.on('SIGUSR1', () => (serving ? daemon.reopenAccessLog() : notYet('SIGUSR1')));
  process.on('SIGHUP', () => {
    if (!serving) return notYet('SIGHUP');
    log.info({ event: 'sighup' }, 'SIGHUP: reloading the config');
    void daemon.reload();
  });
  process.on('SIGUSR2', () => {
    if (!serving) return notYet('SIGUSR2');
    if (stopping || handingOver) return;
    handingOver = true;
    void handOver(daemon, log).then((handedOver) => {
      handingOver = false;
      if (handedOver) stop('SIGUSR2');
    });
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    await daemon.start(loaded.config);
  } catch (err) {
    succession?.failed(err instanceof Error ? err.message : String(err));
    log.fatal({ err }, `cannot start: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  if (succession) {
    const masters = await succession.ready();
    const vrrpErrors = await daemon.startVrrp(masters);
    if (vrrpErrors.length > 0) {
      // The predecessor still runs VRRP: it must go on doing so rather than hand it to us.
      succession.failed(`VRRP could not start: ${vrrpErrors.join('; ')}`);
      log.fatal({ event: 'handover-abandoned', errors: vrrpErrors }, 'VRRP could not start here: the previous process keeps serving');
      process.exit(1);
    }
    // systemd hears of the new main process before the old one is told to go: it reads notifications
    // before SIGCHLD, so the old one's exit is never taken for the service's (it was, under load, after
    // the old order: the unit stopped, killing this process, and Restart= started it again)
    sdNotify(`MAINPID=${process.pid}\nREADY=1`);
    await succession.vrrpStarted();
    serving = true;
    log.info({ event: 'handover-complete', masters }, `took over from the previous process (pid ${process.pid} serves now)`);
  } else {
    sdNotify('READY=1');
    serving = true;
    log.info({ event: 'started', config: file, admin: daemon.adminPort }, `kubeha running with ${file}`);
  }
  return done;
}
