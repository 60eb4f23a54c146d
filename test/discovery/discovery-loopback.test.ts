// Discovery end to end on loopback: a daemon whose backend finds its servers in fake apiservers'
// `kubernetes` EndpointSlice (127.0.0.x, one port), follows the watch, survives 410 Gone, junk and
// an empty list, falls back from discovery.k8s.io/v1 to v1beta1 and Endpoints, and restarts from
// its state file when no apiserver answers. Real kube-apiservers: test/kube-e2e/node-local.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon.js';
import { fakeKubeCluster, type Served } from '../support/fake-kube-api.js';
import { config, memoryLogger, startDaemon, until, type TestContextLike } from '../support/tcp.js';
import type { BackendState } from '../../src/observe/node-state.js';

function tempDir(t: TestContextLike): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-discovery-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function discoveryConfig(kubeconfig: string, stateFile: string, servers: { name: string; address: string }[], extra: Record<string, unknown> = {}) {
  return config({
    global: { shutdownGrace: '1s' },
    frontends: [{ name: 'fe', bind: '127.0.0.1:0', backend: 'apiservers' }],
    backends: [{
      name: 'apiservers',
      balance: 'latency',
      healthCheck: { type: 'https', path: '/readyz', interval: '100ms', timeout: '1s', rise: 1, fall: 1 },
      discovery: { kubernetes: { kubeconfig, stateFile, debounce: '100ms' } },
      servers,
      ...extra,
    }],
    admin: { bind: '127.0.0.1:0' },
  });
}

const backend = (d: Daemon): BackendState => d.state().backends[0]!;
const addresses = (d: Daemon) => backend(d).servers.filter((s) => !s.removed).map((s) => `${s.name}=${s.address}`).sort();

test('discovery follows the EndpointSlice: bootstrap names kept, servers added and removed, the state file written, bad news ignored', async (t) => {
  const dir = tempDir(t);
  const { cluster, servers, kubeconfig, start } = await fakeKubeCluster(dir, ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  t.after(() => Promise.all(servers.map((s) => s.close())));
  const p = cluster.port;
  const stateFile = join(dir, 'state', 'endpoints.json');
  const { log, lines } = memoryLogger();
  const { daemon } = await startDaemon(discoveryConfig(kubeconfig, stateFile, [{ name: 'first', address: `127.0.0.1:${p}` }]), t, log);

  // One bootstrap server; the slice lists three: the bootstrap one keeps its name (same server, same health).
  await until(() => addresses(daemon).length === 3, 10_000, 'three servers');
  // Named by address (and port, as it is not 6443).
  assert.deepEqual(addresses(daemon), [`127.0.0.2_${p}=127.0.0.2:${p}`, `127.0.0.3_${p}=127.0.0.3:${p}`, `first=127.0.0.1:${p}`]);
  const d = backend(daemon).discovery!;
  assert.equal(d.source, 'endpointslices');
  assert.equal(d.api, 'discovery.k8s.io/v1beta1', 'v1 is not served (a v1.20 apiserver): v1beta1 it is');
  assert.ok(cluster.requests.some((r) => r.path.startsWith('/apis/discovery.k8s.io/v1/')), 'v1 was tried first');
  await until(() => existsSync(stateFile), 5000, 'the state file');
  assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')).servers.map((s: { address: string }) => s.address).sort(), [1, 2, 3].map((i) => `127.0.0.${i}:${p}`));
  // The checks read the kubeconfig's CA: every server is up by a check.
  await until(() => backend(daemon).servers.every((s) => s.state === 'up' && s.lastCheck?.ok === true), 10_000, 'checks pass with the kubeconfig CA');

  // A fourth apiserver appears: added within the debounce.
  const fourth = await start('127.0.0.4');
  t.after(() => fourth.close());
  const generation = backend(daemon).discovery!.generation;
  cluster.setIps(['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4']);
  await until(() => addresses(daemon).length === 4, 5000, 'the fourth server');
  assert.equal(backend(daemon).discovery!.generation, generation + 1);

  // One leaves: removed (retired while it has sessions).
  cluster.setIps(['127.0.0.1', '127.0.0.3', '127.0.0.4']);
  await until(() => !addresses(daemon).some((a) => a.startsWith('127.0.0.2')), 5000, '127.0.0.2 removed');

  // An empty list, junk lines and a bookmark change nothing; the junk is counted.
  const errorsBefore = backend(daemon).discovery!.errors;
  cluster.sendRaw('this is not json');
  cluster.sendRaw(JSON.stringify({ type: 'BOOKMARK', object: { kind: 'EndpointSlice', metadata: { resourceVersion: String(cluster.rv + 50) } } }));
  cluster.setIps([]);
  await until(() => backend(daemon).discovery!.emptyIgnored === 1, 5000, 'the empty list ignored');
  assert.equal(addresses(daemon).length, 3);
  assert.ok(backend(daemon).discovery!.errors > errorsBefore, 'the junk line counted');
  assert.ok(lines().some((l) => l.event === 'discovery-empty'));

  // 410 Gone on the next watch: the watcher lists again and goes on.
  cluster.setIps(['127.0.0.1', '127.0.0.3', '127.0.0.4']);
  cluster.compactedRv = cluster.rv + 1000;
  cluster.endWatches();
  await until(() => lines().some((l) => l.event === 'discovery-relist'), 10_000, 'a list after 410');
  cluster.compactedRv = 0;
  cluster.setIps(['127.0.0.1', '127.0.0.4']);
  await until(() => addresses(daemon).length === 2, 10_000, 'changes followed after the new list');

  // The state API and the metrics say where the servers come from.
  const metrics = await (await fetch(`http://127.0.0.1:${daemon.adminPort}/metrics`)).text();
  assert.match(metrics, /kubeha_discovery_source\{backend="apiservers",source="endpointslices"\} 1/);
  assert.match(metrics, /kubeha_discovery_servers\{backend="apiservers"\} 2/);
  assert.match(metrics, /kubeha_discovery_last_sync_timestamp_seconds\{backend="apiservers"\} 1\d{9}/);
  const state = await (await fetch(`http://127.0.0.1:${daemon.adminPort}/api/v1/state`)).json() as { backends: BackendState[] };
  assert.equal(state.backends[0]!.discovery!.servers, 2);
  assert.ok(state.backends[0]!.discovery!.lastSync);
});

test('a restart while no apiserver answers starts from the state file; a bad state file falls back to the bootstrap list', async (t) => {
  const dir = tempDir(t);
  const { cluster, servers, kubeconfig } = await fakeKubeCluster(dir, ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  const p = cluster.port;
  const stateFile = join(dir, 'endpoints.json');
  const first = await startDaemon(discoveryConfig(kubeconfig, stateFile, [{ name: 'boot', address: `127.0.0.1:${p}` }]), t);
  await until(() => existsSync(stateFile) && addresses(first.daemon).length === 3, 10_000, 'the list saved');
  await first.daemon.shutdown(0);
  await Promise.all(servers.map((s) => s.close())); // every apiserver down

  const { log } = memoryLogger();
  const second = await startDaemon(discoveryConfig(kubeconfig, stateFile, [{ name: 'boot', address: `127.0.0.1:${p}` }]), t, log);
  assert.equal(backend(second.daemon).discovery!.source, 'state-file');
  assert.equal(addresses(second.daemon).length, 3, 'all three known, though none answers');
  // Every server down by its check: connections are refused at once, not left hanging.
  await until(() => backend(second.daemon).servers.every((s) => s.state === 'down'), 10_000, 'all down');
  const started = Date.now();
  const refused = await new Promise<string>((resolve) => {
    const c = connect({ host: '127.0.0.1', port: second.port });
    c.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    c.on('close', () => resolve('closed'));
    c.on('data', () => {});
  });
  assert.equal(refused, 'ECONNRESET', 'a reset, so the client fails over at once');
  assert.ok(Date.now() - started < 1000);

  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"servers": [{"name": "x"}]}');
  const { log: log3, lines } = memoryLogger();
  const third = await startDaemon(discoveryConfig(kubeconfig, bad, [{ name: 'boot', address: `127.0.0.1:${p}` }]), t, log3);
  assert.deepEqual(addresses(third.daemon), [`boot=127.0.0.1:${p}`]);
  assert.ok(lines().some((l) => l.event === 'discovery-state-unreadable'));
});

for (const served of [['endpoints'], ['v1', 'endpoints']] as Served[][]) {
  test(`discovery reads ${served[0] === 'v1' ? 'discovery.k8s.io/v1 when served' : 'the Endpoints object when no EndpointSlice API is served'}; servers: [] starts from the kubeconfig's server`, async (t) => {
    const dir = tempDir(t);
    const { cluster, servers, kubeconfig } = await fakeKubeCluster(dir, ['127.0.0.1', '127.0.0.2'], served);
    t.after(() => Promise.all(servers.map((s) => s.close())));
      // The kubeconfig names an apiserver directly (a worker before its node-local LB exists).
    writeFileSync(kubeconfig, readFileSync(kubeconfig, 'utf8').replace('https://127.0.0.1:7445', `https://127.0.0.2:${cluster.port}`));
    const { daemon } = await startDaemon(discoveryConfig(kubeconfig, join(dir, 's.json'), []), t);
    await until(() => addresses(daemon).length === 2, 10_000, 'two servers');
    assert.equal(backend(daemon).discovery!.api, served[0] === 'v1' ? 'discovery.k8s.io/v1' : 'v1 endpoints');
    assert.equal(backend(daemon).discovery!.source, served[0] === 'v1' ? 'endpointslices' : 'endpoints');
  });
}

test('servers: [] with a kubeconfig that points at this node-local LB is refused with a fix', async (t) => {
  const dir = tempDir(t);
  const { kubeconfig, servers } = await fakeKubeCluster(dir, ['127.0.0.1']);
  t.after(() => Promise.all(servers.map((s) => s.close())));
  const d = new Daemon({ log: memoryLogger().log });
  const cfg = discoveryConfig(kubeconfig, join(dir, 's.json'), []);
  cfg.frontends[0]!.bind = '127.0.0.1:7445'; // the address the kubeconfig names: this LB
  await assert.rejects(d.start(cfg), /points at https:\/\/127\.0\.0\.1:7445 \(this node-local LB itself: a frontend binds it\); list at least one apiserver under servers: \[KUBEHA_ERR_DISCOVERY\]/);
});
