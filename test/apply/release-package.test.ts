// kubeha on a host without Node.js: the release tarball (`npm run package`: its own Node runtime,
// dist/, the production dependencies, /usr/bin/kubeha) installed by `kubeha apply --kubeha-package`
// on an LB host whose `kubeha version` differs, run by the rendered systemd unit; then an upgrade
// of a running kubeha by apply — SIGUSR2, a new main process on the new program, the service never
// stopped, and not one failed request through the VIP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { packageRelease } from '../../src/apply/kubeha-package.js';
import { applyCommand, type ApplyOptions } from '../../src/cli/apply.js';
import { httpsGet } from '../../src/doctor/probe.js';
import { runWithStreams } from '../support/cli-streams.js';
import { bootKubeHosts } from '../support/kube-hosts.js';
import type { Host } from '../support/hosts.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs `npm run package`'s script; the tarball's path (its last output line). */
function buildPackage(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['scripts/package.mjs'], { cwd: REPO, encoding: 'utf8', timeout: 240_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`scripts/package.mjs: ${err.message}\n${stderr}`));
      else resolve(stdout.trim().split('\n').pop()!);
    });
  });
}

test('the release package on a host without node: installed by apply, run by systemd, upgraded in place by SIGUSR2 with no failed request', async (t) => {
  const [pkg, k] = await Promise.all([buildPackage(), bootKubeHosts(t, { masters: 1, workers: 0, virtualRouterId: 63, kubehaFromCheckout: false })]);
  const release = await packageRelease(pkg);
  assert.match(release, /^kubeha \d+\.\d+\.\d+ \(node v\d+\./);
  const [m] = k.masters as [Host];
  assert.notEqual((await m.exec('command -v node')).code, 0, 'no node on the host');
  assert.notEqual((await m.exec('command -v kubeha')).code, 0, 'no kubeha yet');
  const apply = async (o: Partial<ApplyOptions> = {}) => {
    const r = await runWithStreams((out, err) => applyCommand({ inventory: k.inventory, gateTimeout: '60s', kubehaPackage: pkg, ...o }, out, err));
    t.diagnostic(`apply ${JSON.stringify(o)} → ${r.code}\n${r.out}${r.code === 0 ? '' : r.err}`);
    return r;
  };

  const plan = await apply({ dryRun: true });
  assert.equal(plan.code, 2);
  assert.match(plan.out, new RegExp(`^  upload kubeha: none → ${release.replace(/[().]/g, '\\$&')}$`, 'm'));
  const first = await apply();
  assert.equal(first.code, 0, `${first.err}${first.out}`);
  assert.match(first.err, new RegExp(`${m.name}: installed ${release.replace(/[().]/g, '\\$&')}`));
  assert.equal((await k.sh(m, 'kubeha version')).trim(), release);
  const mainExe = async () => (await k.sh(m, 'readlink /proc/$(systemctl show -p MainPID --value kubeha)/exe')).trim();
  assert.match(await mainExe(), /^\/opt\/kubeha\/[^/]+\/node$/, 'the daemon runs on the bundled runtime');
  assert.equal((await apply({ dryRun: true })).code, 0, 'same release: nothing to upload');

  // An older kubeha on the host (its package.json says so): apply upgrades it while it serves.
  await k.sh(m, `sed -i 's/"version": "[^"]*"/"version": "0.0.1"/' /opt/kubeha/current/package.json`);
  assert.match(await k.sh(m, 'kubeha version'), /^kubeha 0\.0\.1 /);
  const show = async () => (await k.sh(m, 'systemctl show -p MainPID -p ActiveEnterTimestampMonotonic -p NRestarts kubeha')).trim().split('\n');
  const [pidBefore, enteredBefore, restartsBefore] = await show();
  let stop = false;
  let requests = 0;
  const failures: string[] = [];
  const loop = (async () => {
    for (const end = Date.now() + 240_000; !stop && Date.now() < end && requests < 100_000;) {
      const r = await httpsGet(k.vip, 16443, '/readyz', { timeoutMs: 3000 });
      requests++;
      if (r.status !== 200) failures.push(r.error ?? `status ${r.status}`);
    }
  })();
  const upgrade = await apply();
  stop = true;
  await loop;
  assert.equal(upgrade.code, 0, `${upgrade.err}${upgrade.out}`);
  assert.match(upgrade.err, /kubeha restarted without a gap \(SIGUSR2\) onto the program now installed/);
  const [pidAfter, enteredAfter, restartsAfter] = await show();
  assert.notEqual(pidAfter, pidBefore, 'a new main process');
  assert.equal(enteredAfter, enteredBefore, 'the service never stopped');
  assert.equal(restartsAfter, restartsBefore, 'systemd restarted nothing');
  assert.equal((await k.sh(m, 'kubeha version')).trim(), release);
  assert.match(await mainExe(), /^\/opt\/kubeha\/[^/]+\/node$/);
  assert.deepEqual(failures, [], `requests through the VIP during the upgrade (${requests} made)`);
  assert.ok(requests > 5, `the client loop ran (${requests})`);
  const journal = await k.sh(m, 'cat /var/lib/kubeha/apply.log');
  assert.match(journal, /"step":"kubeha","result":"kubeha /);
  assert.match(journal, /"unit":"kubeha","result":"handover"/);
});
