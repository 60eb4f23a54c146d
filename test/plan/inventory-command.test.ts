import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inventoryCommand, parseHostList, type InventoryOptions } from '../../src/cli/inventory.js';
import { makePlan, parseInventoryText } from '../../src/plan/inventory.js';
import { runWithStreams } from '../support/cli-streams.js';

test('parseHostList: "IP" or "IP NAME" a line, comments and blank lines skipped, anything else named by file:line', () => {
  const { hosts, problems } = parseHostList('10.8.4.91\n\n# the second\n10.8.4.92 Master-B\n  10.8.4.93  # trailing\n', 'master_ip');
  assert.deepEqual(hosts, [{ ip: '10.8.4.91', line: 1 }, { ip: '10.8.4.92', name: 'master-b', line: 4 }, { ip: '10.8.4.93', line: 5 }]);
  assert.deepEqual(problems, []);
  const bad = parseHostList('10.8.4.91\n10.8.4.300\nhost 10.8.4.5\n10.8.4.9 a b\n', 'master_ip');
  assert.deepEqual(bad.problems.map((p) => p.split(':').slice(0, 2).join(':')), ['master_ip:2', 'master_ip:3', 'master_ip:4']);
  assert.match(parseHostList('# nothing\n', 'node_ip').problems[0]!, /node_ip:1: no host in the file/);
});

test('kubeha inventory: the guides\' master_ip and node_ip files become an inventory render accepts; problems point at the list line or the option', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-inv-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };
  const masters = await file('master_ip', '10.8.4.91\n10.8.4.92\n10.8.4.93\n');
  const nodes = await file('node_ip', '10.8.4.101\n10.8.4.102 gpu1\n');
  const run = (o: Partial<InventoryOptions>) => runWithStreams((out, err) => inventoryCommand({ masters, vip: '10.8.4.55/24', interface: 'eth0', ...o } as InventoryOptions, out, err));

  const ok = await run({ nodes, vrid: '51', lbFlavor: 'haproxy', cluster: 'prod-a' });
  assert.equal(ok.code, 0, ok.err);
  const parsed = parseInventoryText(ok.out, 'printed');
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.problems));
  const inv = parsed.inventory;
  assert.deepEqual(inv.masters.map((m) => [m.name, m.ip]), [['master1', '10.8.4.91'], ['master2', '10.8.4.92'], ['master3', '10.8.4.93']]);
  assert.deepEqual(inv.workers.map((w) => [w.name, w.ip]), [['node1', '10.8.4.101'], ['gpu1', '10.8.4.102']]);
  assert.deepEqual([inv.cluster, inv.vip, inv.interface, inv.lb.flavor, inv.vrrp.virtualRouterId], ['prod-a', '10.8.4.55/24', 'eth0', 'haproxy', 51]);
  assert.equal(makePlan(inv).lbHosts.length, 3, 'the LB on the masters');

  const table: [string, Partial<InventoryOptions>, RegExp][] = [
    ['a VIP outside the masters\' subnet: each master\'s list line', { vip: '10.9.0.5/24' }, new RegExp(`^${masters}:1: the VIP 10\\.9\\.0\\.5/24 is not in the subnet of LB host master1`, 'm')],
    ['a VIP without a prefix: the option', { vip: '10.8.4.55' }, /^--vip: .*like 10\.8\.4\.55\/24/m],
    ['a bad line', { masters: await file('bad_ip', '10.8.4.91\nbogus\n') }, /bad_ip:2: "bogus" is not "IP" or "IP NAME"/],
    ['an even number of stacked etcd members: the file', { masters: await file('two_ip', '10.8.4.91\n10.8.4.92\n') }, /two_ip: 2 masters with stacked etcd/],
    ['a VRID out of range', { vrid: '300' }, /--vrid 300: a VRRP virtual router id is 1\.\.255/],
    ['a missing file', { nodes: join(dir, 'nope') }, /nope: cannot read/],
  ];
  for (const [what, o, re] of table) {
    const r = await run(o);
    assert.equal(r.code, 1, what);
    assert.equal(r.out, '', `${what}: nothing printed`);
    assert.match(r.err, re, what);
  }
});
