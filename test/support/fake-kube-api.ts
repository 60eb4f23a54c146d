// A fake of the part of the Kubernetes API that discovery reads: the `default/kubernetes`
// EndpointSlices (discovery.k8s.io v1 and/or v1beta1) or Endpoints, listed and watched, shared by
// several fake apiservers on loopback addresses (127.0.0.x, one port), each also answering /readyz.
// Real kube-apiservers are in the kube-e2e tier; this one can misbehave on cue.
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { selfSignedCert, type CertPair } from '../../src/sim/self-signed.js';

export const TOKEN = 'kubeha-test-token';

/** Which APIs the cluster serves (an old one has no discovery.k8s.io/v1; a very old one only Endpoints). */
export type Served = 'v1' | 'v1beta1' | 'endpoints';

/** The cluster's view: the listed apiserver addresses, a resourceVersion, open watches. */
export class FakeCluster {
  ips: string[] = [];
  rv = 100;
  /** Watches from before this resourceVersion get 410 Gone (etcd compacted). */
  compactedRv = 0;
  readonly watches = new Set<{ res: ServerResponse; kind: Served }>();
  /** Requests by path prefix, for assertions. */
  readonly requests: { ip: string; path: string }[] = [];

  constructor(readonly port: number, readonly served: Served[]) {}

  object(kind: Served): unknown {
    const metadata = { name: 'kubernetes', namespace: 'default', resourceVersion: String(this.rv), labels: { 'kubernetes.io/service-name': 'kubernetes' } };
    if (kind === 'endpoints') return { kind: 'Endpoints', apiVersion: 'v1', metadata, subsets: this.ips.length ? [{ addresses: this.ips.map((ip) => ({ ip })), ports: [{ name: 'https', port: this.port, protocol: 'TCP' }] }] : [] };
    return { kind: 'EndpointSlice', apiVersion: `discovery.k8s.io/${kind}`, metadata, addressType: 'IPv4', endpoints: this.ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })), ports: [{ name: 'https', port: this.port, protocol: 'TCP' }] };
  }

  /** Sets the listed addresses and tells every watch. */
  setIps(ips: string[]): void {
    this.ips = ips;
    this.rv++;
    for (const w of this.watches) w.res.write(`${JSON.stringify({ type: 'MODIFIED', object: this.object(w.kind) })}\n`);
  }

  /** Writes a raw line to every watch (junk, bookmarks, errors). */
  sendRaw(line: string): void {
    for (const w of this.watches) w.res.write(`${line}\n`);
  }

  /** Ends every watch stream (as an apiserver's timeoutSeconds would). */
  endWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }
}

const PATHS: Record<Served, string> = {
  v1: '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices',
  v1beta1: '/apis/discovery.k8s.io/v1beta1/namespaces/default/endpointslices',
  endpoints: '/api/v1/namespaces/default/endpoints',
};

/** One fake apiserver on `ip`:`cluster.port`. */
export interface FakeApiserver {
  ip: string;
  server: Server;
  /** /readyz answers 500 while false. */
  ready: boolean;
  close(): Promise<void>;
}

export async function startFakeApiserver(cluster: FakeCluster, ip: string, tls: CertPair, port = cluster.port): Promise<FakeApiserver> {
  const me: FakeApiserver = { ip, server: undefined as unknown as Server, ready: true, close: async () => {} };
  const server = createServer(tls, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://x');
    cluster.requests.push({ ip, path: url.pathname + url.search });
    res.setHeader('x-kubeha-sim', ip); // which one answered, as the stand-in apiserver says it

    if (url.pathname === '/readyz') {
      res.writeHead(me.ready ? 200 : 500).end(me.ready ? 'ok' : 'not ready');
      return;
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"kind":"Status","code":401}');
      return;
    }
    const kind = cluster.served.find((k) => PATHS[k] === url.pathname);
    if (!kind) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"kind":"Status","code":404,"reason":"NotFound"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (url.searchParams.get('watch') !== '1') {
      res.end(JSON.stringify({ kind: 'List', metadata: { resourceVersion: String(cluster.rv) }, items: [cluster.object(kind)] }));
      return;
    }
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from < cluster.compactedRv) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `too old resource version: ${from} (${cluster.compactedRv})`, reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    res.flushHeaders();
    // A real apiserver sends the changes made since `from`; here the object as it is now.
    if (from < cluster.rv) res.write(`${JSON.stringify({ type: 'MODIFIED', object: cluster.object(kind) })}\n`);
    const w = { res, kind };
    cluster.watches.add(w);
    res.on('close', () => cluster.watches.delete(w));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: ip, port, exclusive: true }, () => resolve());
  });
  me.server = server;
  me.close = () => new Promise<void>((resolve) => {
    for (const w of cluster.watches) if ((w.res.socket as { localAddress?: string } | null)?.localAddress === ip) w.res.destroy();
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return me;
}

/**
 * A cluster of `ips.length` fake apiservers, all listed, on one port (the first one's port 0 pick,
 * reused on the other loopback addresses), and a kubeconfig (CA, token) in `dir` for them.
 */
export async function fakeKubeCluster(dir: string, ips: string[], served: Served[] = ['v1beta1']): Promise<{ cluster: FakeCluster; servers: FakeApiserver[]; kubeconfig: string; tls: CertPair; start: (ip: string) => Promise<FakeApiserver> }> {
  const tls = await selfSignedCert('kubernetes', [...ips.map((ip) => `IP:${ip}`), 'IP:127.0.0.9', 'IP:127.0.0.10', 'DNS:kubernetes']);
  // The first server picks a port; the others reuse it on their own address.
  const first = await startFakeApiserver(new FakeCluster(0, served), ips[0]!, tls, 0);
  const port = (first.server.address() as AddressInfo).port;
  await first.close();
  const cluster = new FakeCluster(port, served);
  cluster.ips = [...ips];
  const start = (ip: string) => startFakeApiserver(cluster, ip, tls);
  const servers: FakeApiserver[] = [];
  for (const ip of ips) servers.push(await start(ip));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:7445
    certificate-authority-data: ${Buffer.from(tls.cert).toString('base64')}
users:
- name: u
  user:
    token: ${TOKEN}
contexts:
- name: ctx
  context: { cluster: c, user: u }
current-context: ctx
`);
  return { cluster, servers, kubeconfig, tls, start };
}
