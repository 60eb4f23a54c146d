// Facts and the change plan against a booted Debian host: what apply sees before it changes anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { planHost, sha256, type TextFile } from '../../src/apply/change-plan.js';
import { gatherFacts } from '../../src/apply/facts.js';
import { connect } from '../../src/apply/ssh-transport.js';
import { bootHosts } from '../support/hosts.js';

test('facts of a booted host in one round trip, and the plan they give: by content hash, units by their state', async (t) => {
  const bed = await bootHosts(t, 1);
  const h = bed.hosts[0]!;
  const s = await connect({ name: h.name, host: h.ip, port: 22, user: 'root', identityFile: bed.keyFile, knownHosts: readFileSync(bed.knownHosts, 'utf8'), acceptNewHostKeys: false, sudo: false });
  t.after(() => s.close());
  const want: TextFile[] = [
    { path: '/etc/kubeha/kubeha.yaml', content: 'frontends: []\n', mode: 0o644, unit: { name: 'kubeha', effect: 'reload' } },
    { path: '/etc/haproxy/haproxy.cfg', content: 'global\n  maxconn 4000\n', mode: 0o644, unit: { name: 'haproxy', effect: 'reload' } },
    { path: '/etc/keepalived/check_lb.sh', content: '#!/bin/sh\nexit 0\n', mode: 0o755 },
  ];
  // the host has the first file as wanted, the second with an edit of the same length, not the third
  const put = async (path: string, content: string) => assert.equal((await s.exec(`mkdir -p "$(dirname ${path})" && cat > ${path} && chmod 644 ${path}`, { stdin: content })).code, 0);
  await put(want[0]!.path, want[0]!.content);
  await put(want[1]!.path, 'global\n  maxconn 5000\n');

  const facts = await gatherFacts(s, want.map((f) => f.path), ['kubeha', 'haproxy', 'ssh']);
  assert.deepEqual(facts.os, { id: 'debian', versionId: '12' });
  assert.match(facts.arch, /^(x86_64|aarch64)$/);
  assert.ok(facts.systemd >= 252, `systemd ${facts.systemd}`);
  assert.ok(Math.abs(facts.clockSkewMs) < 2000, `clock skew ${facts.clockSkewMs} ms (one clock: the hosts share the machine's)`);
  assert.ok([...facts.addresses.values()].flat().includes(`${h.ip}/${bed.prefixLen}`), JSON.stringify([...facts.addresses]));
  assert.deepEqual(facts.files.get(want[0]!.path), { mode: 0o644, sha256: sha256(want[0]!.content) });
  assert.equal(facts.files.get(want[1]!.path)?.sha256, sha256('global\n  maxconn 5000\n'));
  assert.equal(facts.files.get(want[2]!.path), undefined);
  assert.deepEqual([facts.units.get('kubeha'), facts.units.get('haproxy'), facts.units.get('ssh')], ['inactive', 'inactive', 'active']);

  const plan = planHost(h.name, want, facts.files, facts.units);
  assert.deepEqual(plan.files.map((f) => [f.path, f.kind]), [
    ['/etc/kubeha/kubeha.yaml', 'keep'], ['/etc/haproxy/haproxy.cfg', 'update'], ['/etc/keepalived/check_lb.sh', 'create'],
  ]);
  assert.deepEqual(plan.units.map((u) => [u.name, u.action]), [['haproxy', 'start'], ['kubeha', 'start']]);
});
