// A node-local kubeha with discovery, against real kube-apiservers (v1.20.2) in network namespaces:
// each apiserver on its own address (192.0.2.11-14:6443) in a "masters" namespace, so the
// `kubernetes` EndpointSlice lists each one's own --advertise-address; kubeha and kubectl in a
// "node" namespace, kubectl through localhost:7445. The node knows one master at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { K8S_BIN, makeKubePki, type KubePki } from '../support/kube.js';
import { createBed, nsFetchTextAsync, startKubehaConfig, type BedHost, type NsProcess } from '../support/netns.js';

const MASTER_IPS = ['192.0.2.11', '192.0.2.12', '192.0.2.13', '192.0.2.14'];
const LOCAL = '127.0.0.1:7445';

interface ServerView { name: string; address: string; state: string; removed: boolean; sessions: { active: number; total: number } }
interface BackendView { servers: ServerView[]; discovery: { source: string; api: string; generation: number; servers: number; lastSync: string | null; errors: number } }

/** kube-apiserver on `ip`:6443 in the masters namespace, advertising `ip`. */
function startApiserver(masters: BedHost, pki: KubePki, dir: string, ip: string): NsProcess {
  return masters.spawn(join(K8S_BIN, 'kube-apiserver'), [
    '--etcd-servers=http://127.0.0.1:2379', `--bind-address=${ip}`, `--advertise-address=${ip}`, '--secure-port=6443', '--insecure-port=0',
    `--tls-cert-file=${pki.serverCert}`, `--tls-private-key-file=${pki.serverKey}`, `--client-ca-file=${pki.ca}`,
    `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`, '--service-account-issuer=https://kubernetes.default.svc',
    '--service-cluster-ip-range=10.96.0.0/12', '--authorization-mode=RBAC', '--shutdown-delay-duration=2s', `--cert-dir=${join(dir, `certs-${ip}`)}`, '--profiling=false',
    '--endpoint-reconciler-type=lease',
  ], () => false);
}

/** Sends `signal` to a namespace process (the `ip netns exec` child execs it) and waits for its exit. */
async function stop(p: NsProcess, signal: NodeJS.Signals): Promise<void> {
  if (!p.running()) return;
  p.child.kill(signal);
  await p.exited;
}

test('node-local kubeha with discovery: one bootstrap master finds all, follows a fourth and a stopped one, and comes back from its state file; kubectl fails only while no apiserver is up', async (t) => {
  const bed = createBed(t, 2);
  const [masters, node] = bed.hosts as [BedHost, BedHost];
  for (const ip of MASTER_IPS) execFileSync('ip', ['-n', masters.ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  const pki = makeKubePki(t, MASTER_IPS);
  const etcd = masters.spawn('etcd', ['--name', 'e', '--data-dir', join(bed.dir, 'etcd'), '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
    '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 'e=http://127.0.0.1:2380']);
  await etcd.waitLine(/ready to serve client requests/, 20_000);
  const apiservers = new Map<string, NsProcess>();
  for (const ip of MASTER_IPS.slice(0, 3)) apiservers.set(ip, startApiserver(masters, pki, bed.dir, ip));

  // One kubeconfig for the node: the admin certificate (may list EndpointSlices), the server the node-local LB.
  const kubeconfig = join(bed.dir, 'node.kubeconfig');
  writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://${LOCAL}\n    certificate-authority: ${pki.ca}\nusers:\n- name: u\n  user:\n    client-certificate: ${pki.adminCert}\n    client-key: ${pki.adminKey}\ncontexts:\n- name: x\n  context: { cluster: c, user: u }\ncurrent-context: x\n`);
  const kubectl = async (args: string[], timeoutS = 3) => {
    const p = node.spawn(join(K8S_BIN, 'kubectl'), [`--kubeconfig=${kubeconfig}`, `--request-timeout=${timeoutS}s`, ...args]);
    const code = await p.exited;
    return { ok: code === 0, out: p.output().trim() };
  };
  const direct = async (ip: string, args: string[]) => {
    const p = node.spawn(join(K8S_BIN, 'kubectl'), [`--kubeconfig=${kubeconfig}`, `--server=https://${ip}:6443`, '--request-timeout=3s', ...args]);
    const code = await p.exited;
    return { ok: code === 0, out: p.output().trim() };
  };
  const waitReady = async (ip: string, timeoutMs = 60_000) => {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if ((await direct(ip, ['get', '--raw', '/readyz'])).ok) return Date.now();
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`apiserver ${ip} not ready in ${timeoutMs} ms`);
  };
  for (const ip of MASTER_IPS.slice(0, 3)) await waitReady(ip);

  // 1. The API lists the three, each with its own address.
  const sliceIps = async () => {
    const r = await direct(MASTER_IPS[0]!, ['get', '--raw', '/apis/discovery.k8s.io/v1beta1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes']);
    assert.ok(r.ok, r.out);
    const list = JSON.parse(r.out) as { items: { endpoints: { addresses: string[] }[] }[] };
    return list.items.flatMap((i) => i.endpoints.flatMap((e) => e.addresses)).sort();
  };
  const until = async (pred: () => Promise<boolean> | boolean, timeoutMs: number, what: string) => {
    const end = Date.now() + timeoutMs;
    while (!(await pred())) {
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return Date.now();
  };
  await until(async () => (await sliceIps()).length === 3, 30_000, 'three apiservers in the EndpointSlice');
  assert.deepEqual(await sliceIps(), MASTER_IPS.slice(0, 3));

  // 2. The node-local kubeha knows one master and discovers the rest.
  const stateFile = join(bed.dir, 'endpoints-apiservers.json');
  const config = {
    global: { shutdownGrace: '1s' },
    frontends: [{ name: 'apiserver', bind: `localhost:7445`, backend: 'apiservers' }],
    backends: [{
      name: 'apiservers', balance: 'latency', tcpUserTimeout: '5s',
      healthCheck: { type: 'https', path: '/readyz', interval: '200ms', timeout: '1s', rise: 2, fall: 2 },
      discovery: { kubernetes: { kubeconfig, stateFile, debounce: '500ms' } },
      servers: [{ name: 'm1', address: `${MASTER_IPS[0]}:6443` }],
    }],
    admin: { bind: '127.0.0.1:9000' },
  };
  let lb = startKubehaConfig(bed, node, config);
  const backend = async (): Promise<BackendView | undefined> => {
    const body = await nsFetchTextAsync(node, 'http://127.0.0.1:9000/api/v1/state');
    return body ? (JSON.parse(body) as { backends: BackendView[] }).backends[0] : undefined;
  };
  const live = (b: BackendView | undefined) => (b?.servers ?? []).filter((s) => !s.removed);
  const upAddresses = (b: BackendView | undefined) => live(b).filter((s) => s.state === 'up').map((s) => s.address.replace(':6443', '')).sort();
  await until(async () => upAddresses(await backend()).length === 3, 30_000, 'kubeha to discover and check three apiservers');
  const first = (await backend())!;
  assert.equal(first.discovery.source, 'endpointslices');
  assert.equal(first.discovery.api, 'discovery.k8s.io/v1beta1', 'a v1.20 apiserver serves EndpointSlices as v1beta1 only');
  assert.ok(live(first).some((s) => s.name === 'm1'), 'the bootstrap master keeps its name');
  assert.ok(existsSync(stateFile));

  // A kubectl loop through the node-local LB for the rest of the test.
  const results: { start: number; end: number; ok: boolean; out: string }[] = [];
  let looping = true;
  const loop = (async () => {
    for (let i = 0; looping && i < 3000; i++) {
      const start = Date.now();
      const r = await kubectl(i % 2 ? ['get', 'namespaces'] : ['create', 'configmap', `nl-${i}`, '--from-literal=i=1']);
      results.push({ start, end: Date.now(), ok: r.ok, out: r.out.slice(0, 200) });
    }
  })();
  t.after(async () => {
    looping = false;
    await loop;
  });

  // 3. A fourth apiserver: in the list and taking connections soon after it is ready.
  apiservers.set(MASTER_IPS[3]!, startApiserver(masters, pki, bed.dir, MASTER_IPS[3]!));
  const fourthReady = await waitReady(MASTER_IPS[3]!);
  const fourthTaking = await until(async () => (live(await backend()).find((s) => s.address === `${MASTER_IPS[3]}:6443`)?.sessions.total ?? 0) > 0, 30_000, 'the fourth apiserver to take connections');
  t.diagnostic(`the fourth apiserver took connections ${fourthTaking - fourthReady} ms after it was ready`);
  assert.ok(fourthTaking - fourthReady < 15_000, 'within the lease reconciler period (10 s) and the debounce');

  // 4. One stopped with SIGTERM: removed from the list (its lease goes with it), its sessions drained.
  const stoppedAt = Date.now();
  await stop(apiservers.get(MASTER_IPS[1]!)!, 'SIGTERM');
  const removedAt = await until(async () => !live(await backend()).some((s) => s.address === `${MASTER_IPS[1]}:6443`), 30_000, 'the stopped apiserver to leave the list');
  t.diagnostic(`the SIGTERMed apiserver left kubeha's list ${removedAt - stoppedAt} ms after the signal`);
  const afterRemoval = (await backend())!;
  assert.ok(!afterRemoval.servers.some((s) => s.address === `${MASTER_IPS[1]}:6443` && s.sessions.active > 0), 'no session left on it');
  assert.equal(JSON.parse(readFileSync(stateFile, 'utf8')).servers.length, 3, 'the state file follows');

  // 5. Every apiserver stopped, kubeha restarted, apiservers started again (not the bootstrap master):
  //    kubeha finds them from its state file. The bootstrap master goes first and leaves the saved
  //    list, as a retired master would: stopped all at once, the last list saved is whichever the
  //    last one to leave wrote, and one holding only the master that never comes back leaves
  //    nothing to find the others through.
  const saved = () => (JSON.parse(readFileSync(stateFile, 'utf8')) as { servers: { address: string }[] }).servers.map((x) => x.address).sort();
  await stop(apiservers.get(MASTER_IPS[0]!)!, 'SIGTERM');
  await until(() => !saved().includes(`${MASTER_IPS[0]}:6443`), 30_000, 'the bootstrap master to leave the saved list');
  const outageFrom = Date.now();
  await Promise.all([...apiservers.values()].map((p) => stop(p, 'SIGTERM')));
  await stop(lb, 'SIGTERM');
  lb = startKubehaConfig(bed, node, config);
  await lb.waitLine(/"event":"discovery-restored"/, 20_000);
  for (const ip of [MASTER_IPS[2]!, MASTER_IPS[3]!]) apiservers.set(ip, startApiserver(masters, pki, bed.dir, ip));
  const backUp = Math.min(...(await Promise.all([waitReady(MASTER_IPS[2]!), waitReady(MASTER_IPS[3]!)])));
  await until(async () => upAddresses(await backend()).length === 2, 30_000, `kubeha to reach the restarted apiservers (it restored ${saved().join(', ')})`);
  const outageTo = backUp + 3000; // rise 2 × 200 ms, a check timeout, a kubectl round trip
  await until(() => results.some((r) => r.start > outageTo && r.ok), 20_000, 'a request through the node-local LB after the outage');
  const restarted = (await backend())!;
  assert.deepEqual(upAddresses(restarted), [MASTER_IPS[2], MASTER_IPS[3]]);
  assert.ok(['endpointslices', 'state-file'].includes(restarted.discovery.source));

  // Let the loop run a little more, then count.
  const end = Date.now() + 3000;
  await until(() => Date.now() > end, 5000, 'more requests');
  looping = false;
  await loop;
  const outside = results.filter((r) => !r.ok && (r.end < outageFrom || r.start > outageTo));
  const inside = results.filter((r) => !r.ok && !(r.end < outageFrom || r.start > outageTo));
  t.diagnostic(`${results.length} kubectl requests through localhost:7445; ${inside.length} failed while no apiserver was up (${((outageTo - outageFrom) / 1000).toFixed(1)} s), ${outside.length} outside`);
  assert.deepEqual(outside.map((r) => r.out), [], 'no failed request outside the window with no apiserver up');
  assert.ok(results.filter((r) => r.ok).length > 20);
});
