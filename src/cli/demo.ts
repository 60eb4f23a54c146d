import { configSchema } from '../config/schema.js';
import { parseDuration } from '../config/duration.js';
import { Daemon } from '../daemon.js';
import { createLogger } from '../observe/logger.js';
import { SimApiserver } from '../sim/apiserver.js';
import { selfSignedCert } from '../sim/self-signed.js';

/**
 * `kubeha demo`: three stand-in apiservers on loopback behind a kubeha load balancer with https
 * checks on /readyz. No root and no config. Prints where to look and runs until Ctrl-C (or `--for`).
 */
export async function demoCommand(opts: { for?: string; port: string }): Promise<number> {
  const runForMs = opts.for ? parseDuration(opts.for) : undefined;
  if (opts.for && runForMs === undefined) {
    process.stderr.write(`--for takes a duration with a unit, like 30s [KUBEHA_ERR_USAGE]\n`);
    return 1;
  }
  const tls = await selfSignedCert('kubeha-demo');
  const sims = ['master1', 'master2', 'master3'].map((name) => new SimApiserver({ name, host: '127.0.0.1', port: 0, tls, shutdownDelayMs: 2000, watchGraceMs: 2000, failReadyz: false, latencyMs: 0, blackhole: false }));
  const ports = await Promise.all(sims.map((s) => s.start()));
  const config = configSchema.parse({
    global: { shutdownGrace: '2s', logLevel: 'warn' },
    frontends: [{ name: 'apiserver', bind: `127.0.0.1:${opts.port}`, backend: 'apiservers' }],
    backends: [{
      name: 'apiservers', balance: 'roundrobin', slowStart: '10s',
      healthCheck: { type: 'https', path: '/readyz', interval: '1s', fastInterval: '250ms', timeout: '500ms', rise: 2, fall: 2 },
      servers: ports.map((port, i) => ({ name: `master${i + 1}`, address: `127.0.0.1:${port}` })),
    }],
    admin: { bind: '127.0.0.1:0' },
  });
  const daemon = new Daemon({ log: createLogger('warn', 2) });
  await daemon.start(config);
  const lbPort = daemon.listener('apiserver')?.boundPort;
  const adminPort = daemon.adminPort;
  const lines = [
    'kubeha demo: three stand-in apiservers behind one kubeha load balancer',
    '',
    ...ports.map((p, i) => `  master${i + 1}      https://127.0.0.1:${p}   (stand-in kube-apiserver)`),
    `  load balancer  https://127.0.0.1:${lbPort}   try: curl -k https://127.0.0.1:${lbPort}/version`,
    `  state          http://127.0.0.1:${adminPort}/api/v1/state`,
    `  metrics        http://127.0.0.1:${adminPort}/metrics`,
    '',
    `  make master2 unready:  curl -k -X POST 'https://127.0.0.1:${ports[1]}/sim/readyz?fail=true'`,
    '  and watch its state turn "down" in /api/v1/state; fail=false brings it back with slow start.',
    '',
    runForMs ? `running for ${opts.for}` : 'Ctrl-C to stop',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  await new Promise<void>((resolve) => {
    if (runForMs !== undefined) setTimeout(resolve, runForMs);
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await daemon.shutdown(1000);
  for (const s of sims) s.stop();
  return 0;
}
