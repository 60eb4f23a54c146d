// End to end against real kube-apiservers (v1.20.2, built from Debian's kubernetes source package):
// three apiservers on one 3-member etcd, kubeha in front with https checks on /readyz, kubectl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcd } from '../support/etcd.js';
import { faultProxy } from '../support/fault-proxy.js';
import { kubectlAsync, makeKubePki, startApiservers, writeKubeconfig } from '../support/kube.js';
import { startLb } from '../support/kube-lb.js';

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
