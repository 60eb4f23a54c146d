import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { selfSignedCert } from '../../src/sim/self-signed.js';
import { spawnKubeha, startSim, type JsonProcess } from './processes.js';
import type { TestContextLike } from './tcp.js';

/** A scratch folder with one self-signed certificate for all the stand-in apiservers of a test file. */
export interface Workspace {
  dir: string;
  certFile: string;
  keyFile: string;
}

/** Makes a workspace; it is removed when the process exits. */
export async function workspace(): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-e2e-'));
  const pair = await selfSignedCert('kubeha-e2e');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await writeFile(certFile, pair.cert);
  await writeFile(keyFile, pair.key);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true })); // an exit handler runs no promises
  return { dir, certFile, keyFile };
}

/** https checks on /readyz, fast enough for tests: down within 2 x 200 ms. */
export const FAST_CHECK = { type: 'https', path: '/readyz', interval: '200ms', timeout: '500ms', rise: 2, fall: 2 };

/** A kubeha config in front of servers on the given loopback ports. */
export function kubehaConfig(ports: number[], backend: Record<string, unknown> = {}) {
  return {
    global: { shutdownGrace: '3s', logLevel: 'info' },
    frontends: [{ name: 'apiserver', bind: '127.0.0.1:0', backend: 'apiservers' }],
    backends: [{
      name: 'apiservers', healthCheck: FAST_CHECK, ...backend,
      servers: ports.map((port, i) => ({ name: `master${i + 1}`, address: `127.0.0.1:${port}` })),
    }],
    admin: { bind: '127.0.0.1:0' },
  };
}

/** Three stand-in apiserver processes behind a `kubeha run` process. */
export interface Cluster {
  sims: { proc: JsonProcess; port: number }[];
  lb: JsonProcess;
  lbPort: number;
  adminPort: number;
  configFile: string;
  state(): Promise<{ backends: { servers: { name: string; state: string; adminState: string }[] }[] }>;
}

export async function cluster(t: TestContextLike, ws: Workspace, name: string, backend: Record<string, unknown> = {}, simArgs: string[] = []): Promise<Cluster> {
  const sims = await Promise.all([1, 2, 3].map((i) => startSim(`master${i}`, t, ws.certFile, ws.keyFile, simArgs)));
  const configFile = join(ws.dir, `${name}.yaml`);
  await writeFile(configFile, stringify(kubehaConfig(sims.map((s) => s.port), backend)));
  const lb = spawnKubeha(['run', '--config', configFile], t);
  const listening = await lb.waitFor((l) => l.event === 'listening', 15_000, 'kubeha to listen');
  const started = await lb.waitFor((l) => l.event === 'started', 15_000, 'kubeha to start');
  const adminPort = Number(started.admin);
  return {
    sims, lb, lbPort: Number(listening.port), adminPort, configFile,
    state: async () => (await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/state`)).json()) as Awaited<ReturnType<Cluster['state']>>,
  };
}
