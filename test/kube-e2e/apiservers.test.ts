// End to end against real kube-apiservers (v1.20.2, built from Debian's kubernetes source package):
// three apiservers on one 3-member etcd, kubeha in front with https checks on /readyz, kubectl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startEtcd } from '../support/etcd.js';
import { faultProxy } from '../support/fault-proxy.js';
import { kubectlAsync, makeKubePki, startApiservers, writeKubeconfig, type Apiserver, type KubePki } from '../support/kube.js';
import { spawnKubeha, type JsonProcess } from '../support/processes.js';
import { freePort } from '../support/etcd.js';
import type { TestContextLike } from '../support/tcp.js';

const CHECK = { type: 'https', path: '/readyz', interval: '200ms', timeout: '1s', rise: 2, fall: 2 };

/** kubeha in front of the apiservers; resolves with its process, frontend and admin ports. */
async function startLb(t: TestContextLike, pki: KubePki, servers: Apiserver[], dir: string): Promise<{ lb: JsonProcess; port: number; admin: number }> {
  const [port, admin] = await Promise.all([freePort(), freePort()]);
  const file = join(dir, 'kubeha.yaml');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, JSON.stringify({
    global: { shutdownGrace: '1s' },
    frontends: [{ name: 'apiserver', bind: `127.0.0.1:${port}`, backend: 'apiservers' }],
    backends: [{
      name: 'apiservers', slowStart: '3s',
      healthCheck: { ...CHECK, caFile: pki.ca, serverName: 'kubernetes' },
      servers: servers.map((s) => ({ name: s.name, address: `127.0.0.1:${s.port}` })),
    }],
    admin: { bind: `127.0.0.1:${admin}` },
  }));
  const lb = spawnKubeha(['run', '--config', file], t);
  await lb.waitFor((l) => l.event === 'listening', 15_000, 'kubeha to listen');
  for (const s of servers) await lb.waitFor((l) => l.event === 'server-state' && l.server === s.name && l.up === true, 15_000, `${s.name} up`).catch(() => undefined);
  return { lb, port, admin };
}

/**
 * A watch on configmaps through kubectl, in rounds of a few seconds (`timeoutSeconds`), each on a new
 * connection through kubeha and resumed from the last resourceVersion seen: what a client-go
 * reflector does when its watch stream ends. Failed rounds are counted and retried.
 */
function resumingWatch(kubeconfig: string, startRv: string) {
  const events: { type: string; name: string; rv: string }[] = [];
  let rv = startRv;
  let stopped = false;
  let rounds = 0;
  let failures = 0;
  const done = (async () => {
    while (!stopped) {
      const r = await kubectlAsync(kubeconfig, ['get', '--raw', `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${rv}&timeoutSeconds=3`], 30);
      rounds++;
      if (r.code !== 0) {
        failures++;
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
  return { events, rounds: () => rounds, failures: () => failures, stop: async () => { stopped = true; await done; } };
}

/** Sequential `kubectl create configmap` until stopped; every result with its start time. */
function createLoop(kubeconfig: string, prefix: string) {
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

async function cluster(t: TestContextLike) {
  const etcd = await startEtcd(t);
  const pki = makeKubePki(t, ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
  const servers = await startApiservers(t, pki, [etcd.endpoints, etcd.endpoints, etcd.endpoints]);
  const { lb, port, admin } = await startLb(t, pki, servers, pki.dir);
  const kubeconfig = writeKubeconfig(pki, `https://127.0.0.1:${port}`);
  return { etcd, pki, servers, lb, port, admin, kubeconfig };
}

test('rolling restart of every apiserver behind kubeha: zero failed kubectl requests, the watch resumes without missing an event', async (t) => {
  const c = await cluster(t);
  const list = await kubectlAsync(c.kubeconfig, ['get', 'configmaps', '-o', 'jsonpath={.metadata.resourceVersion}']);
  assert.equal(list.code, 0, list.out);
  const watch = resumingWatch(c.kubeconfig, list.out.trim());
  const creates = createLoop(c.kubeconfig, 'rolling');
  const started = Date.now();
  for (const s of c.servers) {
    await s.stop('SIGTERM').catch(() => undefined); // resolves at exit; the listener is gone after the shutdown delay
    s.start();
    await s.ready();
    await new Promise((r) => setTimeout(r, 1000));
  }
  const results = await creates.stop();
  const failed = results.filter((r) => !r.ok);
  const deadline = Date.now() + 15_000;
  const want = new Set(results.map((r) => r.name));
  while (Date.now() < deadline && ![...want].every((n) => watch.events.some((e) => e.name === n))) await new Promise((r) => setTimeout(r, 200));
  await watch.stop();
  t.diagnostic(`rolling restart of 3 apiservers in ${((Date.now() - started) / 1000).toFixed(1)} s: ${results.length} kubectl creates, ${failed.length} failed; ${watch.rounds()} watch rounds through kubeha, ${watch.failures()} failed`);
  assert.deepEqual(failed.map((f) => `${f.name}: ${f.out}`), []);
  assert.ok(results.length > 20, 'the loop ran throughout');
  assert.equal(watch.failures(), 0, 'no watch round failed');
  // Every created object arrives on the watch, with resourceVersions in order.
  const missing = [...want].filter((n) => !watch.events.some((e) => e.name === n && e.type === 'ADDED'));
  assert.deepEqual(missing, [], 'no ADDED event missing');
  const rvs = watch.events.map((e) => BigInt(e.rv));
  for (let i = 1; i < rvs.length; i++) assert.ok(rvs[i]! > rvs[i - 1]!, 'resourceVersions increase: no event seen twice or out of order');
});

test('an apiserver SIGKILLed mid-traffic: new requests do not fail; it is marked down within fall × interval and rejoins after rise and slow start', async (t) => {
  const c = await cluster(t);
  const creates = createLoop(c.kubeconfig, 'kill');
  await new Promise((r) => setTimeout(r, 2000));
  const victim = c.servers[1]!;
  const killedAt = Date.now();
  await victim.stop('SIGKILL');
  const down = await c.lb.waitFor((l) => l.event === 'server-state' && l.server === victim.name && l.up === false, 5000, 'marked down');
  const downMs = Date.parse(String(down.time)) - killedAt;
  await new Promise((r) => setTimeout(r, 3000));
  victim.start();
  await victim.ready();
  const up = await c.lb.waitFor((l) => l.event === 'server-state' && l.server === victim.name && l.up === true && Date.parse(String(l.time)) > killedAt, 10_000, 'back up');
  const state = await (await fetch(`http://127.0.0.1:${c.admin}/api/v1/state`)).json() as { backends: { servers: { name: string; weight: number; effectiveWeight: number }[] }[] };
  const s = state.backends[0]!.servers.find((x) => x.name === victim.name)!;
  await new Promise((r) => setTimeout(r, 2000));
  const results = await creates.stop();
  const after = results.filter((r) => r.at > killedAt + 1000);
  const failedAfter = after.filter((r) => !r.ok);
  const failedAround = results.filter((r) => !r.ok && r.at <= killedAt + 1000);
  t.diagnostic(`marked down ${downMs} ms after SIGKILL (bound: fall 2 × 200 ms + 1 s timeout); back up ${Date.parse(String(up.time)) - killedAt} ms after the kill; in flight at the kill failed: ${failedAround.length}; started later: ${after.length}, failed ${failedAfter.length}`);
  assert.ok(downMs < 2000, `down after ${downMs} ms`);
  assert.deepEqual(failedAfter.map((r) => `${r.name}: ${r.out}`), []);
  assert.ok(s.effectiveWeight < s.weight, `slow start right after rejoining: effective weight ${s.effectiveWeight} of ${s.weight}`);
});

test('an apiserver cut off from etcd turns /readyz red and kubeha stops sending it new connections', async (t) => {
  const etcd = await startEtcd(t);
  const pki = makeKubePki(t, ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
  const proxy = await faultProxy(t, Number(new URL(etcd.endpoints[2]!).port));
  const servers = await startApiservers(t, pki, [etcd.endpoints, etcd.endpoints, [proxy.url]]);
  const { lb, admin, port } = await startLb(t, pki, servers, pki.dir);
  const kubeconfig = writeKubeconfig(pki, `https://127.0.0.1:${port}`);
  const cutAt = Date.now();
  proxy.cut();
  const down = await lb.waitFor((l) => l.event === 'server-state' && l.server === 'apiserver3' && l.up === false, 30_000, 'apiserver3 down');
  t.diagnostic(`apiserver3 marked down ${Date.parse(String(down.time)) - cutAt} ms after its etcd was cut (${String(down.detail)})`);
  const sessions = async () => ((await (await fetch(`http://127.0.0.1:${admin}/api/v1/state`)).json()) as { backends: { servers: { name: string; sessions: { total: number } }[] }[] }).backends[0]!.servers.find((s) => s.name === 'apiserver3')!.sessions.total;
  const before = await sessions();
  for (let i = 0; i < 15; i++) {
    const r = await kubectlAsync(kubeconfig, ['get', 'namespaces']);
    assert.equal(r.code, 0, r.out);
  }
  assert.equal(await sessions(), before, 'no new session went to the apiserver that lost etcd');
});
