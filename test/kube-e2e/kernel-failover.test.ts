// Stateful failover of the kernel data plane (issue 16): real kube-apiservers behind two kubeha LB
// nodes with `dataPlane: kernel`, `sourceNat: vip` and `conntrackSync` (Debian's conntrackd), all
// in network namespaces on one bridge. The VIP holder is SIGKILLed and cut off the network while a
// `kubectl get -w` is open and a kubectl loop runs through the VIP: the node that takes the VIP has
// every flow's conntrack entry, so no request fails and the watch stream goes on unbroken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { K8S_BIN, makeKubePki, startApiserversIn, writeKubeconfig } from '../support/kube.js';
import { createBed, startKubehaConfig, until, VIP, type BedHost } from '../support/netns.js';

const MASTER_IPS = ['192.0.2.11', '192.0.2.12', '192.0.2.13'];
const PORT = 16443;

async function kubectlIn(host: BedHost, kubeconfig: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const p = host.spawn(join(K8S_BIN, 'kubectl'), [`--kubeconfig=${kubeconfig}`, '--request-timeout=5s', ...args]);
  const code = await p.exited;
  return { ok: code === 0, out: p.output() };
}

/** The conntrack entries of flows to the VIP's port in a namespace (`conntrack -L`), one a line. */
function vipFlows(host: BedHost): string[] {
  const out = execFileSync('ip', ['netns', 'exec', host.ns, 'conntrack', '-L', '-p', 'tcp', '--orig-dst', VIP, '--orig-port-dst', String(PORT)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l.includes('ESTABLISHED'));
}

test('kernel data plane with conntrackSync: the VIP holder is SIGKILLed and cut off; a kubectl loop through the VIP has no failure and a kubectl get -w stays connected', async (t) => {
  const bed = createBed(t, 4);
  const [masters, lb1, lb2, client] = bed.hosts as [BedHost, BedHost, BedHost, BedHost];
  for (const lb of [lb1, lb2]) execFileSync('ip', ['netns', 'exec', lb.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const pki = makeKubePki(t, [...MASTER_IPS, VIP]);
  await startApiserversIn(masters, bed.dir, pki, MASTER_IPS);
  const lbConfig = (priority: number, me: BedHost, peer: BedHost) => ({
    frontends: [{ name: 'apiserver', bind: `${VIP}:${PORT}`, backend: 'apiservers', dataPlane: 'kernel', sourceNat: 'vip' }],
    backends: [{ name: 'apiservers', healthCheck: { type: 'https', path: '/readyz', interval: '200ms', timeout: '1s', rise: 2, fall: 2, caFile: pki.ca }, servers: MASTER_IPS.map((ip, i) => ({ name: `master${i + 1}`, address: `${ip}:6443` })) }],
    vrrp: { instances: [{ name: 'VI_1', interface: 'eth0', virtualRouterId: 61, priority, version: 3, advertInterval: '100ms', vips: [`${VIP}/24`], unicastPeers: [peer.ip], unicastSrcIp: me.ip, track: { backends: ['apiservers'] } }] },
    conntrackSync: { runDir: join(bed.dir, `conntrackd-${me.ns}`) },
  });
  const k1 = startKubehaConfig(bed, lb1, lbConfig(150, lb1, lb2));
  const k2 = startKubehaConfig(bed, lb2, lbConfig(100, lb2, lb1));
  for (const k of [k1, k2]) await k.waitLine(/"event":"conntrack-sync-started"/, 20_000);
  await k1.waitLine(/"to":"master"/, 60_000);
  await k2.waitLine(/"to":"backup"/, 60_000);
  assert.ok(await until(() => lb1.hasAddress(VIP), 2000));
  for (const k of [k1, k2]) for (const m of ['master1', 'master2', 'master3']) await k.waitLine(new RegExp(`"server":"${m}".*"up":true`), 60_000);
  const kubeconfig = writeKubeconfig(pki, `https://${VIP}:${PORT}`);
  const warm = await kubectlIn(client, kubeconfig, ['get', 'namespaces']);
  assert.ok(warm.ok, warm.out);

  // A watch through the VIP, held across the failover; it prints each configmap it hears of.
  const watch = client.spawn(join(K8S_BIN, 'kubectl'), [`--kubeconfig=${kubeconfig}`, 'get', 'configmaps', '--watch', '-o', 'name']);
  assert.ok((await kubectlIn(client, kubeconfig, ['create', 'configmap', 'before-failover', '--from-literal=a=1'])).ok);
  await watch.waitLine(/^configmap\/before-failover$/, 20_000);
  // the servers answer the VIP, and the backup already has the watch's flow in its kernel
  const onHolder = vipFlows(lb1);
  assert.ok(onHolder.length > 0 && onHolder.every((l) => l.includes(`dst=${VIP}`)), onHolder.join('\n'));
  assert.ok(await until(() => vipFlows(lb2).length > 0, 10_000), 'conntrackd replicated the flows to the backup');

  const results: { start: number; end: number; ok: boolean; out: string }[] = [];
  let killedAt = 0;
  const end = Date.now() + 12_000;
  for (let i = 0; Date.now() < end && i < 1000; i++) {
    const start = Date.now();
    const r = await kubectlIn(client, kubeconfig, i % 2 ? ['get', 'namespaces'] : ['create', 'configmap', `during-${i}`, '--from-literal=i=1']);
    results.push({ start, end: Date.now(), ok: r.ok, out: r.out.trim().slice(0, 300) });
    if (i === 5) {
      // the holder dies: its kubeha (VRRP, checks) killed and the node cut off the network
      killedAt = Date.now();
      k1.child.kill('SIGKILL');
      bed.plug(1, false);
    }
  }
  assert.ok(killedAt > 0, 'the loop reached the kill');
  await until(() => lb2.hasAddress(VIP), 5000);
  assert.ok(lb2.hasAddress(VIP), 'the backup holds the VIP');
  const failed = results.filter((r) => !r.ok);
  const around = results.filter((r) => r.end >= killedAt && r.start <= killedAt + 3000);
  const slowest = Math.max(...around.map((r) => r.end - r.start));
  t.diagnostic(`${results.length} kubectl requests through the VIP, ${failed.length} failed; the slowest around the kill took ${slowest} ms; ${results.filter((r) => r.start > killedAt).length} after it`);
  assert.deepEqual(failed.map((r) => r.out), [], 'no request fails');
  assert.ok(results.filter((r) => r.start > killedAt).length > 5);

  // the watch opened before the failover hears of a configmap created after it, on the same stream
  assert.ok((await kubectlIn(client, kubeconfig, ['create', 'configmap', 'after-failover', '--from-literal=a=1'])).ok);
  await watch.waitLine(/^configmap\/after-failover$/, 20_000);
  assert.ok(watch.running(), `the watch is still open: ${watch.output().slice(-500)}`);
  assert.doesNotMatch(watch.output(), /error|unable|refused|reset/i);
});
