// A fresh install from nothing with `kubeha apply` and `binaries:`: three booted Debian hosts with
// neither etcd nor Kubernetes; apply installs the programs (the real etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubectl), issues the PKI with kubeadm's own phases, starts
// etcd on every master together (TLS), each control plane one master at a time behind its gate, and
// kubeha with the VIP; then the cluster answers through the VIP, one controller-manager and one
// scheduler lead (through each master's node-local kubeha: masterAccess: local), keys are 0600, and
// a second apply changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { applyCommand, type ApplyOptions } from '../../src/cli/apply.js';
import { runWithStreams } from '../support/cli-streams.js';
import { bootHosts, type Host } from '../support/hosts.js';
import { binariesFolder } from '../support/kube-hosts.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

test('fresh install with binaries: programs, kubeadm-issued PKI, etcd over TLS, the control plane and the VIP from empty hosts; a second apply is a no-op', async (t) => {
  const bed = await bootHosts(t, 3, { bindReadOnly: [process.execPath, REPO] });
  const masters = bed.hosts;
  const sh = async (h: Host, cmd: string) => {
    const r = await h.exec(cmd);
    assert.equal(r.code, 0, `${h.name}: ${cmd}: ${r.stderr}${r.stdout}`);
    return r.stdout.trim();
  };
  await Promise.all(masters.map((m) => sh(m, `ln -sf ${REPO}/bin/kubeha.js /usr/bin/kubeha && ! command -v etcd && ! command -v kube-apiserver`)));
  binariesFolder(bed.dir);
  const inventory = join(bed.dir, 'inventory.yaml');
  writeFileSync(inventory, stringify({
    cluster: 'fresh', vip: `${bed.spareIp}/${bed.prefixLen}`, interface: 'host0', kubernetesVersion: 'v1.20.2', binaries: 'binaries',
    masters: masters.map((m) => ({ name: m.name, ip: m.ip })), vrrp: { virtualRouterId: 65 }, masterAccess: 'local',
    ssh: { identityFile: bed.keyFile, knownHostsFile: bed.knownHosts },
  }));
  const apply = async (o: Partial<ApplyOptions> = {}) => {
    const started = Date.now();
    const r = await runWithStreams((out, err) => applyCommand({ inventory, gateTimeout: '90s', ...o }, out, err));
    t.diagnostic(`apply ${JSON.stringify(o)} → ${r.code} in ${Date.now() - started} ms\n${r.out}${r.code === 0 ? '' : r.err}`);
    return r;
  };

  const first = await apply();
  assert.equal(first.code, 0, `${first.err}${first.out}`);
  for (const m of masters) assert.match(first.out, new RegExp(`${m.name} +master\\+lb +applied`));
  assert.doesNotMatch(first.out, /^next:/m, 'apply started the apiservers itself: no bootstrap step left');
  assert.match(first.err, /etcd: no member runs: .* start together/);
  for (const m of masters) {
    assert.equal(await sh(m, 'systemctl is-active etcd kube-apiserver kube-controller-manager kube-scheduler kubeha | sort -u'), 'active');
    assert.equal(await sh(m, 'stat -c %a /etc/kubernetes/pki/ca.key /etc/kubernetes/pki/etcd/peer.key /etc/kubernetes/admin.conf | sort -u'), '600', 'keys and kubeconfigs 0600');
    assert.match(await sh(m, 'openssl x509 -in /etc/kubernetes/pki/apiserver.crt -noout -text 2>/dev/null || cat /etc/kubernetes/pki/apiserver.crt'), /BEGIN CERTIFICATE|Subject Alternative Name/);
  }
  assert.equal(statSync(join(bed.dir, '.kubeha-pki', 'fresh')).mode & 0o777, 0o700, 'the local PKI folder is 0700');
  // through the VIP with the admin kubeconfig kubeadm issued; one controller-manager and one scheduler lead
  const kubectl = (args: string) => sh(masters[0]!, `kubectl --kubeconfig=/etc/kubernetes/admin.conf --request-timeout=10s ${args}`);
  assert.match(await kubectl('config view -o jsonpath={.clusters[0].cluster.server}'), new RegExp(`^https://${bed.spareIp.replace(/\./g, '\\.')}:16443$`));
  assert.equal(await kubectl('get --raw /readyz'), 'ok');
  for (const lease of ['kube-controller-manager', 'kube-scheduler']) {
    let holder = '';
    for (const end = Date.now() + 60_000; !holder && Date.now() < end;) {
      holder = (await masters[0]!.exec(`kubectl --kubeconfig=/etc/kubernetes/admin.conf -n kube-system get lease ${lease} -o jsonpath={.spec.holderIdentity}`)).stdout.trim();
      if (!holder) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(masters.some((m) => holder.startsWith(`${m.name}_`)), `${lease} has one leader on a master (${holder})`);
  }
  // masterAccess: local — the controller-manager and scheduler go through each master's node-local
  // kubeha (a second frontend of the LB daemon), which follows the apiservers from the API
  for (const m of masters) {
    for (const conf of ['controller-manager.conf', 'scheduler.conf']) assert.equal(await sh(m, `grep -o 'server: .*' /etc/kubernetes/${conf}`), 'server: https://127.0.0.1:7445', `${m.name}: ${conf}`);
    assert.equal(await sh(m, 'kubectl --kubeconfig=/etc/kubernetes/controller-manager.conf --request-timeout=10s get --raw /readyz'), 'ok', `${m.name}: through its node-local kubeha, the apiserver's certificate naming 127.0.0.1`);
    let local: { discovery?: { source: string; servers: number } | null } | undefined;
    for (const end = Date.now() + 60_000; Date.now() < end;) {
      const state = JSON.parse(await sh(m, 'curl -sf http://127.0.0.1:9000/api/v1/state')) as { backends: { name: string; discovery?: { source: string; servers: number } | null }[] };
      local = state.backends.find((b) => b.name === 'local-apiservers');
      if (local?.discovery && /^endpoint/.test(local.discovery.source) && local.discovery.servers === 3) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(local?.discovery && /^endpoint/.test(local.discovery.source) && local.discovery.servers === 3, `${m.name}: the local backend lists the three apiservers from the API with the controller-manager's credentials: ${JSON.stringify(local?.discovery)}`);
  }

  const again = await apply({ dryRun: true });
  assert.equal(again.code, 0, `${again.err}${again.out}`);
  assert.match(again.out, /3 host\(s\): nothing to change$/m);
});
