// Pushing files safely to a booted Debian host: temp file, the host's own checker (the real kubeha
// here, bound into the host), backup of the old version, rename; a journal line per step; a lock
// against a second apply; rollback from the journal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CheckFailed, lockHost, pushFile, rollbackHost, unlockHost } from '../../src/apply/push.js';
import { connect } from '../../src/apply/ssh-transport.js';
import { bootHosts } from '../support/hosts.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const GOOD = 'frontends: [{ name: fe, bind: "127.0.0.1:7000", backend: be }]\nbackends: [{ name: be, servers: [{ name: s, address: "127.0.0.1:7001" }] }]\n';

test('push: checked on the host before it replaces anything, backed up, journaled, locked, rolled back', async (t) => {
  const bed = await bootHosts(t, 1, { bindReadOnly: [process.execPath, REPO] });
  const h = bed.hosts[0]!;
  const s = await connect({ name: h.name, host: h.ip, port: 22, user: 'root', identityFile: bed.keyFile, knownHosts: readFileSync(bed.knownHosts, 'utf8'), acceptNewHostKeys: false, sudo: false });
  t.after(() => s.close());
  const cat = async (path: string) => (await s.exec(`cat ${path}`)).stdout;
  assert.equal((await s.exec(`ln -sf ${REPO}/bin/kubeha.js /usr/bin/kubeha && kubeha version`)).code, 0, 'the real kubeha is the checker');

  await lockHost(s, 'run-1');
  await assert.rejects(lockHost(s, 'run-2'), /another apply holds this host .*run run-1 /);
  await unlockHost(s, 'run-2'); // not its lock: nothing happens
  await assert.rejects(lockHost(s, 'run-3'), /run run-1 /);

  const yaml = { path: '/etc/kubeha/kubeha.yaml', content: GOOD, mode: 0o644 };
  assert.equal(await pushFile(s, 'run-1', yaml), 'created');
  assert.equal(await cat(yaml.path), GOOD);
  const v2 = GOOD.replace('7001', '7002');
  assert.equal(await pushFile(s, 'run-1', { ...yaml, content: v2 }), 'updated');
  assert.equal(await cat(yaml.path), v2);
  assert.equal(await cat(`/var/lib/kubeha/backups/run-1${yaml.path}`), GOOD, 'the replaced version is kept');

  await assert.rejects(pushFile(s, 'run-1', { ...yaml, content: 'frontends: 3\n' }), (err: unknown) => {
    assert.ok(err instanceof CheckFailed, String(err));
    assert.match(err.message, /kubeha\.yaml.*checker refused/);
    return true;
  });
  assert.equal(await cat(yaml.path), v2, 'a refused file changes nothing');
  assert.equal((await s.exec('ls /etc/kubeha')).stdout.trim(), 'kubeha.yaml', 'no temporary file left behind');

  const script = { path: '/etc/keepalived/check_lb.sh', content: '#!/bin/sh\nexit 0\n', mode: 0o755 };
  assert.equal(await pushFile(s, 'run-1', script), 'created');
  assert.equal((await s.exec(`stat -c %a ${script.path}`)).stdout.trim(), '755');

  const journal = (await cat('/var/lib/kubeha/apply.log')).trim().split('\n').map((l) => JSON.parse(l) as { step: string; result: string; path: string });
  assert.deepEqual(journal.map((j) => [j.step, j.result, j.path]), [
    ['file', 'created', yaml.path], ['file', 'updated', yaml.path], ['check', 'refused', yaml.path], ['file', 'created', script.path],
  ]);

  assert.deepEqual(await rollbackHost(s, 'run-1'), [script.path, yaml.path, yaml.path], 'newest first');
  assert.equal((await s.exec(`test -e ${script.path} || test -e ${yaml.path}`)).code, 1, 'what the run created is gone again');
  await unlockHost(s, 'run-1');

  // a file that was there before the run comes back as it was
  await s.exec(`printf 'operator version\\n' > ${yaml.path}`);
  await lockHost(s, 'run-4'); // free again
  assert.equal(await pushFile(s, 'run-4', yaml), 'updated');
  assert.deepEqual(await rollbackHost(s, 'run-4'), [yaml.path]);
  assert.equal(await cat(yaml.path), 'operator version\n');
  await unlockHost(s, 'run-4');
});
