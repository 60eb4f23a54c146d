// The in-kernel data plane's program in a real kernel, inside a network namespace this file creates
// (and removes): three TCP servers on a veth interface, the node-local layout (DNAT at output from a
// link-local service address). The slots spread new flows by weight, a server of weight 0 gets no
// new flow, an empty map refuses at once, a slot update or a whole-table replacement leaves an
// established flow alone, the per-server counters count, and source balancing keeps a client on one server.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { NftDriver } from '../../src/kernel/nft.js';
import { counterName, renderSlotUpdate, renderTable, type KernelFrontend } from '../../src/kernel/ruleset.js';

const PROBE = fileURLToPath(new URL('../support/kernel-probe.js', import.meta.url));
const NS = `khnft${process.pid}${randomBytes(2).toString('hex')}`;
const PORT = 16443;
const VIP = '169.254.77.1';
const ips = ['10.77.0.1', '10.77.0.2', '10.77.0.3'];

const inNs = (cmd: string, args: string[], input?: string, ns = NS) => execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', ...(input !== undefined ? { input } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
const probeArgs = (n: number) => [PROBE, String(PORT), `${VIP}:7445`, String(n), ...ips.map((ip, i) => `m${i + 1}=${ip}`)];

/** A namespace (removed when the test ends) whose veth end holds the servers' addresses and the VIP. */
function namespace(t: TestContext, ns: string): void {
  execFileSync('ip', ['netns', 'add', ns]);
  t.after(() => execFileSync('ip', ['netns', 'del', ns]));
  const ip = (...args: string[]) => inNs('ip', args, undefined, ns);
  ip('link', 'set', 'lo', 'up');
  // (this kernel has no dummy interfaces: one end of a veth pair holds the addresses)
  ip('link', 'add', 'kh0', 'type', 'veth', 'peer', 'name', 'kh1');
  for (const l of ['kh0', 'kh1']) ip('link', 'set', l, 'up');
  for (const a of [...ips, VIP]) ip('addr', 'add', `${a}/32`, 'dev', 'kh0');
}

/** One connection through the VIP held open by a probe in `ns`: each line written to it comes back as `next()`'s answer. */
function holdFlow(t: TestContext, ns: string) {
  const held = spawn('ip', ['netns', 'exec', ns, process.execPath, ...probeArgs(0)], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => held.kill('SIGKILL'));
  const lines = createInterface({ input: held.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse(((await lines.next()).value as string | undefined) ?? '{}') as Record<string, unknown>;
  return { held, next };
}
const nft = (script: string) => inNs('nft', ['-f', '-'], script);
const frontend = (weights: number[], balance: KernelFrontend['balance'] = 'roundrobin'): KernelFrontend => ({
  name: 'local-apiserver', vip: VIP, port: 7445, balance, hook: 'output',
  servers: weights.map((weight, i) => ({ name: `m${i + 1}`, ip: ips[i]!, port: PORT, weight })),
});
const probe = (n: number) => JSON.parse(inNs(process.execPath, probeArgs(n))) as { answered: Record<string, number>; errors: Record<string, number> };
const counters = () => {
  const listed = JSON.parse(inNs('nft', ['-j', 'list', 'counters', 'table', 'inet', 'kubeha'])) as { nftables: { counter?: { name: string; packets: number } }[] };
  return Object.fromEntries(listed.nftables.flatMap((x) => (x.counter ? [[x.counter.name, x.counter.packets]] : [])));
};

test('the kernel data plane in a namespace: spread by weight, weight 0 and an empty map, established flows across updates, counters, source affinity', async (t) => {
  namespace(t, NS);

  nft(renderTable([frontend([1, 1, 1])]));
  const even = probe(300);
  assert.deepEqual(even.errors, {});
  for (const m of ['m1', 'm2', 'm3']) assert.ok(Math.abs((even.answered[m] ?? 0) - 100) <= 2, `round robin over the slots: ${JSON.stringify(even.answered)}`);
  const before = counters();
  assert.ok(Object.values(before).every((p) => p > 0), `every server's counter counted: ${JSON.stringify(before)}`);

  // m3 marked down, m1 at twice m2's weight: one map update
  nft(renderSlotUpdate(frontend([2, 1, 0])));
  const weighted = probe(300);
  assert.equal(weighted.answered.m3, undefined, `no new flow to a server of weight 0: ${JSON.stringify(weighted.answered)}`);
  assert.ok(Math.abs((weighted.answered.m1 ?? 0) - 200) <= 3, `2:1: ${JSON.stringify(weighted.answered)}`);
  assert.equal(counters().srv_local_apiserver_m3, before.srv_local_apiserver_m3, 'm3 saw nothing more');

  // every server down: refused at once, not left hanging
  nft(renderSlotUpdate(frontend([0, 0, 0])));
  const started = Date.now();
  const none = probe(5);
  assert.deepEqual(none, { answered: {}, errors: { ECONNREFUSED: 5 } });
  assert.ok(Date.now() - started < 3000, `refused at once (${Date.now() - started} ms for 5)`);

  // source balance: one client address, one server
  nft(renderTable([frontend([1, 1, 1], 'source')]));
  assert.equal(Object.keys(probe(30).answered).length, 1, 'one client address stays on one server');

  // an established flow survives a slot update that takes its server out and a whole-table replacement
  nft(renderTable([frontend([1, 0, 0])]));
  const { held, next } = holdFlow(t, NS);
  assert.deepEqual(await next(), { open: true, first: 'm1' });
  nft(renderSlotUpdate(frontend([0, 1, 1])));
  nft(renderTable([frontend([0, 0, 1])]));
  held.stdin!.write('still there\n');
  assert.deepEqual(await next(), { echo: 'm1 still there' }, 'conntrack keeps the flow on m1');
  held.stdin!.end();
  await once(held, 'exit');
  assert.match(inNs('nft', ['list', 'tables']), /^table inet kubeha$/m, 'the only table is kubeha\'s');
});

test('the driver: preconditions named, the table adopted or created, counters read, a server\'s flows deleted (shutdown), the table removed', async (t) => {
  const ns = `${NS}d`;
  namespace(t, ns);
  const driver = new NftDriver({ prefix: ['ip', 'netns', 'exec', ns] });

  assert.deepEqual(await driver.preconditions({ forwards: false }), []);
  assert.match((await driver.preconditions({ forwards: true })).join('\n'), /net\.ipv4\.ip_forward is not 1/, 'a new namespace does not forward');
  assert.match((await new NftDriver({ prefix: ['ip', 'netns', 'exec', ns, 'env', 'PATH=/nonexistent'] }).preconditions({ forwards: false })).join('\n'), /nftables does not answer.*install nftables/);

  assert.equal(await driver.tableExists(), false);
  await driver.apply(renderTable([frontend([1, 0, 0])]));
  assert.equal(await driver.tableExists(), true, 'found again by a restarted kubeha');
  await assert.rejects(driver.apply('add element inet kubeha no_such_map { 1 : 10.77.0.1 . 16443 }\n'), /nft -f -: .*Error/, 'a refused script is an error with nft\'s words');

  const { held, next } = holdFlow(t, ns);
  assert.deepEqual(await next(), { open: true, first: 'm1' });
  const f = frontend([1, 0, 0]);
  const m1 = (await driver.counters()).get(counterName(f, f.servers[0]!));
  assert.ok(m1 && m1.packets > 0 && m1.bytes > 0, `m1's counter: ${JSON.stringify(m1)}`);

  // m1 marked down with onMarkedDown: shutdown: out of the slots, then its flows deleted
  await driver.apply(renderSlotUpdate(frontend([0, 1, 0])));
  assert.equal(await driver.deleteFlows(VIP, 7445, { ip: ips[0]!, port: PORT }), 1);
  assert.equal(await driver.deleteFlows(VIP, 7445, { ip: ips[0]!, port: PORT }), 0, 'none left: no error');
  held.stdin!.write('after\n');
  const after = await next();
  // its next packet finds no translation, goes to m2 (which knows no such connection) and is reset
  assert.deepEqual(after, { error: 'read ECONNRESET' }, 'the flow to m1 is over');
  await driver.removeTable();
  assert.equal(await driver.tableExists(), false);
  await driver.removeTable();
});
