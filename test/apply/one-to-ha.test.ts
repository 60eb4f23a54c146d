// The install guides' main case, from one master to three: a single control-plane node (installed
// by apply with `binaries:`) whose worker's kubelet and kube-proxy talk to it directly; then the
// inventory lists two more masters with `join: true`, and one apply adds them to etcd one at a time
// (as learners, promoted once caught up: the quorum never waits on a starting member), starts their
// control planes, brings the VIP up on all three, moves the worker, and only then restarts the first
// apiserver (its etcd servers grew) behind the VIP — while the worker's clients never see a failed
// request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { applyCommand } from '../../src/cli/apply.js';
import { runWithStreams } from '../support/cli-streams.js';
import { bootHosts, type Host } from '../support/hosts.js';
import { binariesFolder, clientLog, startStandins } from '../support/kube-hosts.js';
import { K8S_BIN } from '../support/kube.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

test('one master to three: etcd members added one at a time as learners, new control planes first, the worker moved, the old apiserver restarted last; 0 failed client requests', async (t) => {
  const bed = await bootHosts(t, 4, { bindReadOnly: [process.execPath, REPO, K8S_BIN] });
  const [m1, m2, m3, w] = bed.hosts as [Host, Host, Host, Host];
  const sh = async (h: Host, cmd: string) => {
    const r = await h.exec(cmd);
    assert.equal(r.code, 0, `${h.name}: ${cmd}: ${r.stderr}${r.stdout}`);
    return r.stdout.trim();
  };
  await Promise.all(bed.hosts.map((h) => sh(h, `ln -sf ${REPO}/bin/kubeha.js /usr/bin/kubeha && ln -sf ${K8S_BIN}/kubectl /usr/local/bin/kubectl`)));
  binariesFolder(bed.dir);
  const inventory = join(bed.dir, 'inventory.yaml');
  const write = (masters: { name: string; ip: string; join?: boolean }[]) => writeFileSync(inventory, stringify({
    cluster: 'grow', vip: `${bed.spareIp}/${bed.prefixLen}`, interface: 'host0', kubernetesVersion: 'v1.20.2', binaries: 'binaries',
    masters, workers: [{ name: w.name, ip: w.ip }], vrrp: { virtualRouterId: 66 },
    ssh: { identityFile: bed.keyFile, knownHostsFile: bed.knownHosts },
  }));
  const apply = async () => {
    const started = Date.now();
    const r = await runWithStreams((out, err) => applyCommand({ inventory, gateTimeout: '120s' }, out, err));
    t.diagnostic(`apply → ${r.code} in ${Date.now() - started} ms\n${r.out}${r.code === 0 ? '' : r.err}`);
    return r;
  };

  // One master, as the guides start; the worker on it directly, with the admin identity apply issued.
  write([{ name: m1.name, ip: m1.ip }]);
  const single = await apply();
  assert.equal(single.code, 0, `${single.err}${single.out}`);
  const admin = await sh(m1, 'cat /etc/kubernetes/admin.conf');
  await startStandins(w, admin.replace(/server: https:\/\/[^\n]+/, `server: https://${m1.ip}:6443`));

  // Three masters: the other two join.
  write([{ name: m1.name, ip: m1.ip }, { name: m2.name, ip: m2.ip, join: true }, { name: m3.name, ip: m3.ip, join: true }]);
  const before = (await clientLog(w)).length;
  const grown = await apply();
  assert.equal(grown.code, 0, `${grown.err}${grown.out}`);
  const order = grown.err;
  const at = (re: RegExp) => {
    const i = order.search(re);
    assert.ok(i >= 0, `${re} in the run's log:\n${order}`);
    return i;
  };
  assert.ok(at(new RegExp(`${m2.name}: etcd: added as a learner`)) < at(new RegExp(`${m3.name}: etcd: added as a learner`)), 'one member at a time');
  assert.ok(at(new RegExp(`${m2.name}: etcd learner [0-9a-f]+ promoted`)) < at(new RegExp(`${m3.name}: etcd: added as a learner`)), 'promoted before the next is added');
  assert.ok(at(new RegExp(`${m3.name}: (daemon-reload, )?start kube-apiserver`)) < at(new RegExp(`${w.name}: /etc/kubernetes/kubelet.conf now on`)), 'the new apiservers before the worker');
  assert.ok(at(new RegExp(`${w.name}: worker ok`)) < at(new RegExp(`${m1.name}: (daemon-reload, )?restart kube-apiserver`)), 'the first apiserver restarts after the worker moved');
  for (const m of [m1, m2, m3]) assert.equal(await sh(m, 'systemctl is-active etcd kube-apiserver kube-controller-manager kube-scheduler kubeha | sort -u'), 'active', m.name);
  const members = JSON.parse(await sh(m1, 'ETCDCTL_API=3 etcdctl --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key --endpoints=https://127.0.0.1:2379 member list -w json')) as { members: { name: string; isLearner?: boolean }[] };
  assert.deepEqual(members.members.map((x) => `${x.name}${x.isLearner ? ' (learner)' : ''}`).sort(), [m1.name, m2.name, m3.name].sort(), 'three voting members');
  assert.match(await sh(w, 'cat /etc/kubernetes/kubelet.conf'), new RegExp(`server: https://${bed.spareIp.replace(/\./g, '\\.')}:16443`));

  const after = await clientLog(w);
  assert.deepEqual(after.slice(before).filter((l) => l.includes(' FAIL ')), [], 'the worker\'s kubelet and kube-proxy');
  assert.ok(after.length - before > 20, `the worker's clients ran throughout (${after.length - before} requests)`);
  t.diagnostic(`worker requests during the move to HA: ${after.length - before}`);
});
