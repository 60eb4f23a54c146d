// `kubeha apply --dry-run` against booted Debian hosts: what apply would change, per host, with
// host keys verified, and nothing changed on the hosts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { applyCommand, type ApplyOptions } from '../../src/cli/apply.js';
import { runWithStreams } from '../support/cli-streams.js';
import { bootHosts } from '../support/hosts.js';

test('apply --dry-run: files to create and units to start on the master, the worker\'s kubelet.conf moved to the VIP, nothing changed; exit 2, 0, 1', async (t) => {
  const bed = await bootHosts(t, 2);
  const [m, w] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
  const knownHosts = join(bed.dir, 'apply-known_hosts');
  copyFileSync(bed.knownHosts, knownHosts);
  const inventory = join(bed.dir, 'inventory.yaml');
  const vip = `${bed.spareIp}/${bed.prefixLen}`;
  writeFileSync(inventory, stringify({
    cluster: 'bed', vip, interface: 'host0',
    masters: [{ name: m.name, ip: m.ip }], workers: [{ name: w.name, ip: w.ip }],
    vrrp: { virtualRouterId: 77 }, ssh: { identityFile: bed.keyFile, knownHostsFile: knownHosts },
  }));
  const kubeletConf = `apiVersion: v1\nclusters:\n- cluster:\n    server: https://${m.ip}:6443\n  name: kubernetes\nkind: Config\n`;
  assert.equal((await w.exec(`mkdir -p /etc/kubernetes && cat > /etc/kubernetes/kubelet.conf <<'EOF2'\n${kubeletConf}EOF2`)).code, 0);
  const run = (o: Partial<ApplyOptions>) => runWithStreams((out, err) => applyCommand({ inventory, dryRun: true, ...o }, out, err));

  const first = await run({});
  t.diagnostic(first.out);
  assert.equal(first.code, 2, first.err + first.out);
  assert.match(first.out, new RegExp(`^${m.name} \\(${m.ip.replace(/\./g, '\\.')}, master\\+lb\\): debian 12 `, 'm'));
  assert.match(first.out, /^  create \/etc\/kubeha\/kubeha\.yaml \(644\)$/m);
  assert.match(first.out, /^  create \/etc\/etcd\/etcd\.env/m);
  assert.match(first.out, /^  unit   kubeha: daemon-reload, start \(/m);
  assert.match(first.out, new RegExp(`^  move   /etc/kubernetes/kubelet\\.conf: cluster kubernetes: https://${m.ip.replace(/\./g, '\\.')}:6443 → https://${bed.spareIp.replace(/\./g, '\\.')}:16443$`, 'm'));
  assert.match(first.out, /^  absent \/etc\/kubernetes\/kube-proxy\.conf: no such file/m);
  assert.match(first.out, /^2 host\(s\): changes pending$/m);
  assert.equal((await m.exec('test -e /etc/kubeha')).code, 1, 'a dry run changes nothing');
  assert.equal((await w.exec('cat /etc/kubernetes/kubelet.conf')).stdout, kubeletConf);

  // the worker moved to the VIP: nothing to do there (exit 0 for that host alone)
  assert.equal((await w.exec(`sed -i 's#https://${m.ip}:6443#https://${bed.spareIp}:16443#' /etc/kubernetes/kubelet.conf`)).code, 0);
  const workerOnly = await run({ hosts: w.name });
  assert.equal(workerOnly.code, 0, workerOnly.out + workerOnly.err);
  assert.match(workerOnly.out, /keep   \/etc\/kubernetes\/kubelet\.conf: already on https:/);

  // an unknown host key fails that host (exit 1) with its fingerprint; --accept-new-host-keys records it
  writeFileSync(knownHosts, readFileSync(bed.knownHosts, 'utf8').split('\n').filter((l) => !l.startsWith(`${m.ip} `)).join('\n'));
  const unknown = await run({ hosts: m.name });
  assert.equal(unknown.code, 1);
  assert.match(unknown.out, /FAILED: .*unknown host key ssh-ed25519 SHA256:/);
  const accepted = await run({ hosts: m.name, acceptNewHostKeys: true });
  assert.equal(accepted.code, 2, accepted.out);
  assert.match(readFileSync(knownHosts, 'utf8'), new RegExp(`^${m.ip.replace(/\./g, '\\.')} ssh-`, 'm'), 'the new key was recorded');

  assert.equal((await run({ hosts: 'nope' })).code, 1);

  // A real run on a master without etcd or etcdctl: the fresh etcd's health cannot be known, so the master
  // is rolled back (its files removed, etcd stopped again) and nothing after it is touched.
  const wet = await run({ dryRun: false, gateTimeout: '2s' });
  t.diagnostic(wet.out);
  assert.equal(wet.code, 1, wet.err + wet.out);
  assert.match(wet.out, /stopped: the new etcd cluster did not become healthy/);
  assert.match(wet.out, new RegExp(`${m.name} +master\\+lb +rolled back +.*no etcdctl on PATH: apply asks etcd.s health with it .*rolled back: /etc/systemd/system/etcd\\.service, /etc/etcd/etcd\\.env put back; etcd stopped`));
  assert.match(wet.out, new RegExp(`${w.name} +worker +unchanged`), 'the worker is already on the VIP');
  assert.equal((await m.exec('test -e /etc/etcd/etcd.env || test -e /etc/systemd/system/etcd.service')).code, 1, 'the created files are gone');
  assert.equal((await m.exec('systemctl is-enabled etcd')).code === 0, false, 'etcd is not left enabled');
  const journal = (await m.exec('cat /var/lib/kubeha/apply.log')).stdout;
  assert.match(journal, /"step":"rollback"/);
  assert.equal((await m.exec('test -e /var/lib/kubeha/apply.lock')).code, 1, 'the lock is released');
});
