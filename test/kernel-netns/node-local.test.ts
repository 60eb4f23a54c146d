// The node-local kernel mode: `kubeha run` on a worker (a network namespace this file creates and
// removes) with a `dataPlane: kernel` frontend on a link-local service address, DNAT at output for
// the node's own clients, and a backend discovered from the Kubernetes API (fake apiservers of
// fake-kube-api.ts in the same namespace). No proxy process is in the data path; the map follows
// the EndpointSlice as it grows and shrinks. A 127.0.0.x frontend without route_localnet is refused.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { KUBEHA_BIN } from '../support/processes.js';
import { until } from '../support/tcp.js';
import type { NodeState } from '../../src/observe/node-state.js';

const CLIENT = fileURLToPath(new URL('../support/kernel-http-client.js', import.meta.url));
const RUNNER = fileURLToPath(new URL('../support/fake-kube-runner.js', import.meta.url));
const NS = `khlocal${process.pid}${randomBytes(2).toString('hex')}`;
const SERVICE = '169.254.81.1';
const ips = ['10.81.0.1', '10.81.0.2', '10.81.0.3'];
const ADMIN = '127.0.0.1:9442';

const inNs = (cmd: string, args: string[]) => execFileSync('ip', ['netns', 'exec', NS, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A process in the namespace with its stdout as lines; killed by PID when the test ends. */
function nsProcess(t: TestContext, args: string[]) {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', NS, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines = createInterface({ input: child.stdout! });
  const seen: string[] = [];
  const waiting: { re: RegExp; resolve: (l: string) => void }[] = [];
  lines.on('line', (l) => {
    seen.push(l);
    output += `${l}\n`;
    for (const w of [...waiting]) if (w.re.test(l)) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(l);
    }
  });
  const line = (re: RegExp, from = 0) => {
    const already = seen.slice(from).find((l) => re.test(l));
    return already !== undefined ? Promise.resolve(already) : new Promise<string>((resolve) => waiting.push({ re, resolve }));
  };
  return { child, exited, line, seen, output: () => output };
}

test('node-local kernel mode: DNAT at output from a link-local address to the discovered apiservers, following the EndpointSlice', { timeout: 120_000 }, async (t) => {
  execFileSync('ip', ['netns', 'add', NS]);
  t.after(() => execFileSync('ip', ['netns', 'del', NS]));
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-kernel-local-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ip = (...args: string[]) => inNs('ip', args);
  ip('link', 'set', 'lo', 'up');
  ip('link', 'add', 'kh0', 'type', 'veth', 'peer', 'name', 'kh1');
  for (const l of ['kh0', 'kh1']) ip('link', 'set', l, 'up');
  for (const a of [...ips, SERVICE]) ip('addr', 'add', `${a}/32`, 'dev', 'kh0');

  const api = nsProcess(t, [RUNNER, dir, ...ips]);
  const { port, kubeconfig } = JSON.parse(await api.line(/"port"/)) as { port: number; kubeconfig: string };
  let asked = 0;
  const list = async (listed: string[]) => {
    api.child.stdin!.write(`${JSON.stringify({ list: listed })}\n`);
    await api.line(/"ok":true/, ++asked);
  };
  await list(ips.slice(0, 2));

  const config = join(dir, 'kubeha.yaml');
  const write = (bind: string) => writeFileSync(config, JSON.stringify({
    global: { shutdownGrace: '0s' },
    admin: { bind: ADMIN },
    frontends: [{ name: 'apiserver', bind, backend: 'apiservers', dataPlane: 'kernel' }],
    backends: [{
      name: 'apiservers', balance: 'roundrobin',
      healthCheck: { type: 'https', path: '/readyz', interval: '200ms', timeout: '500ms', rise: 1, fall: 1 },
      discovery: { kubernetes: { kubeconfig, debounce: '100ms' } },
      servers: [{ name: 'bootstrap', address: `${ips[0]}:${port}` }],
    }],
  }));

  // 127.0.0.x needs route_localnet (a new namespace has it off): refused, naming it
  write(`127.0.0.1:${port}`);
  const refused = nsProcess(t, [KUBEHA_BIN, 'run', '--config', config]);
  assert.equal(await refused.exited, 1);
  assert.match(refused.output(), /route_localnet is not 1.*\[KUBEHA_ERR_KERNEL\]/);

  write(`${SERVICE}:${port}`);
  const kubeha = nsProcess(t, [KUBEHA_BIN, 'run', '--config', config]);
  const state = () => JSON.parse(inNs(process.execPath, ['-e', `fetch('http://${ADMIN}/api/v1/state').then((r) => r.text()).then((t) => process.stdout.write(t))`])) as NodeState;
  const upAddresses = () => state().backends[0]!.servers.filter((s) => !s.removed && s.state === 'up' && s.lastCheck).map((s) => s.address.split(':')[0]).sort();
  const count = (n: number) => JSON.parse(inNs(process.execPath, [CLIENT, 'count', `https://${SERVICE}:${port}/readyz`, String(n)])) as { answered: Record<string, number>; errors: Record<string, number> };
  const programmed = (from: number) => kubeha.line(/nftables table inet kubeha/, from);
  await programmed(0);
  await until(() => upAddresses().join() === ips.slice(0, 2).join(), 20_000, 'the two listed apiservers');
  // (the table follows the pool: wait for the update after the discovered list, not just any)
  await until(() => { const c = count(4); return Object.keys(c.answered).sort().join() === ips.slice(0, 2).join(); }, 20_000, 'both listed apiservers in the map');
  const two = count(40);
  assert.deepEqual(two.errors, {});
  assert.deepEqual(two.answered, { [ips[0]!]: 20, [ips[1]!]: 20 }, 'the node\'s own connections spread over the two listed');

  await list(ips);
  await until(() => upAddresses().length === 3, 20_000, 'the third apiserver discovered and up');
  await until(() => Object.keys(count(3).answered).length === 3, 20_000, 'the third in the map');
  const three = count(30);
  assert.deepEqual(three.errors, {});
  // (86, 85 and 85 of the 256 slots: any 30 successive ones give each server 9 to 11)
  for (const a of ips) assert.ok(Math.abs((three.answered[a] ?? 0) - 10) <= 1, `an even share each: ${JSON.stringify(three.answered)}`);

  await list(ips.slice(1));
  await until(() => !upAddresses().includes(ips[0]!), 20_000, 'the first one no longer listed');
  await until(() => count(6).answered[ips[0]!] === undefined, 20_000, 'the first one out of the map');
  const shrunk = count(20);
  assert.deepEqual(shrunk, { answered: { [ips[1]!]: 10, [ips[2]!]: 10 }, errors: {} });
  assert.match(inNs('nft', ['list', 'map', 'inet', 'kubeha', 'fe_apiserver']), new RegExp(`${ips[2]!.replace(/\./g, '\\.')} \\. ${port}`));
  kubeha.child.kill('SIGTERM');
  assert.equal(await kubeha.exited, 0);
});
