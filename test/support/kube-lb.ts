// Helpers of the real-apiserver tier: kubeha in front of kube-apiservers, a resuming kubectl
// watch, a kubectl create loop, and a whole cluster (etcd, PKI, three apiservers, kubeha).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEtcd } from './etcd.js';
import { kubectlAsync, makeKubePki, startApiservers, writeKubeconfig, type Apiserver, type KubePki } from './kube.js';
import { spawnKubeha, type JsonProcess } from './processes.js';
import type { TestContextLike } from './tcp.js';

const CHECK = { type: 'https', path: '/readyz', interval: '200ms', timeout: '1s', rise: 2, fall: 2 };

/** kubeha in front of the apiservers; resolves with its process, frontend and admin ports. */
export async function startLb(t: TestContextLike, pki: KubePki, servers: Apiserver[], dir: string): Promise<{ lb: JsonProcess; port: number; admin: number }> {
  const file = join(dir, 'kubeha.yaml');
  // Port 0, read back from the log: no port is free-then-bound, so none can be taken in between.
  writeFileSync(file, JSON.stringify({
    global: { shutdownGrace: '1s' },
    frontends: [{ name: 'apiserver', bind: '127.0.0.1:0', backend: 'apiservers' }],
    backends: [{
      name: 'apiservers', slowStart: '3s',
      healthCheck: { ...CHECK, caFile: pki.ca, serverName: 'kubernetes' },
      servers: servers.map((s) => ({ name: s.name, address: `127.0.0.1:${s.port}` })),
    }],
    admin: { bind: '127.0.0.1:0' },
  }));
  const lb = spawnKubeha(['run', '--config', file], t);
  const port = Number((await lb.waitFor((l) => l.event === 'listening', 15_000, 'kubeha to listen')).port);
  const admin = Number((await lb.waitFor((l) => l.event === 'started', 15_000, 'kubeha to start')).admin);
  for (const s of servers) await lb.waitFor((l) => l.event === 'server-state' && l.server === s.name && l.up === true, 15_000, `${s.name} up`).catch(() => undefined);
  return { lb, port, admin };
}

/**
 * A watch on configmaps through kubectl, in rounds of a few seconds (`timeoutSeconds`), each on a new
 * connection through kubeha and resumed from the last resourceVersion seen: what a client-go
 * reflector does when its watch stream ends. Failed rounds are counted and retried.
 */
export function resumingWatch(kubeconfig: string, startRv: string) {
  const events: { type: string; name: string; rv: string }[] = [];
  let rv = startRv;
  let stopped = false;
  let rounds = 0;
  let failures = 0;
  /** The last lines kubectl printed for each failed round. */
  const failed: string[] = [];
  const done = (async () => {
    while (!stopped) {
      const r = await kubectlAsync(kubeconfig, ['get', '--raw', `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${rv}&timeoutSeconds=3`], 30);
      rounds++;
      if (r.code !== 0) {
        failures++;
        failed.push(r.out.trim().split('\n').slice(-3).join(' | '));
        await new Promise((res) => setTimeout(res, 100));
        continue;
      }
      for (const line of r.out.split('\n')) {
        if (!line.trim().startsWith('{')) continue;
        const e = JSON.parse(line) as { type: string; object: { metadata: { name: string; resourceVersion: string } } };
        if (e.type === 'BOOKMARK' || e.type === 'ERROR') continue;
        events.push({ type: e.type, name: e.object.metadata.name, rv: e.object.metadata.resourceVersion });
        rv = e.object.metadata.resourceVersion;
      }
    }
  })();
  return { events, rounds: () => rounds, failures: () => failures, failed, stop: async () => { stopped = true; await done; } };
}

/** Sequential `kubectl create configmap` until stopped; every result with its start time. */
export function createLoop(kubeconfig: string, prefix: string) {
  const results: { name: string; ok: boolean; at: number; out: string }[] = [];
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped && i < 2000; i++) {
      const name = `${prefix}-${i}`;
      const at = Date.now();
      const r = await kubectlAsync(kubeconfig, ['create', 'configmap', name, `--from-literal=i=${i}`]);
      results.push({ name, ok: r.code === 0, at, out: r.out.trim() });
    }
  })();
  return { results, stop: async () => { stopped = true; await done; return results; } };
}

export async function cluster(t: TestContextLike) {
  const etcd = await startEtcd(t);
  const pki = makeKubePki(t, ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
  const servers = await startApiservers(t, pki, [etcd.endpoints, etcd.endpoints, etcd.endpoints]);
  const { lb, port, admin } = await startLb(t, pki, servers, pki.dir);
  const kubeconfig = writeKubeconfig(pki, `https://127.0.0.1:${port}`);
  return { etcd, pki, servers, lb, port, admin, kubeconfig };
}

