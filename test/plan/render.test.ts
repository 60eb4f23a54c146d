import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfigText, formatProblem } from '../../src/config/load.js';
import { makePlan, parseInventoryText, virtualRouterIdFor } from '../../src/plan/inventory.js';
import { renderBundle } from '../../src/plan/render-bundle.js';
import { spawnKubeha } from '../support/processes.js';

const SRC = fileURLToPath(new URL('../../../test/plan/', import.meta.url));
const CASES = ['kubeha-stacked', 'haproxy-dedicated', 'nginx-local'];

function bundleOf(name: string) {
  const r = parseInventoryText(readFileSync(join(SRC, 'inventories', `${name}.yaml`), 'utf8'), `${name}.yaml`);
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  return renderBundle(makePlan(r.inventory));
}

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(dir, join(prefix, e.name)) : [join(prefix, e.name)]));
}

test('render: golden files for three inventories (UPDATE_GOLDEN=1 rewrites them)', () => {
  for (const name of CASES) {
    const bundle = bundleOf(name);
    const golden = join(SRC, 'golden', name);
    if (process.env.UPDATE_GOLDEN === '1') {
      rmSync(golden, { recursive: true, force: true });
      for (const [path, f] of bundle) {
        mkdirSync(dirname(join(golden, path)), { recursive: true });
        writeFileSync(join(golden, path), f.content);
      }
    }
    assert.deepEqual(filesUnder(golden).sort(), [...bundle.keys()].sort(), `${name}: the same files`);
    for (const [path, f] of bundle) assert.equal(f.content, readFileSync(join(golden, path), 'utf8'), `${name}/${path}`);
  }
});

test('render: deterministic; every kubeha.yaml passes kubeha check; priorities descend and the track weight beats their spread', () => {
  for (const name of CASES) {
    const a = bundleOf(name);
    const b = bundleOf(name);
    assert.deepEqual([...a].map(([p, f]) => [p, f.content]), [...b].map(([p, f]) => [p, f.content]), `${name}: byte-identical`);
    for (const [path, f] of a) {
      if (!path.endsWith('kubeha.yaml')) continue;
      const r = parseConfigText(f.content, path);
      assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
    }
  }
  const r = parseInventoryText(readFileSync(join(SRC, 'inventories', 'haproxy-dedicated.yaml'), 'utf8'), 'i.yaml');
  assert.ok(r.ok);
  const plan = makePlan(r.inventory);
  const prios = [...plan.priorities.values()];
  for (let i = 1; i < prios.length; i++) assert.ok(prios[i]! < prios[i - 1]!, 'descending');
  assert.ok(-plan.trackWeight > prios[0]! - prios[prios.length - 1]!, 'a failed LB falls below every healthy one');
  assert.equal(plan.frontendPort, 6443, 'dedicated LB hosts serve the apiPort');
  assert.equal(makePlan(parseOk('kubeha-stacked')).frontendPort, 16443, 'on the masters, 16443');
  assert.equal(makePlan(parseOk('kubeha-stacked')).virtualRouterId, virtualRouterIdFor('prod-a'));
  assert.ok(virtualRouterIdFor('prod-a') >= 1 && virtualRouterIdFor('prod-a') <= 255);
  assert.notEqual(virtualRouterIdFor('prod-a'), virtualRouterIdFor('prod-b'));
});

function parseOk(name: string) {
  const r = parseInventoryText(readFileSync(join(SRC, 'inventories', `${name}.yaml`), 'utf8'), `${name}.yaml`);
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return r.inventory;
}

test('inventory problems are located, table', () => {
  const base = (extra: string) => `cluster: c\nvip: 10.0.0.100/24\ninterface: eth0\nmasters:\n  - { name: m1, ip: 10.0.0.11 }\n  - { name: m2, ip: 10.0.0.12 }\n  - { name: m3, ip: 10.0.0.13 }\n${extra}`;
  const table: [string, string, string][] = [
    ['VIP outside the LB hosts\' subnet', base('').replace('10.0.0.100/24', '10.9.0.100/24'), 'not in the subnet of LB host m1'],
    ['duplicate host name', base('workers:\n  - { name: m1, ip: 10.0.0.21 }\n'), 'host name m1 is already used'],
    ['a host on the VIP', base('workers:\n  - { name: w1, ip: 10.0.0.100 }\n'), 'is the VIP'],
    ['an even number of stacked etcd members', base('').replace('  - { name: m3, ip: 10.0.0.13 }\n', ''), 'even member count'],
    ['external etcd without endpoints', base('etcd: { mode: external }\n'), 'needs endpoints'],
    ['v2 with sub-second adverts', base('vrrp: { version: 2, advertInterval: 100ms }\n'), 'whole seconds'],
    ['unknown key', base('lb: { flavour: nginx }\n'), 'did you mean "flavor"'],
    ['bad flavor', base('lb: { flavor: envoy }\n'), 'kubeha | haproxy | nginx'],
  ];
  for (const [what, yaml, fragment] of table) {
    const r = parseInventoryText(yaml, 'inv.yaml');
    assert.equal(r.ok, false, what);
    if (r.ok) continue;
    assert.ok(r.problems.some((p) => p.message.includes(fragment)), `${what}: ${r.problems.map(formatProblem).join('\n')}`);
    assert.match(formatProblem(r.problems[0]!), /^inv\.yaml:\d+:\d+: /);
  }
});

test('kubeha render writes the folders; --diff shows a change and exits 1, then 0 when nothing changed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-render-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const inv = join(dir, 'inv.yaml');
  writeFileSync(inv, readFileSync(join(SRC, 'inventories', 'kubeha-stacked.yaml'), 'utf8'));
  const out = join(dir, 'out');
  assert.equal(await spawnKubeha(['render', '--inventory', inv, '--out', out], t).exited, 0);
  assert.ok(readFileSync(join(out, 'README.md'), 'utf8').includes('https://10.8.4.55:16443'));
  const same = spawnKubeha(['render', '--inventory', inv, '--out', out, '--diff'], t);
  assert.equal(await same.exited, 0);
  writeFileSync(inv, readFileSync(inv, 'utf8').replace('  - { name: master3, ip: 10.8.4.93 }\n', '  - { name: master3, ip: 10.8.4.94 }\n'));
  const diff = spawnKubeha(['render', '--inventory', inv, '--out', out, '--diff'], t);
  assert.equal(await diff.exited, 1);
  const text = diff.lines.map((l) => String(l.text ?? JSON.stringify(l))).join('\n');
  assert.match(text, /^- +address: 10\.8\.4\.93:6443$/m);
  assert.match(text, /^\+ +address: 10\.8\.4\.94:6443$/m);
  assert.match(text, /file\(s\) would change/);
  const bad = spawnKubeha(['render', '--inventory', join(dir, 'missing.yaml'), '--out', out], t);
  assert.equal(await bad.exited, 1);
  assert.match(bad.stderr(), /cannot read the inventory/);
});
