import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpsGet, KUBEHA_BIN, spawnKubeha } from '../support/processes.js';

/** Resolves with the connect error code, or 'connected'. */
function probePort(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test('kubeha demo --single serves through the load balancer and Ctrl-C leaves nothing behind', async (t) => {
  const demo = spawnKubeha(['demo', '--single', '--quiet'], t);
  await demo.waitFor((l) => String(l.text ?? '').startsWith('Ctrl-C stops it'), 20_000, 'the demo banner');
  const text = demo.lines.map((l) => String(l.text ?? '')).join('\n');
  const port = (label: RegExp) => Number(label.exec(text)?.[1]);
  const lb = port(/load balancer\s+https:\/\/127\.0\.0\.1:(\d+)/);
  const admin = port(/dashboard\s+http:\/\/127\.0\.0\.1:(\d+)\//);
  const masters = [...text.matchAll(/master\d\s+https:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  assert.equal(masters.length, 3);
  assert.match(text, new RegExp(`curl -k https://127\\.0\\.0\\.1:${lb}/version`), 'a curl example');
  // The demo's own client shares the round robin, so ask until every master has answered.
  const served = new Set<string>();
  for (let i = 0; i < 30 && served.size < 3; i++) {
    const r = await httpsGet(lb, '/version');
    assert.equal(r.status, 200);
    served.add(r.servedBy);
  }
  assert.deepEqual([...served].sort(), ['master1', 'master2', 'master3']);
  const state = (await (await fetch(`http://127.0.0.1:${admin}/api/v1/state`)).json()) as { backends: { servers: unknown[] }[] };
  assert.equal(state.backends[0]!.servers.length, 3);
  // The banner's status command works as printed.
  assert.match(text, new RegExp(`npx kubeha status --admin 127\\.0\\.0\\.1:${admin}`));
  const status = spawnSync(process.execPath, [KUBEHA_BIN, 'status', '--admin', `127.0.0.1:${admin}`], { encoding: 'utf8' });
  assert.equal(status.status, 0, status.stdout + status.stderr);
  assert.match(status.stdout, /^apiservers\s+master2\s+127\.0\.0\.1:\d+\s+up/m);

  demo.child.kill('SIGINT');
  assert.equal(await demo.exited, 0);
  assert.match(demo.lines.map((l) => String(l.text ?? '')).join('\n'), /demo stopped: \d+ requests answered, 0 failed/);
  for (const p of [lb, admin, ...masters]) assert.equal(await probePort(p), 'ECONNREFUSED', `port ${p} is closed after the demo`);
});

test('kubeha demo --single --chaos takes masters down and brings them back, and the load balancer hides it', async (t) => {
  const demo = spawnKubeha(['demo', '--single', '--chaos', '--chaos-interval', '1500ms', '--for', '9s'], t);
  assert.equal(await demo.exited, 0);
  const text = demo.lines.map((l) => String(l.text ?? '')).join('\n');
  assert.match(text, /chaos: (crashing|terminating) master\d/, 'chaos acted');
  assert.match(text, /event +\S+ master\d DOWN/, 'kubeha saw a master go down');
  assert.match(text, /event +\S+ master\d UP/, 'and come back');
  const stopped = /demo stopped: (\d+) requests answered, (\d+) failed/.exec(text);
  assert.ok(stopped, text);
  const [answered, failed] = [Number(stopped[1]), Number(stopped[2])];
  assert.ok(answered > 100, `answered ${answered}`);
  // A crash can fail the few requests in flight on the crashed master; nothing else may fail.
  assert.ok(failed <= 3, `failed ${failed} of ${answered + failed}`);
  t.diagnostic(`chaos demo: ${answered} answered, ${failed} failed`);
});

test('kubeha demo where no network namespace can be made: one line says why, then the single load balancer', async (t) => {
  // a PATH with everything the demo needs but unshare (node itself is started by its full path)
  const bin = mkdtempSync(join(tmpdir(), 'kubeha-demo-path-'));
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  for (const cmd of ['sh', 'openssl', 'ip', 'mount']) {
    const found = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
    if (found) symlinkSync(found, join(bin, cmd));
  }
  const demo = spawnKubeha(['demo', '--for', '3s', '--quiet'], t, { env: { ...process.env, PATH: bin } });
  assert.equal(await demo.exited, 0, demo.stderr());
  const text = demo.lines.map((l) => String(l.text ?? ''));
  assert.match(text[0] ?? '', /^kubeha demo: unshare \(Debian package util-linux\) not found: showing one load balancer on loopback instead/);
  assert.ok(text.some((l) => l.startsWith('kubeha demo: three stand-in kube-apiservers behind one kubeha load balancer')), text.join('\n'));
});
