import { formatProblem, loadConfigFile } from '../config/load.js';
import { Daemon } from '../daemon.js';
import { createLogger } from '../observe/logger.js';

/**
 * `kubeha run --config F`: the daemon. SIGHUP reloads the config (a bad one is refused and the
 * running one kept); SIGUSR1 reopens the access log; SIGTERM or SIGINT stops accepting and drains for `global.shutdownGrace`;
 * a second SIGTERM or SIGINT exits at once.
 */
export async function runCommand(file: string): Promise<number> {
  const loaded = await loadConfigFile(file);
  if (!loaded.ok) {
    for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const log = createLogger(loaded.config.global.logLevel);
  const daemon = new Daemon({ log, configPath: file });
  try {
    await daemon.start(loaded.config);
  } catch (err) {
    log.fatal({ err }, `cannot start: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  log.info({ event: 'started', config: file, admin: daemon.adminPort }, `kubeha running with ${file}`);

  process.on('SIGUSR1', () => daemon.reopenAccessLog());
  process.on('SIGHUP', () => {
    log.info({ event: 'sighup' }, 'SIGHUP: reloading the config');
    void daemon.reload();
  });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn({ event: 'forced-exit', signal }, `${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log.info({ event: 'signal', signal }, `${signal}: draining`);
      void daemon.shutdown().then(() => {
        log.info({ event: 'stopped' }, 'stopped');
        resolve(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
