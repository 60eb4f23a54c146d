import { readFile } from 'node:fs/promises';
import { parseDuration } from '../config/duration.js';
import { SimApiserver } from '../sim/apiserver.js';
import { selfSignedCert } from '../sim/self-signed.js';

/** Options of `kubeha sim apiserver`, as commander hands them over. */
export interface SimCommandOptions {
  port: string;
  host: string;
  name: string;
  cert?: string;
  key?: string;
  shutdownDelay: string;
  watchGrace: string;
  failReadyz?: boolean;
  latency: string;
  blackhole?: boolean;
}

/**
 * `kubeha sim apiserver`: runs a stand-in kube-apiserver. Prints one JSON line
 * `{"event":"listening","port":N}` once it serves (port 0 picks a free one), and on SIGTERM shuts
 * down like a real apiserver.
 */
export async function simApiserverCommand(o: SimCommandOptions): Promise<number> {
  const shutdownDelayMs = parseDuration(o.shutdownDelay);
  const watchGraceMs = parseDuration(o.watchGrace);
  const latencyMs = parseDuration(o.latency);
  if (shutdownDelayMs === undefined || latencyMs === undefined || watchGraceMs === undefined) {
    process.stderr.write('--shutdown-delay, --watch-grace and --latency take a duration with a unit, like 5s or 20ms [KUBEHA_ERR_USAGE]\n');
    return 1;
  }
  if (Boolean(o.cert) !== Boolean(o.key)) {
    process.stderr.write('--cert and --key go together [KUBEHA_ERR_USAGE]\n');
    return 1;
  }
  const tls = o.cert && o.key ? { cert: await readFile(o.cert, 'utf8'), key: await readFile(o.key, 'utf8') } : await selfSignedCert(o.name);
  const sim = new SimApiserver({
    name: o.name, host: o.host, port: Number(o.port), tls, shutdownDelayMs, watchGraceMs, latencyMs,
    failReadyz: Boolean(o.failReadyz), blackhole: Boolean(o.blackhole),
  });
  sim.onTimeline = (step) => process.stdout.write(`${JSON.stringify({ event: step, at: new Date().toISOString() })}\n`);
  const port = await sim.start();
  process.stdout.write(`${JSON.stringify({ event: 'listening', name: o.name, host: o.host, port })}\n`);
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.stdout.write(`${JSON.stringify({ event: 'shutdown', signal })}\n`);
      void sim.shutdown().then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
