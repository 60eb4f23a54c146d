// `kubeha demo` as an unprivileged user: the whole front door in a private user and network namespace
// — three stand-ins, two real kubeha LB nodes floating the VIP with VRRP, a client through it — and
// one round of chaos: a graceful VIP handover, the VIP holder killed, an apiserver stopped, one
// crashed, each with what the client saw. As root the test runs the demo as user nobody (setpriv),
// from a copy of the checkout nobody can read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpsGet, spawnKubeha, type SpawnOptions } from '../support/processes.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** How to start kubeha as an unprivileged user: as root through setpriv from a world-readable copy, else as we are. */
function unprivileged(t: { after: (fn: () => void) => void }): SpawnOptions {
  if (process.getuid?.() !== 0) return {};
  const copy = mkdtempSync(join(tmpdir(), 'kubeha-nobody-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  for (const part of ['bin', 'dist', 'node_modules', 'package.json']) cpSync(join(REPO, part), join(copy, part), { recursive: true });
  chmodSync(copy, 0o755);
  spawnSync('chmod', ['-R', 'a+rX', copy]);
  return { via: ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'], bin: join(copy, 'bin/kubeha.js'), env: { ...process.env, HOME: tmpdir() } };
}

const refused = (port: number) => new Promise<string>((resolve) => {
  const s = connect(port, '127.0.0.1');
  s.once('connect', () => (s.destroy(), resolve('connected')));
  s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
});

interface Story {
  nodes: { name: string; process: string; vrrp: string | null; holdsVip: boolean }[];
  holders: string[];
  client: { ok: number; failed: number };
}

test('kubeha demo without root: two kubeha LB nodes float the VIP in a user+network namespace; one round of chaos, each step judged by what the client saw', async (t) => {
  // its own TMPDIR (for the user it runs as): the demo's folder goes there, not beside other tests' demos
  const tmp = mkdtempSync(join(tmpdir(), 'kubeha-demo-test-'));
  chmodSync(tmp, 0o777);
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const as = unprivileged(t);
  const demo = spawnKubeha(['demo', '--chaos', '--chaos-interval', '1500ms', '--chaos-rounds', '1'], t, { ...as, env: { ...(as.env ?? process.env), TMPDIR: tmp } });
  await demo.waitFor((l) => String(l.text ?? '').startsWith('Ctrl-C stops it'), 60_000, 'the demo banner');
  const text = () => demo.lines.map((l) => String(l.text ?? '')).join('\n');
  const banner = text();
  assert.match(banner, /two kubeha LB nodes floating a VIP with VRRP/, 'the full stack, not the fallback');
  const port = (re: RegExp) => Number(re.exec(banner)?.[1]);
  const lb = port(/^  load balancer\s+https:\/\/127\.0\.0\.1:(\d+)/m);
  const dashboard = port(/^  dashboard\s+http:\/\/127\.0\.0\.1:(\d+)\//m);
  const admin = [...banner.matchAll(/lb\d\s+\S+\s+kubeha, VRRP priority \d+; its dashboard http:\/\/127\.0\.0\.1:(\d+)\//g)].map((m) => Number(m[1]));
  assert.equal(admin.length, 2, banner);

  // The story's JSON, the VIP through the relayed port, and each node's own admin API, from outside the namespace.
  const story = async () => (await (await fetch(`http://127.0.0.1:${dashboard}/api/demo`)).json()) as Story;
  const first = await story();
  assert.deepEqual(first.nodes.map((n) => n.name), ['lb1', 'lb2']);
  assert.equal(first.nodes.filter((n) => n.vrrp === 'MASTER').length, 1, JSON.stringify(first.nodes));
  assert.equal(first.holders.length, 1, 'one VIP holder');
  const answer = await httpsGet(lb, '/version');
  assert.equal(answer.status, 200, answer.error);
  assert.match(answer.servedBy, /^master[123]$/);
  const status = spawnSync(process.execPath, [join(REPO, 'bin/kubeha.js'), 'status', '--admin', `127.0.0.1:${admin[0]}`], { encoding: 'utf8' });
  assert.match(status.stdout, /^apiservers\s+master1\s+10\.8\.4\.91:6443\s+up/m, status.stdout + status.stderr);
  assert.match(status.stdout, /VI_1/, 'the node\'s VRRP instance');

  assert.equal(await demo.exited, 0, demo.stderr());
  const out = text();
  const result = (step: string) => {
    const m = new RegExp(`^  ${step} +VIP (stayed on (lb\\d)|(lb\\d) → (lb\\d)), (\\d+) failed of (\\d+), outage (\\d+) ms`, 'm').exec(out);
    assert.ok(m, `${step} in:\n${out}`);
    return { from: m[2] ?? m[3], to: m[2] ?? m[4], failed: Number(m[5]), total: Number(m[6]), outageMs: Number(m[7]) };
  };
  const handover = result('VIP handover \\(maintenance on the holder\\)');
  const killed = result('VIP holder killed');
  const stopped = result('apiserver stopped');
  const crashed = result('apiserver crashed');
  assert.notEqual(handover.from, handover.to, 'maintenance moved the VIP');
  assert.equal(killed.from, handover.to, 'the holder killed was the one that took over');
  assert.notEqual(killed.to, killed.from, 'the other node took the VIP');
  assert.ok(killed.failed > 0 || killed.outageMs > 0, 'the client saw the crash');
  assert.equal(stopped.failed, 0, 'a graceful apiserver stop fails no request (the LB retries on another server)');
  assert.equal(stopped.from, stopped.to, 'an apiserver stop does not move the VIP');
  assert.ok(crashed.failed <= 3, `a crash fails at most the requests in flight (${crashed.failed})`);
  for (const r of [handover, killed, stopped, crashed]) assert.ok(r.total > 20, 'the client ran through every step');
  const totals = /^demo stopped: (\d+) requests answered, (\d+) failed/m.exec(out);
  assert.ok(totals, out);
  assert.equal(Number(totals[2]), handover.failed + killed.failed + stopped.failed + crashed.failed, `every failed request fell in a chaos step:\n${out}`);
  t.diagnostic(`client: ${totals[1]} answered; handover outage ${handover.outageMs} ms; holder killed: ${killed.failed} failed, outage ${killed.outageMs} ms; apiserver stopped ${stopped.outageMs} ms; crashed ${crashed.failed} failed`);

  for (const p of [lb, dashboard, ...admin]) assert.equal(await refused(p), 'ECONNREFUSED', `port ${p} is closed after the demo`);
  assert.deepEqual(readdirSync(tmp), [], 'its folder is removed');
});
