import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { desiredFiles, planHost, sha256, type FileOnHost } from '../../src/apply/change-plan.js';
import { factsScript, parseFacts } from '../../src/apply/facts.js';
import { makePlan, parseInventoryText } from '../../src/plan/inventory.js';
import { renderBundle } from '../../src/plan/render-bundle.js';

function bundleOf(inventory: string) {
  const parsed = parseInventoryText(readFileSync(new URL(`../../../test/plan/inventories/${inventory}.yaml`, import.meta.url), 'utf8'), inventory);
  assert.ok(parsed.ok);
  return { bundle: renderBundle(makePlan(parsed.inventory)), inv: parsed.inventory };
}

/** The host as if the desired files were all installed as rendered. */
const installed = (files: ReturnType<typeof desiredFiles>) => new Map<string, FileOnHost | undefined>(files.map((f) => [f.path, { sha256: sha256(f.content), mode: f.mode, content: f.content }]));

test('desired files: each rendered file at its place in the kubeadm layout, with the unit it feeds; worker kubeconfigs are not installed as files', () => {
  const { bundle, inv } = bundleOf('haproxy-dedicated');
  const lb = desiredFiles(bundle, 'lb1', inv.keepalivedScriptDir);
  assert.deepEqual(lb.map((f) => [f.path, f.unit?.name ?? '', f.unit?.effect ?? '', f.mode.toString(8)]), [
    ['/etc/haproxy/haproxy.cfg', 'haproxy', 'reload', '644'],
    ['/etc/keepalived/check_lb.sh', '', '', '755'],
    ['/etc/keepalived/keepalived.conf', 'keepalived', 'reload', '644'],
    ['/etc/systemd/system/keepalived.service.d/kubeha-release-vip.conf', 'keepalived', 'daemon-reload', '644'],
  ]);
  assert.deepEqual(desiredFiles(bundle, 'w1', inv.keepalivedScriptDir), [], 'kubelet/kube-proxy kubeconfigs are rewritten in place, not installed');
  const m = desiredFiles(bundleOf('kubeha-stacked').bundle, 'master1', '/etc/keepalived').map((f) => f.path);
  assert.ok(m.includes('/etc/kubeha/kubeha.yaml') && m.includes('/etc/etcd/etcd.env') && m.includes('/var/lib/kubeha/rendered/kubeadm-config.yaml'), m.join(' '));
});

test('change plan: by content hash, not size; what each unit needs and why; nothing to do on a second run', () => {
  const { bundle } = bundleOf('kubeha-stacked');
  const want = desiredFiles(bundle, 'master1', '/etc/keepalived');
  const kubehaYaml = want.find((f) => f.path === '/etc/kubeha/kubeha.yaml')!;
  const active = new Map([['kubeha', 'active'], ['etcd', 'active']]);

  // [what, the host, units, expected file kinds by path, expected unit actions]
  const fresh = planHost('master1', want, new Map(), new Map([['kubeha', 'inactive'], ['etcd', 'inactive']]));
  assert.ok(fresh.files.every((f) => f.kind === 'create'));
  assert.deepEqual(fresh.units.map((u) => [u.name, u.action, u.daemonReload]), [['etcd', 'start', true], ['kubeha', 'start', true]]);

  const same = planHost('master1', want, installed(want), active);
  assert.equal(same.changed, false, 'a second apply changes nothing and restarts nothing');
  assert.ok(same.files.every((f) => f.kind === 'keep'));

  // an edit of the same length (6443 → 6444): size and mtime could not tell
  const host = installed(want);
  const edited = kubehaYaml.content.replace('6443', '6444');
  assert.equal(edited.length, kubehaYaml.content.length);
  host.set(kubehaYaml.path, { sha256: sha256(edited), mode: 0o644, content: edited });
  const one = planHost('master1', want, host, active);
  assert.deepEqual(one.files.filter((f) => f.kind !== 'keep').map((f) => [f.path, f.kind]), [['/etc/kubeha/kubeha.yaml', 'update']]);
  assert.ok(one.files.find((f) => f.kind === 'update')!.diff.some((l) => l.startsWith('-') && l.includes('6444')));
  assert.deepEqual(one.units.map((u) => [u.name, u.action, u.because]), [['kubeha', 'reload', ['/etc/kubeha/kubeha.yaml changed']]], 'a config change is a reload (SIGHUP), not a restart');

  // a changed unit file: daemon-reload and restart; a changed etcd.env: restart
  const unitFile = want.find((f) => f.path.endsWith('kubeha.service'))!;
  const envFile = want.find((f) => f.path.endsWith('etcd.env'))!;
  const host2 = installed(want);
  host2.set(unitFile.path, { sha256: 'old', mode: 0o644 });
  host2.set(envFile.path, { sha256: 'old', mode: 0o644 });
  const two = planHost('master1', want, host2, active);
  assert.deepEqual(two.units.map((u) => [u.name, u.action, u.daemonReload]), [['etcd', 'restart', false], ['kubeha', 'restart', true]]);
  assert.match(two.files.find((f) => f.path === unitFile.path)!.diff[0]!, /content differs: sha256 old/);

  // only the mode differs; a stopped unit with unchanged files is started
  const host3 = installed(want);
  host3.set(kubehaYaml.path, { sha256: sha256(kubehaYaml.content), mode: 0o600, content: kubehaYaml.content });
  const three = planHost('master1', want, host3, new Map([['kubeha', 'active'], ['etcd', 'failed']]));
  const modeChange = three.files.find((f) => f.kind === 'update')!;
  assert.deepEqual([modeChange.path, modeChange.modeOnly, modeChange.diff], [kubehaYaml.path, true, []]);
  assert.deepEqual(three.units.map((u) => [u.name, u.action, u.because]), [['etcd', 'start', ['etcd is failed']], ['kubeha', 'reload', ['/etc/kubeha/kubeha.yaml mode changed']]]);
});

test('facts output parsed: tagged lines, a missing file, unit states, the clock skew from the round trip midpoint', () => {
  const out = [
    'os debian 12', 'arch x86_64', 'systemd 252', `time ${(10_500 * 1e6).toFixed(0)}`,
    'addr eth0 10.8.4.91/24', 'addr eth0 10.8.4.55/24', 'addr lo 127.0.0.1/8',
    `file 644 ${'a'.repeat(64)} /etc/kubeha/kubeha.yaml`, 'nofile /etc/haproxy/haproxy.cfg', 'unit kubeha active', 'unit haproxy ', '',
  ].join('\n');
  const f = parseFacts(out, 9000, 11_000);
  assert.deepEqual([f.os, f.arch, f.systemd, f.clockSkewMs], [{ id: 'debian', versionId: '12' }, 'x86_64', 252, 500]);
  assert.deepEqual(f.addresses.get('eth0'), ['10.8.4.91/24', '10.8.4.55/24']);
  assert.deepEqual(f.files.get('/etc/kubeha/kubeha.yaml'), { mode: 0o644, sha256: 'a'.repeat(64) });
  assert.ok(f.files.has('/etc/haproxy/haproxy.cfg') && f.files.get('/etc/haproxy/haproxy.cfg') === undefined);
  assert.deepEqual([f.units.get('kubeha'), f.units.get('haproxy')], ['active', 'unknown']);
  // a script that ran 10 s (hashing binaries) in a 12 s round trip: 1 s of transport each way, so it
  // began at 10,000 of our clock, and the host's 10,500 is a skew of +500 ms (not the midpoint's -4,500)
  const slow = parseFacts(`time ${(10_500 * 1e6).toFixed(0)}\ntimeend ${(20_500 * 1e6).toFixed(0)}\n`, 9000, 21_000);
  assert.equal(slow.clockSkewMs, 500);
  assert.match(factsScript([], []), /timeend \$\(date \+%s%N\)"\n$/, 'the end time is the script\'s last line');
  assert.match(factsScript(['/etc/a b'], ['kubeha']), /'\/etc\/a b'/, 'paths are quoted for the shell');
});

test('fresh installs (binaries:): each component a unit with kubeadm\'s flags and files, etcd from /usr/local/bin; programs and secrets never diffed', () => {
  const text = readFileSync(new URL('../../../test/plan/inventories/kubeha-stacked.yaml', import.meta.url), 'utf8');
  const parsed = parseInventoryText(`${text}\nbinaries: ./bin\nkubernetesVersion: v1.20.2\n`, 'fresh');
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.problems));
  const plan = makePlan(parsed.inventory);
  const bundle = renderBundle(plan);
  const files = desiredFiles(bundle, 'master1', '/etc/keepalived');
  const unitOf = (p: string) => files.find((f) => f.path === p)?.unit;
  for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) assert.deepEqual(unitOf(`/etc/systemd/system/${c}.service`), { name: c, effect: 'daemon-reload' });
  const apiserver = bundle.get('master1/kube-apiserver.service')!.content;
  for (const flag of ['--advertise-address=10.8.4.91', '--tls-cert-file=/etc/kubernetes/pki/apiserver.crt', '--client-ca-file=/etc/kubernetes/pki/ca.crt',
    '--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt', '--endpoint-reconciler-type=lease', '--insecure-port=0', '--service-account-signing-key-file=/etc/kubernetes/pki/sa.key']) {
    assert.ok(apiserver.includes(`  ${flag} \\`) || apiserver.includes(`  ${flag}\n`), `${flag} in kube-apiserver.service`);
  }
  assert.match(apiserver, /^ExecStart=\/usr\/local\/bin\/kube-apiserver \\$/m);
  const cm = bundle.get('master1/kube-controller-manager.service')!.content;
  assert.match(cm, /--leader-elect=true/);
  assert.match(cm, /--kubeconfig=\/etc\/kubernetes\/controller-manager\.conf/);
  assert.match(cm, /--cluster-signing-key-file=\/etc\/kubernetes\/pki\/ca\.key/);
  assert.match(bundle.get('master1/etcd.service')!.content, /^ExecStart=\/usr\/local\/bin\/etcd$/m);
  // without binaries: no component units, etcd from Debian's path, and no flag a v1.24+ component refuses
  const plain = renderBundle(makePlan((parseInventoryText(text, 'plain') as { ok: true; inventory: Parameters<typeof makePlan>[0] }).inventory));
  assert.equal(plain.has('master1/kube-apiserver.service'), false);
  assert.match(plain.get('master1/etcd.service')!.content, /^ExecStart=\/usr\/bin\/etcd$/m);

  // a program and a key that differ: no line diff, only the hashes (and a key never shows its content)
  const bin = { path: '/usr/local/bin/etcd', content: Buffer.from([0x7f, 0x45, 0x4c, 0x46]), mode: 0o755, unit: { name: 'etcd', effect: 'restart' as const } };
  const key = { path: '/etc/kubernetes/pki/ca.key', content: '-----BEGIN PRIVATE KEY-----\nnew\n', mode: 0o600, unit: { name: 'kube-apiserver', effect: 'restart' as const }, secret: true };
  const ctl = { path: '/usr/local/bin/etcdctl', content: Buffer.from('x'), mode: 0o755, unit: { name: 'etcd', effect: 'none' as const } };
  const host = new Map<string, FileOnHost | undefined>([[bin.path, { sha256: sha256('old'), mode: 0o755 }], [key.path, { sha256: sha256('old'), mode: 0o600, content: 'old key' }], [ctl.path, undefined]]);
  const p = planHost('master1', [bin, key, ctl], host, new Map([['etcd', 'active'], ['kube-apiserver', 'active']]));
  assert.match(p.files[0]!.diff.join(''), /^\(binary: sha256 /);
  assert.match(p.files[1]!.diff.join(''), /^\(secret, not shown: sha256 /);
  assert.doesNotMatch(p.files[1]!.diff.join(''), /old key|new/);
  assert.equal(p.files[2]!.kind, 'create');
  assert.deepEqual(p.units.map((u) => `${u.name} ${u.action} ${u.because.join(',')}`), ['etcd restart /usr/local/bin/etcd changed', 'kube-apiserver restart /etc/kubernetes/pki/ca.key changed'], 'etcdctl restarts nothing');
});
