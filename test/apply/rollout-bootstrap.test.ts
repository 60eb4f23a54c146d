// A fresh install with `kubeha apply`, in the order the guides need (operations.md "Bootstrap: the
// VIP before the first apiserver"): on hosts where nothing runs yet, apply starts etcd on the
// masters together and the LB hosts' kubeha (no VIP until an apiserver passes its check), passes
// no apiserver gate, leaves the workers, and says to run kubeadm init; once the apiservers run,
// the VIP comes up by itself and the next apply gates every apiserver and moves the workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyCommand, type ApplyOptions } from '../../src/cli/apply.js';
import { runWithStreams } from '../support/cli-streams.js';
import { bootKubeHosts } from '../support/kube-hosts.js';
import type { Host } from '../support/hosts.js';

test('fresh hosts: etcd and the front door first (no VIP without an apiserver), then kubeadm init, then apply gates the apiservers and moves the worker', async (t) => {
  const k = await bootKubeHosts(t, { masters: 3, workers: 1, virtualRouterId: 64, fresh: true });
  const [m1, m2] = k.masters as [Host, Host, Host];
  const [w] = k.workers as [Host];
  const apply = async (o: Partial<ApplyOptions> = {}) => {
    const r = await runWithStreams((out, err) => applyCommand({ inventory: k.inventory, gateTimeout: '60s', ...o }, out, err));
    t.diagnostic(`apply ${JSON.stringify(o)} → ${r.code}\n${r.out}${r.code === 0 ? '' : r.err}`);
    return r;
  };
  const holders = async () => (await Promise.all(k.masters.map(async (m) => ((await m.exec(`ip -4 -o addr show to ${k.vip}`)).stdout.trim() ? [m.name] : [])))).flat();

  const first = await apply();
  assert.equal(first.code, 0, `${first.err}${first.out}`);
  for (const m of k.masters) assert.match(first.out, new RegExp(`${m.name} +master\\+lb +applied +${m.name} listens on ${m.ip.replace(/\./g, '\\.')}:16443; no apiserver yet`));
  assert.match(first.out, new RegExp(`${w.name} +worker +unchanged`), 'no kubelet.conf yet: nothing to move');
  assert.match(first.out, new RegExp(`^next: no apiserver runs yet: run kubeadm init on ${m1.name} `, 'm'));
  for (const m of k.masters) {
    assert.equal((await k.sh(m, 'systemctl is-active etcd kubeha')).trim(), 'active\nactive', `${m.name}: etcd and kubeha run`);
  }
  assert.deepEqual(await holders(), [], 'no VIP while no apiserver can serve');

  // kubeadm init's part: the apiservers start; kubeha's checks pass and one LB host takes the VIP.
  await k.startApiservers();
  for (const end = Date.now() + 60_000; (await holders()).length === 0;) {
    assert.ok(Date.now() < end, 'the VIP came up once an apiserver served');
    await new Promise((r) => setTimeout(r, 250));
  }
  // the first node whose check passed took it (the highest priority takes it back after preemptDelay)
  assert.equal((await holders()).length, 1);
  await k.startWorkers();

  const second = await apply();
  assert.equal(second.code, 0, `${second.err}${second.out}`);
  assert.doesNotMatch(second.out, /^next:/m);
  assert.match(second.err, new RegExp(`${m2.name}: apiserver ok: `), 'every apiserver gated now');
  assert.match(second.out, new RegExp(`${w.name} +worker +applied +${w.name}'s Lease renewed`));
  assert.match(await k.sh(w, 'cat /etc/kubernetes/kubelet.conf'), new RegExp(`server: https://${k.vip}:16443`));
  assert.equal((await apply({ dryRun: true })).code, 0, 'nothing left to do');
});
