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
  assert.match(factsScript(['/etc/a b'], ['kubeha']), /'\/etc\/a b'/, 'paths are quoted for the shell');
});
