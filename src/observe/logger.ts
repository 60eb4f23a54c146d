import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** The daemon's structured logger: JSON lines on stdout (or fd `destination`), with levels. */
export function createLogger(level: string, destination = 1): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: destination, sync: true }));
}
