import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfigText, formatProblem } from '../../src/config/load.js';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { detectKind, lintFile, type HostFacts } from '../../src/lint/lint-model.js';
import { formatFinding, lintFiles } from '../../src/lint/lint.js';
import { kubeadmApiFor, makePlan, parseInventoryText, virtualRouterIdFor, type Inventory } from '../../src/plan/inventory.js';
import { renderBundle } from '../../src/plan/render-bundle.js';
import { componentServer } from '../../src/plan/render-control-plane.js';
import { withServer } from '../../src/apply/pki.js';
import { checkScriptPath } from '../../src/plan/render-keepalived.js';
import { renderKubehaUnit } from '../../src/plan/render-systemd.js';
import { KUBEHA_BIN, spawnKubeha } from '../support/processes.js';
import { applyCommand } from '../../src/cli/apply.js';
import { runWithStreams } from '../support/cli-streams.js';

const SRC = fileURLToPath(new URL('../../../test/plan/', import.meta.url));
const CASES = ['kubeha-stacked', 'haproxy-dedicated', 'nginx-local', 'kubeha-grow', 'kubeha-bgp', 'kubeha-dual-stack'];

function bundleOf(name: string) {
  const r = parseInventoryText(readFileSync(join(SRC, 'inventories', `${name}.yaml`), 'utf8'), `${name}.yaml`);
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  return renderBundle(makePlan(r.inventory));
}

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(dir, join(prefix, e.name)) : [join(prefix, e.name)]));
}

test('render: golden files for six inventories (UPDATE_GOLDEN=1 rewrites them)', () => {
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

test('render: deterministic; every kubeha.yaml passes kubeha check; priorities descend; a failed LB puts keepalived in FAULT', () => {
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
  // not a weight: with it the peers' preempt_delay would keep the VIP on the dead LB's node
  assert.match(bundleOf('haproxy-dedicated').get('lb1/keepalived.conf')!.content, /vrrp_script chk_lb \{[^}]*\n {4}interval 1\n[^}]*\n {4}weight 0\n\}/);
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

test('masterAccess: local: every master gets a node-local LB (the LB daemon carries it on kubeha LB masters), the components\' kubeconfigs point at it, and the apiserver certificate names loopback', () => {
  const grow = bundleOf('kubeha-grow');
  const merged = parseYaml(grow.get('master4/kubeha.yaml')!.content);
  assert.deepEqual(merged.frontends.map((f: { bind: string }) => f.bind), ['0.0.0.0:16443', 'localhost:7445']);
  const local = merged.backends.find((b: { name: string }) => b.name === 'local-apiservers');
  assert.equal(local.balance, 'latency');
  assert.deepEqual(local.discovery.kubernetes, { kubeconfig: '/etc/kubernetes/controller-manager.conf', stateFile: '/var/lib/kubeha/endpoints-local-apiservers.json' });
  assert.equal(merged.vrrp.instances[0].track.backends[0], 'apiservers', 'the VIP still tracks the LB backend only');
  assert.doesNotMatch(grow.get('master4/kubeha.service')!.content, /max-semi-space/, 'one daemon: the LB\'s unit');
  assert.match(grow.get('master1/kube-scheduler.flags')!.content, /server: https:\/\/127\.0\.0\.1:7445 in \/etc\/kubernetes\/scheduler\.conf/);
  const nginx = bundleOf('nginx-local');
  const own = parseYaml(nginx.get('m2/kubeha.yaml')!.content);
  assert.deepEqual(own.frontends, [{ name: 'local-apiserver', bind: 'localhost:7445', backend: 'local-apiservers' }]);
  assert.equal(own.vrrp, undefined, 'no VRRP in a node-local kubeha');
  assert.match(nginx.get('m2/kubeha.service')!.content, /NODE_OPTIONS=--max-semi-space-size=1/);
  assert.ok(nginx.has('m2/nginx.conf'), 'the LB stays nginx');
  const sans = parseAllDocuments(nginx.get('m1/kubeadm-config.yaml')!.content).map((d) => d.toJS()).find((d) => d.kind === 'ClusterConfiguration').apiServer.certSANs;
  assert.deepEqual(sans.slice(-2), ['127.0.0.1', 'localhost']);
  assert.doesNotMatch(bundleOf('haproxy-dedicated').get('README.md')!.content, /127\.0\.0\.1:7445/, 'vip by default');
  const kubeconfig = 'apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: X\n    server: https://10.8.5.55:16443\n  name: prod-b\n';
  assert.equal(withServer(kubeconfig, componentServer(makePlan(parseOk('kubeha-grow')))), kubeconfig.replace('https://10.8.5.55:16443', 'https://127.0.0.1:7445'));
});

test('lb.dataPlane: kernel: the LB hosts\' frontend is a kernel frontend on the VIP; kernelOnStop: remove adds the cleanup to the unit', () => {
  const inv = readFileSync(join(SRC, 'inventories', 'kubeha-stacked.yaml'), 'utf8');
  const render = (lb: string) => {
    const r = parseInventoryText(inv.replace('  hosts: []\n', `  hosts: []\n${lb}`), 'inv.yaml');
    assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
    return renderBundle(makePlan(r.inventory));
  };
  const plain = render('');
  const kernel = render('  dataPlane: kernel\n');
  const host = [...kernel.keys()].find((k) => k.endsWith('/kubeha.yaml') && /vrrp:/.test(kernel.get(k)!.content))!;
  const config = parseYaml(kernel.get(host)!.content);
  const vip = parseYaml(plain.get(host)!.content).vrrp.instances[0].vips[0].split('/')[0];
  const port = parseYaml(plain.get(host)!.content).frontends[0].bind.split(':')[1];
  assert.deepEqual(config.frontends[0], { name: 'apiserver', bind: `${vip}:${port}`, backend: 'apiservers', dataPlane: 'kernel' });
  const loaded = parseConfigText(kernel.get(host)!.content, host);
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.problems.map(formatProblem).join('\n'));
  const unit = host.replace('kubeha.yaml', 'kubeha.service');
  assert.doesNotMatch(kernel.get(unit)!.content, /--cleanup/, 'keep by default: the table forwards on while kubeha is down');
  assert.match(kernel.get(unit)!.content, /^ExecStartPre=\/usr\/sbin\/sysctl -qw net\.ipv4\.ip_forward=1$/m, 'the LB host forwards the VIP\'s flows');
  assert.doesNotMatch(plain.get(unit)!.content, /ip_forward/);
  assert.match(render('  dataPlane: kernel\n  kernelOnStop: remove\n').get(unit)!.content, /^ExecStopPost=-\/usr\/bin\/kubeha run --cleanup --config \/etc\/kubeha\/kubeha\.yaml$/m);
  // lb.stateful (two dedicated LB hosts): SNAT to the VIP and the flows replicated to the other one
  const r = parseInventoryText(inv.replace('  hosts: []\n', '  hosts: [{ name: lb1, ip: 10.8.4.11 }, { name: lb2, ip: 10.8.4.12 }]\n  dataPlane: kernel\n  stateful: true\n'), 'inv.yaml');
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  const stateful = renderBundle(makePlan(r.inventory));
  const lbConfigs = [...stateful.keys()].filter((k) => k.endsWith('/kubeha.yaml') && /vrrp:/.test(stateful.get(k)!.content));
  assert.deepEqual(lbConfigs.map((file) => {
    const c = parseYaml(stateful.get(file)!.content);
    const ok = parseConfigText(stateful.get(file)!.content, file);
    assert.ok(ok.ok, ok.ok ? '' : ok.problems.map(formatProblem).join('\n'));
    return [c.frontends[0].sourceNat, c.conntrackSync] as [string, { localAddress: string }];
  }).sort((a, b) => a[1].localAddress.localeCompare(b[1].localAddress)), [
    ['vip', { peer: '10.8.4.12', localAddress: '10.8.4.11', interface: 'eth0' }],
    ['vip', { peer: '10.8.4.11', localAddress: '10.8.4.12', interface: 'eth0' }],
  ]);
});

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
    ['a preemption delay keepalived cannot take', base('vrrp: { preemptDelay: 1500ms }\n'), 'not a whole number of seconds'],
    ['the masters\' node-local LB on the apiserver\'s port', base('masterAccess: local\nmasterLocalPort: 6443\n'), 'masterLocalPort 6443 is apiserverPort'],
    ['the masters\' node-local LB on the LB\'s port', base('masterAccess: local\nmasterLocalPort: 16443\n'), "the LB's port on the masters"],
    ['the masters\' node-local LB on the admin port', base('masterAccess: local\nmasterLocalPort: 9000\n'), 'admin server'],
    ['the kernel data plane with haproxy', base('lb: { flavor: haproxy, dataPlane: kernel }\n'), 'not haproxy\'s'],
    ['kernelOnStop without the kernel data plane', base('lb: { kernelOnStop: remove }\n'), 'lb.kernelOnStop is for lb.dataPlane: kernel'],
    ['stateful failover of the user-space proxy', base('lb: { stateful: true }\n'), 'set dataPlane: kernel'],
    ['stateful failover among three LB hosts', base('lb: { dataPlane: kernel, stateful: true }\n'), 'there are 3: use two LB hosts'],
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
  const first = spawnKubeha(['render', '--inventory', inv, '--out', out], t);
  assert.equal(await first.exited, 0);
  assert.match(first.stderr(), /^kubeha render: warning: vrrp\.virtualRouterId is not set: \d+ is derived from the cluster name "prod-a"/m);
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

/** An inventory from text; throws with the problems. */
function inventoryOf(text: string): Inventory {
  const r = parseInventoryText(text, 'inv.yaml');
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return r.inventory;
}

/** The ETCD_* variables of an etcd.env. */
function envOf(text: string): Record<string, string> {
  return Object.fromEntries(text.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

const BASE = readFileSync(join(SRC, 'inventories', 'kubeha-stacked.yaml'), 'utf8');
const GROWN = BASE.replace('  - { name: master3, ip: 10.8.4.93 }\n', '  - { name: master3, ip: 10.8.4.93 }\n  - { name: master4, ip: 10.8.4.94, join: true }\n  - { name: master5, ip: 10.8.4.95, join: true }\n');

test('a growing cluster: founders\' etcd.env stay byte-identical; each joiner gets state existing and the members before it plus itself', () => {
  assert.notEqual(GROWN, BASE);
  const before = renderBundle(makePlan(inventoryOf(BASE)));
  const after = renderBundle(makePlan(inventoryOf(GROWN)));
  for (const m of ['master1', 'master2', 'master3']) assert.equal(after.get(`${m}/etcd.env`)!.content, before.get(`${m}/etcd.env`)!.content, `${m}/etcd.env unchanged`);
  const peers = (n: number) => [1, 2, 3, 4, 5].slice(0, n).map((i) => `master${i}=https://10.8.4.9${i}:2380`).join(',');
  const table: [string, string, string][] = [
    ['master1', 'new', peers(3)],
    ['master4', 'existing', peers(4)],
    ['master5', 'existing', peers(5)],
  ];
  for (const [m, state, cluster] of table) {
    const env = envOf(after.get(`${m}/etcd.env`)!.content);
    assert.equal(env.ETCD_INITIAL_CLUSTER_STATE, state, m);
    assert.equal(env.ETCD_INITIAL_CLUSTER, cluster, m);
    assert.equal(env.ETCD_NAME, m);
  }
  assert.match(after.get('master4/etcd.env')!.content, /^# First, on a running member: etcdctl member add master4 --peer-urls=https:\/\/10\.8\.4\.94:2380$/m);
  // The index lists the steps in order: member add master4, start it, then master5.
  const readme = after.get('README.md')!.content;
  const at = (s: string) => { const i = readme.indexOf(s); assert.ok(i >= 0, `README has ${s}`); return i; };
  assert.ok(at('etcdctl member add master4 --peer-urls=https://10.8.4.94:2380') < at('systemctl daemon-reload && systemctl enable --now etcd'));
  assert.ok(at('systemctl daemon-reload && systemctl enable --now etcd') < at('etcdctl member add master5 --peer-urls=https://10.8.4.95:2380'));
  assert.match(readme, /counts 4 members and needs 3; until master4's etcd runs it tolerates no failure/);
  assert.match(readme, /counts 5 members and needs 3; until master5's etcd runs it tolerates 1 more failure/);
  assert.match(readme, /kubeadm join 10\.8\.4\.55:16443 --control-plane --apiserver-advertise-address 10\.8\.4\.95 /);
  assert.match(readme, /ignores them on every restart/);
  assert.match(readme, /certSANs/);
  assert.match(readme, /Replacing a master/);
  assert.doesNotMatch(before.get('README.md')!.content, /## Joining the running cluster/);
  // certSANs name the new masters; kubeadm-config.yaml goes to the first founder only.
  assert.deepEqual([...after.keys()].filter((p) => p.endsWith('kubeadm-config.yaml')), ['master1/kubeadm-config.yaml']);
  const [cluster] = parseAllDocuments(after.get('master1/kubeadm-config.yaml')!.content).map((d) => d.toJS() as { apiServer?: { certSANs?: string[] } });
  assert.deepEqual(cluster!.apiServer!.certSANs, ['10.8.4.55', '10.8.4.91', '10.8.4.92', '10.8.4.93', '10.8.4.94', '10.8.4.95']);
  // A joiner listed first does not get kubeadm init; the first founder does.
  const joinerFirst = makePlan(inventoryOf(GROWN.replace('masters:\n', 'masters:\n  - { name: master0, ip: 10.8.4.90, join: true }\n').replace('  - { name: master5, ip: 10.8.4.95, join: true }\n', '')));
  assert.equal(joinerFirst.founders[0]!.name, 'master1');
  assert.ok(renderBundle(joinerFirst).has('master1/kubeadm-config.yaml'));
  assert.match(renderBundle(joinerFirst).get('README.md')!.content, /ETCDCTL_ENDPOINTS=https:\/\/10\.8\.4\.91:2379/);
  // External etcd: no etcd.env at all, the README keeps the kubeadm join and skips etcdctl.
  const external = renderBundle(makePlan(parseOk('haproxy-dedicated')));
  assert.doesNotMatch(external.get('README.md')!.content, /## Joining/);
  const extGrown = renderBundle(makePlan(inventoryOf(readFileSync(join(SRC, 'inventories', 'haproxy-dedicated.yaml'), 'utf8').replace('  - { name: cp3, ip: 192.168.20.13 }\n', '  - { name: cp3, ip: 192.168.20.13 }\n  - { name: cp4, ip: 192.168.20.14, join: true }\n'))));
  const extReadme = extGrown.get('README.md')!.content;
  assert.match(extReadme, /## Joining the running cluster: cp4/);
  assert.doesNotMatch(extReadme, /etcdctl member add/);
  assert.match(extReadme, /--apiserver-advertise-address 192\.168\.20\.14 /);
  assert.ok(![...extGrown.keys()].some((p) => p.endsWith('etcd.env')));
});

test('inventory: join and interface problems, table', () => {
  const base = 'cluster: c\nvip: 10.0.0.100/24\ninterface: eth0\nmasters:\n  - { name: m1, ip: 10.0.0.11 }\n  - { name: m2, ip: 10.0.0.12 }\n  - { name: m3, ip: 10.0.0.13 }\n';
  const table: [string, string, string][] = [
    ['every master joins', base.replace(/ip: (10\.0\.0\.1\d) }/g, 'ip: $1, join: true }'), 'every master has join: true'],
    ['an interface name longer than IFNAMSIZ', base.replace('interface: eth0', 'interface: enp0s31f6-with-a-long-name'), 'at most 15 characters'],
    ['a host interface with a space', base.replace('{ name: m2, ip: 10.0.0.12 }', '{ name: m2, ip: 10.0.0.12, interface: "eth 1" }'), 'at most 15 characters'],
    ['a worker with an interface', `${base}workers:\n  - { name: w1, ip: 10.0.0.21, interface: eth1 }\n`, 'interface'],
    ['the VIP off a host\'s segment names its interface', base.replace('{ name: m3, ip: 10.0.0.13 }', '{ name: m3, ip: 10.9.0.13, interface: bond0 }'), 'not in the subnet of LB host m3 (10.9.0.13/24 on bond0)'],
  ];
  for (const [what, yaml, fragment] of table) {
    const r = parseInventoryText(yaml, 'inv.yaml');
    assert.equal(r.ok, false, what);
    if (r.ok) continue;
    assert.ok(r.problems.some((p) => p.message.includes(fragment)), `${what}: ${r.problems.map(formatProblem).join('\n')}`);
  }
  assert.ok(parseInventoryText(`${base.replace('{ name: m3, ip: 10.0.0.13 }', '{ name: m3, ip: 10.0.0.13, interface: bond0.12 }')}`, 'inv.yaml').ok, 'a VLAN interface name');
});

test('per-host interface: the host\'s keepalived.conf, kubeha.yaml, release drop-in and unit use it; the others keep the inventory\'s', () => {
  for (const flavor of ['kubeha', 'haproxy', 'nginx']) {
    const inv = inventoryOf(`cluster: c\nvip: 10.0.0.100/24\ninterface: eth0\nmasters:\n  - { name: m1, ip: 10.0.0.11 }\n  - { name: m2, ip: 10.0.0.12, interface: bond0 }\n  - { name: m3, ip: 10.0.0.13 }\nlb: { flavor: ${flavor} }\nvrrp: { virtualRouterId: 9 }\n`);
    const bundle = renderBundle(makePlan(inv));
    for (const [host, iface] of [['m1', 'eth0'], ['m2', 'bond0']] as const) {
      if (flavor === 'kubeha') {
        const config = parseYaml(bundle.get(`${host}/kubeha.yaml`)!.content) as { vrrp: { instances: { interface: string }[] } };
        assert.equal(config.vrrp.instances[0]!.interface, iface, `${flavor} ${host}`);
        assert.match(bundle.get(`${host}/kubeha.service`)!.content, new RegExp(`^ExecStopPost=-/usr/sbin/ip addr del 10\\.0\\.0\\.100/24 dev ${iface}$`, 'm'));
      } else {
        const ka = bundle.get(`${host}/keepalived.conf`)!.content;
        assert.match(ka, new RegExp(`^    interface ${iface}$`, 'm'), `${flavor} ${host}`);
        assert.match(ka, new RegExp(`^        10\\.0\\.0\\.100/24 dev ${iface}$`, 'm'));
        assert.match(bundle.get(`${host}/keepalived-release-vip.conf`)!.content, new RegExp(`dev ${iface}$`, 'm'));
      }
    }
    assert.match(bundle.get('README.md')!.content, /VIP 10\.0\.0\.100\/24 on eth0 \(m2: bond0\)/);
  }
});

test('kubeadm config API from kubernetesVersion: v1beta2 < v1.22 ≤ v1beta3 < v1.31 ≤ v1beta4; extraArgs a list in v1beta4', () => {
  const table: [string | undefined, string][] = [
    ['v1.20.2', 'v1beta2'], ['v1.21.14', 'v1beta2'], ['v1.22.0', 'v1beta3'], ['v1.26.15', 'v1beta3'],
    ['v1.30.9', 'v1beta3'], ['v1.31.0', 'v1beta4'], ['v1.33.1', 'v1beta4'], ['v2.0.0', 'v1beta4'], [undefined, 'v1beta3'],
  ];
  for (const [version, api] of table) {
    assert.equal(kubeadmApiFor(version), api, String(version));
    const text = `cluster: c\nvip: 10.0.0.100/24\ninterface: eth0\nmasters:\n  - { name: m1, ip: 10.0.0.11 }\n${version ? `kubernetesVersion: ${version}\n` : ''}`;
    const yaml = renderBundle(makePlan(inventoryOf(text))).get('m1/kubeadm-config.yaml')!.content;
    const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Record<string, unknown>);
    assert.deepEqual(docs.map((d) => `${d.apiVersion} ${d.kind}`), [`kubeadm.k8s.io/${api} ClusterConfiguration`, `kubeadm.k8s.io/${api} InitConfiguration`], String(version));
    const cluster = docs[0] as { kubernetesVersion?: string; apiServer: { extraArgs: unknown }; controllerManager: { extraArgs: unknown }; scheduler: { extraArgs: unknown }; dns?: unknown; useHyperKubeImage?: unknown };
    assert.equal(cluster.kubernetesVersion, version);
    assert.equal(cluster.useHyperKubeImage, undefined);
    assert.equal(cluster.dns, undefined, 'no dns.type (removed in v1beta3)');
    const expected = { 'endpoint-reconciler-type': 'lease', 'shutdown-delay-duration': '5s' };
    const elected = { 'leader-elect': 'true', 'bind-address': '127.0.0.1' };
    const asList = (o: Record<string, string>) => Object.entries(o).map(([name, value]) => ({ name, value }));
    assert.deepEqual(cluster.apiServer.extraArgs, api === 'v1beta4' ? asList(expected) : expected, String(version));
    assert.deepEqual(cluster.controllerManager.extraArgs, api === 'v1beta4' ? asList(elected) : elected);
    assert.deepEqual(cluster.scheduler.extraArgs, api === 'v1beta4' ? asList(elected) : elected);
    assert.match(yaml, new RegExp(`^# kubeadm\\.k8s\\.io/${api} \\(`, 'm'));
  }
});

test('the VRID: a derived one is a warning (stderr and README), a set one is not', () => {
  const derived = makePlan(parseOk('kubeha-stacked'));
  assert.equal(derived.virtualRouterIdDerived, true);
  assert.equal(derived.warnings.length, 1);
  assert.match(derived.warnings[0]!, /same L2 segment/);
  assert.match(renderBundle(derived).get('README.md')!.content, /^> \*\*Warning:\*\* vrrp\.virtualRouterId is not set/m);
  const set = makePlan(parseOk('haproxy-dedicated'));
  assert.deepEqual(set.warnings, []);
  assert.doesNotMatch(renderBundle(set).get('README.md')!.content, /Warning/);
});

test('kubeha render --diff | head: a closed stdout ends the diff quietly, and the exit code still says "changes"', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-render-pipe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const inv = join(dir, 'inv.yaml');
  // Many hosts, nothing rendered yet: a diff of every file, far more than a pipe buffer holds.
  const workers = Array.from({ length: 200 }, (_, i) => `  - { name: w${i}, ip: 10.8.${5 + Math.floor(i / 200)}.${(i % 200) + 10} }`).join('\n');
  writeFileSync(inv, `${BASE.replace(/workers:\n.*\n/, `workers:\n${workers}\n`)}`.replace('workerAccess: vip', 'workerAccess: local'));
  const out = join(dir, 'out');
  mkdirSync(out);
  for (const h of ['master1', 'master2', 'master3']) {
    mkdirSync(join(out, h));
    for (const f of ['kubeha.yaml', 'etcd.env', 'kube-apiserver.flags']) writeFileSync(join(out, h, f), 'old\n'.repeat(2000));
  }
  const child = spawn(process.execPath, [KUBEHA_BIN, 'render', '--inventory', inv, '--out', out, '--diff'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await new Promise((r) => child.stdout.once('data', r));
  child.stdout.destroy(); // what head does after its lines
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  assert.equal(code, 1, 'changes pending');
  assert.doesNotMatch(stderr, /EPIPE|Error|\n\s+at /, stderr);
});

test('any command | head: bin/kubeha.js ends quietly once its reader went away (no EPIPE, no stack trace)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-pipe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Two findings per backend, a thousand backends: far more than a pipe buffer holds.
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, Array.from({ length: 1000 }, (_, i) => `backend b${i}\n  mode http\n  server m${i} 10.0.0.${i % 250}:6443\n`).join(''));
  const child = spawn(process.execPath, [KUBEHA_BIN, 'lint', '--no-host', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await new Promise((r) => child.stdout.once('data', r));
  child.stdout.destroy(); // what head does after its lines
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (c, s) => r([c, s])));
  assert.equal(signal, null);
  // lint writes its findings in one go, so it still ends with its own code (errors found); a command
  // that writes again later (elect --observe, demo) ends at that write with the code so far
  assert.equal(code, 1);
  assert.equal(stderr, '');
});

test('the rendered LB files pass kubeha lint on the host they were rendered for (its interface, its check script)', () => {
  for (const name of ['kubeha-stacked', 'kubeha-grow']) {
    const plan = makePlan(parseOk(name));
    const bundle = renderBundle(plan);
    for (const h of plan.lbHosts) {
      const iface = h.interface ?? plan.inv.interface;
      const onHost: HostFacts = { exists: () => false, executable: () => false, readFile: () => undefined, interfaceCidrs: (n) => (n === iface ? [`${h.ip}/${plan.vipPrefix}`] : undefined), localAddresses: () => ['127.0.0.1', h.ip] };
      const path = `${h.name}/kubeha.yaml`;
      const text = bundle.get(path)!.content;
      assert.deepEqual(lintFiles([lintFile(path, detectKind(path, text)!, text)], onHost).map(formatFinding), [], `${name}/${h.name} (VIP on ${iface})`);
    }
  }
  for (const name of ['haproxy-dedicated', 'nginx-local']) {
    const plan = makePlan(parseOk(name));
    const bundle = renderBundle(plan);
    for (const h of plan.lbHosts) {
      const iface = h.interface ?? plan.inv.interface;
      const script = bundle.get(`${h.name}/check_lb.sh`)!.content;
      const onHost: HostFacts = {
        exists: (p) => p === checkScriptPath(plan),
        executable: (p) => p === checkScriptPath(plan),
        readFile: (p) => (p === checkScriptPath(plan) ? script : undefined),
        interfaceCidrs: (n) => (n === iface ? [`${h.ip}/${plan.vipPrefix}`] : undefined),
        localAddresses: () => ['127.0.0.1', h.ip],
      };
      const files = [...bundle].filter(([p]) => p.startsWith(`${h.name}/`) && /(haproxy\.cfg|nginx\.conf|keepalived\.conf)$/.test(p))
        .map(([p, f]) => lintFile(p, detectKind(p, f.content)!, f.content));
      assert.equal(files.length, 2, `${name}/${h.name}`);
      assert.deepEqual(lintFiles(files, onHost).map(formatFinding), [], `${name}/${h.name}`);
      // Elsewhere (no such script, no such interface): exactly the host-fact rules, what --no-host skips.
      const elsewhere: HostFacts = { ...onHost, exists: () => false, executable: () => false, readFile: () => undefined, interfaceCidrs: () => ['198.51.100.7/24'], localAddresses: () => ['127.0.0.1'] };
      assert.deepEqual([...new Set(lintFiles(files, elsewhere).map((f) => f.code))].sort(), ['keepalived-script-not-executable', 'keepalived-vip-outside-subnet'], `${name}/${h.name} off its host`);
    }
  }
});

test('docs/operations.md shows the kubeha.service that kubeha render writes', () => {
  const ops = readFileSync(fileURLToPath(new URL('../../../docs/operations.md', import.meta.url)), 'utf8');
  const block = /^## Install\n[\s\S]*?```ini\n([\s\S]*?)```/m.exec(ops);
  assert.ok(block, 'an ini block under ## Install');
  assert.equal(block[1], renderKubehaUnit(), 'update the unit in docs/operations.md "Install" with src/plan/render-systemd.ts');
});

test('vipMode: bgp: each LB host announces the VIP to every router (primary: the first preferred, the next prepends), no VRRP; a folder per router; the inventory refuses what cannot work', () => {
  const bundle = bundleOf('kubeha-bgp');
  const lb2 = parseYaml(bundle.get('lb2/kubeha.yaml')!.content) as Record<string, unknown> & { bgp: { routerId: string; peers: Record<string, unknown>[]; announce: Record<string, unknown>[] } };
  assert.equal(lb2.vrrp, undefined, 'no VRRP on a routed fabric');
  assert.equal(lb2.bgp.routerId, '10.8.6.21');
  // dual stack: the IPv6 VIP's /128 on the same sessions (MP-BGP), this host's ip6 its next hop
  assert.deepEqual(lb2.bgp.peers, [{ address: '10.8.6.1', asn: 65000, holdTime: '30s', nextHop6: '2001:db8:6::21' }], 'its own rack\'s router only');
  const lb1 = parseYaml(bundle.get('lb1/kubeha.yaml')!.content) as typeof lb2;
  assert.deepEqual(lb1.bgp.peers, [{ address: '10.8.4.1', asn: 65000, holdTime: '9s', password: 's3cret', nextHop6: '2001:db8:4::21', bfd: { interval: '100ms', multiplier: 3 } }]);
  assert.deepEqual(lb2.bgp.announce, ['10.99.0.10/32', '2001:db8:99::10/128'].map((vip) => ({ vip, mode: 'primary', priority: 140, prepend: 1, track: { backends: ['apiservers'] } })));
  assert.match(bundle.get('lb1/kubeha.service')!.content, /^ExecStopPost=-\/usr\/sbin\/ip addr del 10\.99\.0\.10\/32 dev lo\nExecStopPost=-\/usr\/sbin\/ip addr del 2001:db8:99::10\/128 dev lo$/m);
  assert.match(bundle.get('router-10.8.4.1/bird.conf')!.content, /ipv6 \{\n    import where net = 2001:db8:99::10\/128;/);
  assert.match(bundle.get('router-10.8.6.1/frr.conf')!.content, / address-family ipv6 unicast\n  neighbor kubeha activate\n  neighbor kubeha prefix-list kubeha-vip6 in/);
  assert.ok(bundle.has('router-10.8.4.1/bird.conf') && bundle.has('router-10.8.6.1/frr.conf'));
  assert.match(bundle.get('router-10.8.4.1/bird.conf')!.content, /neighbor 10\.8\.4\.21 as 64512;[\s\S]*bfd on;[\s\S]*password "s3cret";/);
  assert.doesNotMatch(bundle.get('router-10.8.6.1/bird.conf')!.content, /bfd/);
  assert.match(bundle.get('README.md')!.content, /announced over BGP \(AS 64512, primary\) by every LB host to 10\.8\.4\.1 \(AS 65000, BFD\), 10\.8\.6\.1 \(AS 65000\)/);
  const problems = (text: string) => {
    const r = parseInventoryText(text, 'i.yaml');
    return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
  };
  const base = readFileSync(join(SRC, 'inventories', 'kubeha-bgp.yaml'), 'utf8');
  assert.deepEqual(problems(base), []);
  assert.match(problems(base.replace('10.99.0.10/32', '10.99.0.10/24')).join('\n'), /^vip: vipMode: bgp announces the VIP as a host route/m);
  assert.match(problems(base.replace('flavor: kubeha', 'flavor: haproxy')).join('\n'), /^lb\.flavor: vipMode: bgp is kubeha's own speaker/m);
  assert.match(problems(base.replace('holdTime: 30s', 'holdTime: 2s')).join('\n'), /^bgp\.peers\.1\.holdTime:/m);
  assert.match(problems(base.replace('hosts: [lb2]', 'hosts: [lb1]')).join('\n'), /LB host lb2 peers with no router/);
  assert.match(problems(base.replace(/^vipMode: bgp$/m, 'vipMode: vrrp')).join('\n'), /^bgp: a bgp section is used with vipMode: bgp only/m);
  assert.match(problems(base.replace('vip6: 2001:db8:99::10/128', 'vip6: 2001:db8:99::10/64')).join('\n'), /^vip6: vipMode: bgp announces the IPv6 VIP as a host route .* write it as a \/128/m);
  assert.match(problems(base.replace(", ip6: '2001:db8:6::21'", '')).join('\n'), /^lb\.hosts\.1: .*give lb2 its ip6/m);
});

test('kubeha apply refuses vipMode: bgp up front, saying what to do instead (its gates expect one VRRP holder)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-apply-bgp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'inventory.yaml');
  writeFileSync(file, readFileSync(join(SRC, 'inventories', 'kubeha-bgp.yaml'), 'utf8'));
  const r = await runWithStreams((out, err) => applyCommand({ inventory: file }, out, err));
  assert.equal(r.code, 1);
  assert.match(r.err, /vipMode: bgp is rendered by `kubeha render`.*does not drive it yet.*\[KUBEHA_ERR_USAGE\]/s);
});

test('inventory: vip6 needs VRRPv3, the user-space data plane, and with unicast every LB host\'s ip6', () => {
  const base = readFileSync(join(SRC, 'inventories', 'kubeha-dual-stack.yaml'), 'utf8');
  const problems = (text: string) => {
    const r = parseInventoryText(text, 'i.yaml');
    return r.ok ? '' : r.problems.map(formatProblem).join('\n');
  };
  assert.equal(problems(base), '');
  assert.match(problems(base.replace('vip6: fd00:8:4::55/64', 'vip6: 10.8.4.56/24')), /vip6 10\.8\.4\.56\/24 is not an IPv6 address/);
  assert.match(problems(base.replace('version: 3', 'version: 2').replace('advertInterval: 100ms', 'advertInterval: 1s')), /VRRPv2 is IPv4 only/);
  assert.match(problems(base.replace('flavor: kubeha', 'flavor: kubeha\n  dataPlane: kernel')), /in-kernel data plane forwards IPv4 only/);
  assert.match(problems(base.replace(', ip6: "fd00:8:4::92"', '')), /give master2 its ip6/);
  assert.match(problems(base.replace('ip6: "fd00:8:4::93"', 'ip6: "fd00:8:4::55"')), /fd00:8:4::55 is the IPv6 VIP/);
});
