import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkCommand } from '../../src/cli/check.js';
import { lintCommand } from '../../src/cli/lint.js';
import { detectKind, lintFile, NEUTRAL_HOST, type Finding, type HostFacts } from '../../src/lint/lint-model.js';
import { formatFinding, lintFiles } from '../../src/lint/lint.js';
import { RULES } from '../../src/lint/rules/index.js';

/** The rules of kubeha.yaml: their cases are here (test/lint/rules.test.ts has the others'). */
const KUBEHA_RULES = RULES.filter((r) => r.code.startsWith('kubeha-'));
import { runWithStreams } from '../support/cli-streams.js';

/** An LB host: eth0 in 10.0.0.0/24 (address 10.0.0.11, also master m1), eth1 without IPv4; a CA, a token and two scripts. */
const HOST: HostFacts = {
  exists: (p) => ['/etc/kubeha/ca.crt', '/etc/kubeha/token', '/usr/local/bin/ok.sh', '/usr/local/bin/noexec.sh'].includes(p),
  executable: (p) => p !== '/usr/local/bin/noexec.sh',
  readFile: () => undefined,
  interfaceCidrs: (n) => ({ eth0: ['10.0.0.11/24', 'fd00::11/64', 'fe80::1/64'], eth1: ['fe80::2/64'] } as Record<string, string[]>)[n],
  localAddresses: () => ['10.0.0.11', '127.0.0.1'],
};

/** A kubeha.yaml that passes every rule on HOST; the cases break one thing each. */
const GOOD = `frontends:
  - { name: apiserver, bind: 0.0.0.0:16443, backend: apiservers }
backends:
  - name: apiservers
    healthCheck: { type: https, path: /readyz, interval: 1s, fastInterval: 250ms, timeout: 1s, rise: 2, fall: 2, caFile: /etc/kubeha/ca.crt, bearerTokenFile: /etc/kubeha/token }
    servers:
      - { name: m1, address: 10.0.0.11:6443 }
      - { name: m2, address: 10.0.0.12:6443 }
admin: { bind: 127.0.0.1:9000, tokenFile: /etc/kubeha/token }
vrrp:
  instances:
    - name: VI_1
      interface: eth0
      virtualRouterId: 51
      vips: [10.0.0.100/24]
      track: { backends: [apiservers], scripts: [{ name: chk, command: /usr/local/bin/ok.sh --port 16443, weight: -20 }], interfaces: [eth0] }
      notify: { master: /usr/local/bin/ok.sh master, backup: logger -t kubeha backup }
`;
const bad = (from: string, to: string) => {
  assert.ok(GOOD.includes(from), from);
  return GOOD.replace(from, to);
};
/** A worker's node-local LB (the planner's nginx-local n1): 127.0.0.1:6443 to remote masters. */
const LOCAL_LB = 'frontends:\n  - { name: apiserver, bind: 127.0.0.1:6443, backend: apiservers }\nbackends:\n  - name: apiservers\n    healthCheck: { type: https, path: /readyz, interval: 1s, fastInterval: 250ms, fall: 2 }\n    servers:\n      - { name: m1, address: 10.0.0.12:6443 }\n';

/** A node-local LB in the kernel (DNAT at output from a link-local address), with nothing the kernel ignores. */
const KERNEL = LOCAL_LB.replace('bind: 127.0.0.1:6443, backend: apiservers }', 'bind: 169.254.20.1:6443, backend: apiservers, dataPlane: kernel }');

/** [rule code, kubeha.yaml that must trigger it (on HOST), one that must not, severity expected]. */
const CASES: [string, string, string, Finding['severity']][] = [
  ['kubeha-http-check-on-tls', bad('type: https', 'type: http'), GOOD, 'error'],
  ['kubeha-tcp-only-check', bad('type: https', 'type: tcp'), GOOD, 'warning'],
  ['kubeha-tcp-only-check', bad('type: https', 'type: tls'), GOOD, 'warning'],
  ['kubeha-tcp-only-check', bad('type: https, ', ''), GOOD, 'warning'],
  ['kubeha-short-idle-timeout', bad('  - name: apiservers\n', '  - name: apiservers\n    idleTimeout: 30s\n'), bad('  - name: apiservers\n', '  - name: apiservers\n    idleTimeout: 2h\n'), 'warning'],
  ['kubeha-detection-time', bad('interval: 1s, fastInterval: 250ms, timeout: 1s, rise: 2, fall: 2', 'interval: 10s, timeout: 1s, rise: 2, fall: 5'), GOOD, 'warning'],
  ['kubeha-detection-time', bad('interval: 1s, fastInterval: 250ms, timeout: 1s, rise: 2, fall: 2', 'interval: 300ms, timeout: 200ms, rise: 2, fall: 1'), bad('fall: 2', 'fall: 3'), 'warning'],
  ['kubeha-bind-apiserver-port', bad('bind: 0.0.0.0:16443', 'bind: 0.0.0.0:6443'), GOOD, 'error'],
  ['kubeha-bind-apiserver-port', bad('bind: 0.0.0.0:16443', 'bind: 10.0.0.100:6443'), LOCAL_LB, 'error'],
  ['kubeha-missing-file', bad('caFile: /etc/kubeha/ca.crt', 'caFile: /etc/kubeha/missing-ca.crt'), GOOD, 'error'],
  ['kubeha-missing-file', bad('bearerTokenFile: /etc/kubeha/token', 'bearerTokenFile: /etc/kubeha/missing-token'), GOOD, 'error'],
  ['kubeha-missing-file', bad('tokenFile: /etc/kubeha/token }', 'tokenFile: /etc/kubeha/admin-token }'), GOOD, 'error'],
  ['kubeha-script-not-executable', bad('command: /usr/local/bin/ok.sh', 'command: /usr/local/bin/missing.sh'), GOOD, 'error'],
  ['kubeha-script-not-executable', bad('command: /usr/local/bin/ok.sh', 'command: /usr/local/bin/noexec.sh'), GOOD, 'error'],
  ['kubeha-script-not-executable', bad('master: /usr/local/bin/ok.sh', 'master: /etc/kubeha/notify.sh'), GOOD, 'warning'],
  ['kubeha-interface-missing', bad('interface: eth0', 'interface: eth9'), GOOD, 'error'],
  ['kubeha-interface-missing', bad('interface: eth0', 'interface: eth1'), GOOD, 'error'],
  ['kubeha-interface-missing', bad('interfaces: [eth0]', 'interfaces: [eth7]'), bad('interfaces: [eth0]', 'interfaces: [eth1]'), 'error'],
  ['kubeha-vip-outside-subnet', bad('vips: [10.0.0.100/24]', 'vips: [10.9.0.100/24]'), bad('vips: [10.0.0.100/24]', 'vips: [10.0.0.100/32]'), 'error'],
  ['kubeha-vip-outside-subnet', bad('vips: [10.0.0.100/24]', 'vips: ["fd01::100/64"]'), bad('vips: [10.0.0.100/24]', 'vips: ["fd00::100/64"]'), 'error'],
  ['kubeha-kernel-ignored-option', KERNEL.replace('  - name: apiservers\n', '  - name: apiservers\n    retries: 3\n'), KERNEL, 'warning'],
  ['kubeha-kernel-ignored-option', KERNEL.replace('dataPlane: kernel }', 'dataPlane: kernel, maxConn: 1000 }'), KERNEL.replace('  - name: apiservers\n', '  - name: apiservers\n    retries: 3\n').replace('dataPlane: kernel', 'dataPlane: userspace'), 'warning'],
  ['kubeha-kernel-ignored-option', `${KERNEL}accessLog: { path: /var/log/kubeha/access.log }\n`, `${LOCAL_LB}accessLog: { path: /var/log/kubeha/access.log }\n`, 'warning'],
];

const lint = (yaml: string, host: HostFacts = HOST, path = 'kubeha.yaml') => lintFiles([lintFile(path, 'kubeha', yaml)], host);

test('kubeha.yaml: the base case is clean on its host', () => {
  assert.deepEqual(lint(GOOD).map(formatFinding), []);
});

for (const [code, failing, passing, severity] of CASES) {
  test(`lint ${code}: a minimal failing kubeha.yaml is flagged, a minimal passing one is not`, () => {
    const all = lint(failing);
    const found = all.filter((f) => f.code === code);
    assert.equal(found.length, 1, `expected one ${code} in: ${all.map(formatFinding).join('\n') || '(nothing)'}`);
    assert.equal(found[0]!.severity, severity);
    assert.match(formatFinding(found[0]!), new RegExp(`^kubeha\\.yaml:\\d+: ${severity} ${code}: .+; .+; .+$`));
    assert.ok(all.every((f) => !f.code.startsWith('KUBEHA_ERR_')), 'the failing case is a valid config');
    assert.deepEqual(lint(passing).filter((f) => f.code === code).map(formatFinding), []);
  });
}

test('lint kubeha.yaml: every kubeha rule has a case and is documented in docs/planner.md; findings point at the line of the key', () => {
  assert.ok(KUBEHA_RULES.length >= 9);
  assert.deepEqual(KUBEHA_RULES.map((r) => r.code).filter((c) => !CASES.some(([k]) => k === c)), []);
  const planner = readFileSync(fileURLToPath(new URL('../../../docs/planner.md', import.meta.url)), 'utf8');
  assert.deepEqual(KUBEHA_RULES.map((r) => r.code).filter((c) => !planner.includes(`| \`${c}\` |`)), []);
  const at = (yaml: string, code: string) => lint(yaml).find((f) => f.code === code)?.line;
  assert.equal(at(CASES[0]![1], 'kubeha-http-check-on-tls'), 5);
  assert.equal(at(bad('interface: eth0', 'interface: eth9'), 'kubeha-interface-missing'), 13);
  assert.equal(at(bad('vips: [10.0.0.100/24]', 'vips: [10.0.0.200/24, 10.9.0.100/24]'), 'kubeha-vip-outside-subnet'), 15);
  assert.match(lint(CASES[5]![1]).find((f) => f.code === 'kubeha-detection-time')!.what, /about 50s .*interval 10s \+ \(fall 5 - 1\) × interval = 50s/);
});

test('lint kubeha.yaml on the neutral host (check without --host, lint --no-host): the rules that need the host say nothing', () => {
  const hostRules = new Set(['kubeha-missing-file', 'kubeha-script-not-executable', 'kubeha-interface-missing', 'kubeha-vip-outside-subnet']);
  for (const [code, failing] of CASES.filter(([c]) => hostRules.has(c))) assert.deepEqual(lint(failing, NEUTRAL_HOST).map(formatFinding), [], code);
  assert.equal(lint(bad('bind: 0.0.0.0:16443', 'bind: 0.0.0.0:6443'), NEUTRAL_HOST).length, 0, 'whether 10.0.0.11 is this host is a host fact');
  const loop = LOCAL_LB.replace('10.0.0.12:6443', '127.0.0.1:6443');
  assert.deepEqual(lint(loop, NEUTRAL_HOST).map((f) => f.code), ['kubeha-bind-apiserver-port'], 'a loopback server is on this host anywhere');
  assert.deepEqual(lint(CASES[0]![1], NEUTRAL_HOST).map((f) => f.code), ['kubeha-http-check-on-tls'], 'the rest still runs');
});

test('detectKind: kubeha.yaml by name, or by its top-level sections', () => {
  assert.equal(detectKind('/etc/kubeha/kubeha.yaml', ''), 'kubeha');
  assert.equal(detectKind('kubeha-vrrp.yml', ''), 'kubeha');
  assert.equal(detectKind('lb.yaml', GOOD), 'kubeha');
  assert.equal(detectKind('only-vrrp.yaml', 'vrrp:\n  instances: []\n'), 'kubeha');
  assert.equal(detectKind('kubelet.kubeconfig', 'apiVersion: v1\nkind: Config\n'), 'kubeconfig');
  assert.equal(detectKind('notes.yaml', 'a: 1\n'), undefined);
});

/** Many mistakes of every kind: YAML-valid, but schema, references, HA rules and host facts all wrong. */
const MANY = `frontends:
  - name: apiserver
    bind: 0.0.0.0:6443
    backend: apiserver
    maxconn: 100
  - name: apiserver
    bind: 0.0.0.0:6443
    backend: apiservers
backends:
  - name: apiservers
    balance: roundrobbin
    connectTimeout: 3
    idleTimeout: 30s
    healthCheck: { type: http, path: /readyz, interval: 10s, fall: 5, caFile: /etc/kubeha/missing-ca.crt, bearerTokenFile: /etc/kubeha/missing-token }
    servers:
      - { name: m1, address: 10.0.0.11:6443 }
      - { name: m1, address: 10.0.0.12 }
  - name: spare
    servers:
      - { name: m3, address: 10.0.0.13:6443 }
admin:
  bind: 0.0.0.0:9000
vrrp:
  instances:
    - name: VI_1
      interface: eth0
      virtualRouterId: 51
      version: 3
      authPass: secret
      vips: [192.168.77.5/24]
      track: { backends: [apiserverz], scripts: [{ name: s, command: /usr/local/bin/nope.sh, weight: -20 }], interfaces: [eth9] }
      notify: { master: /etc/kubeha/notify-missing.sh }
`;
/** Every mistake of MANY fixed, the lines kept where they are. */
const FIXES: [string, string][] = [
  ['backend: apiserver\n', 'backend: apiservers\n'], ['maxconn: 100', 'maxConn: 100'], ['- name: apiserver\n    bind: 0.0.0.0:6443\n    backend: apiservers', '- name: spare\n    bind: 0.0.0.0:6444\n    backend: spare'],
  ['bind: 0.0.0.0:6443', 'bind: 0.0.0.0:16443'], ['roundrobbin', 'roundrobin'], ['connectTimeout: 3', 'connectTimeout: 3s'], ['idleTimeout: 30s', 'idleTimeout: 1h'],
  ['type: http, path: /readyz, interval: 10s, fall: 5, caFile: /etc/kubeha/missing-ca.crt, bearerTokenFile: /etc/kubeha/missing-token', 'type: https, path: /readyz, interval: 1s, fall: 2, caFile: /etc/kubeha/ca.crt, bearerTokenFile: /etc/kubeha/token'],
  ['{ name: m1, address: 10.0.0.12 }', '{ name: m1, address: 10.0.0.12:6443 }'], ['{ name: m1, address: 10.0.0.12:6443 }', '{ name: m2, address: 10.0.0.12:6443 }'], ['      - { name: m3, address: 10.0.0.13:6443 }\n', '      - { name: m3, address: 10.0.0.13:6443 }\n    healthCheck: { type: https }\n'],
  ['bind: 0.0.0.0:9000', 'bind: 127.0.0.1:9000'], ['authPass: secret', 'preempt: true'], ['192.168.77.5/24', '10.0.0.100/24'], ['apiserverz', 'apiservers'],
  ['nope.sh', 'ok.sh'], ['[eth9]', '[eth0]'], ['/etc/kubeha/notify-missing.sh', '/usr/local/bin/ok.sh'],
];
const fixed = (which: (i: number) => boolean) => FIXES.reduce((text, [from, to], i) => {
  if (!which(i)) return text;
  assert.ok(text.includes(from), from);
  return text.replace(from, to);
}, MANY);
const located = (findings: Finding[]) => findings.map((f) => `${f.line} ${f.code}`);

test('every problem in one pass: schema, references, HA rules and host facts together; fixing what was shown reveals nothing new', () => {
  const first = lint(MANY);
  assert.deepEqual(located(first), [
    '4 KUBEHA_ERR_CONFIG_UNKNOWN_BACKEND',
    '5 KUBEHA_ERR_CONFIG_UNKNOWN_KEY',
    '6 KUBEHA_ERR_CONFIG_DUPLICATE_NAME',
    '7 KUBEHA_ERR_CONFIG_DUPLICATE_NAME',
    '7 kubeha-bind-apiserver-port',
    '11 KUBEHA_ERR_CONFIG_TYPE',
    '12 KUBEHA_ERR_CONFIG_TYPE',
    '13 kubeha-short-idle-timeout',
    '14 kubeha-http-check-on-tls',
    '14 kubeha-detection-time',
    '14 kubeha-missing-file',
    '14 kubeha-missing-file',
    '17 KUBEHA_ERR_CONFIG_DUPLICATE_NAME',
    '17 KUBEHA_ERR_CONFIG_ADDRESS',
    '18 KUBEHA_ERR_CONFIG_UNUSED_BACKEND',
    '18 kubeha-tcp-only-check',
    '22 KUBEHA_ERR_CONFIG_ADMIN_TOKEN',
    '29 KUBEHA_ERR_CONFIG_VRRP',
    '30 kubeha-vip-outside-subnet',
    '31 KUBEHA_ERR_CONFIG_UNKNOWN_BACKEND',
    '31 kubeha-script-not-executable',
    '31 kubeha-interface-missing',
    '32 kubeha-script-not-executable',
  ]);
  // Fix only the schema problems (the ones kubeha check reported alone before): nothing new comes up.
  const schemaOnly = lint(fixed((i) => [1, 4, 5, 8].includes(i)));
  const before = new Set(located(first));
  assert.deepEqual(located(schemaOnly).filter((l) => !before.has(l)), []);
  assert.equal(schemaOnly.length, first.length - 4);
  assert.deepEqual(lint(fixed(() => true)).map(formatFinding), [], 'all fixed: clean');
});

test('a refused value does not make the rules judge its default: a typo of type is no tcp-only check', () => {
  const typo = lint(bad('type: https', 'type: htps'));
  assert.deepEqual(typo.map((f) => f.code), ['KUBEHA_ERR_CONFIG_TYPE']);
  assert.match(typo[0]!.fix, /did you mean "https"\?/);
  const misspeltKey = lint(bad('type: https', 'typ: http'));
  assert.deepEqual(misspeltKey.map((f) => f.code), ['KUBEHA_ERR_CONFIG_UNKNOWN_KEY']);
  const idle = lint(bad('  - name: apiservers\n', '  - name: apiservers\n    idleTimeout: 30\n'));
  assert.deepEqual(idle.map((f) => [f.code, f.what]), [['KUBEHA_ERR_CONFIG_TYPE', '"backends[0].idleTimeout": a duration needs a unit: write 30s (or 30000ms)']]);
});

function workspace(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('kubeha check: schema problems, references and rule errors in one run (exit 1); warnings alone exit 0; --host adds this machine', async (t) => {
  const dir = workspace(t);
  const many = join(dir, 'many.yaml');
  writeFileSync(many, MANY);
  const r = await runWithStreams((out, err) => checkCommand(many, {}, out, err));
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`^${many}:5:5: unknown key "maxconn" in frontends\\[0\\]; did you mean "maxConn"\\? \\[KUBEHA_ERR_CONFIG_UNKNOWN_KEY\\]$`, 'm'));
  assert.match(r.err, new RegExp(`^${many}:12:21: "backends\\[0\\]\\.connectTimeout": a duration needs a unit: write 3s \\(or 3000ms\\) \\[KUBEHA_ERR_CONFIG_TYPE\\]$`, 'm'));
  assert.match(r.err, new RegExp(`^${many}:14: error kubeha-http-check-on-tls: `, 'm'));
  assert.match(r.err, new RegExp(`^${many}:31:27: VRRP instance "VI_1" tracks backend "apiserverz"`, 'm'));
  assert.doesNotMatch(r.err, /kubeha-missing-file|kubeha-interface-missing|kubeha-script-not-executable/, 'no host facts without --host');
  assert.match(r.err, new RegExp(`^${many}: 13 problems, 3 warnings$`, 'm'));
  assert.equal(r.out, '');

  const warned = join(dir, 'kubeha.yaml');
  writeFileSync(warned, bad('type: https', 'type: tcp'));
  const w = await runWithStreams((out, err) => checkCommand(warned, {}, out, err));
  assert.equal(w.code, 0, w.err);
  assert.match(w.err, /:5: warning kubeha-tcp-only-check: /);
  assert.match(w.out, /: ok \(1 frontends, 1 backends, 2 servers, 1 vrrp instances\), 1 warning; not checked against this host/);

  // --host: the real machine, which has no interface of that name and no such CA
  const onHost = join(dir, 'host.yaml');
  writeFileSync(onHost, bad('interface: eth0', 'interface: kubeha-none0').replace('/etc/kubeha/ca.crt', join(dir, 'no-ca.crt')));
  const neutral = await runWithStreams((out, err) => checkCommand(onHost, {}, out, err));
  assert.equal(neutral.code, 0, neutral.err);
  const real = await runWithStreams((out, err) => checkCommand(onHost, { host: true }, out, err));
  assert.equal(real.code, 1);
  assert.match(real.err, /:5: error kubeha-missing-file: caFile .*no-ca\.crt does not exist on this host/);
  assert.match(real.err, /:13: error kubeha-interface-missing: VRRP instance VI_1 interface kubeha-none0, which this host does not have/);

  const missing = await runWithStreams((out, err) => checkCommand(join(dir, 'nope.yaml'), {}, out, err));
  assert.equal(missing.code, 1);
  assert.match(missing.err, /nope\.yaml:1:1: cannot read the config: .*ENOENT.* \[KUBEHA_ERR_CONFIG_READ\]/);
});

test('kubeha lint: accepts kubeha.yaml (loader problems are findings with their code); --no-host; a missing file is counted, not "0 file(s)"', async (t) => {
  const dir = workspace(t);
  const cfg = join(dir, 'kubeha.yaml');
  writeFileSync(cfg, MANY);
  const withHost = await runWithStreams((out, err) => lintCommand([cfg], {}, out, err));
  assert.equal(withHost.code, 1);
  assert.match(withHost.out, new RegExp(`^${cfg}:4: error KUBEHA_ERR_CONFIG_UNKNOWN_BACKEND: frontend "apiserver" uses backend "apiserver", which is not defined; .+; did you mean "apiservers"\\?$`, 'm'));
  assert.match(withHost.out, /kubeha-missing-file/);
  const noHost = await runWithStreams((out, err) => lintCommand([cfg], { host: false }, out, err));
  assert.equal(noHost.code, 1);
  assert.doesNotMatch(noHost.out, /kubeha-missing-file|kubeha-script-not-executable|kubeha-interface-missing/);
  assert.match(noHost.out, /^1 file\(s\): 13 error\(s\), 3 warning\(s\)$/m);

  const gone = await runWithStreams((out, err) => lintCommand(['/nonexistent.cfg'], {}, out, err));
  assert.equal(gone.code, 1);
  assert.match(gone.err, /^\/nonexistent\.cfg:1: error read: ENOENT/);
  assert.doesNotMatch(gone.out, /0 file\(s\)/);
  assert.equal(gone.out, '1 file(s) unreadable\n');
  const good = join(dir, 'lb.yaml');
  writeFileSync(good, LOCAL_LB);
  const mixed = await runWithStreams((out, err) => lintCommand([good, '/nonexistent.cfg'], { host: false }, out, err));
  assert.equal(mixed.code, 1, 'a file that could not be linted fails the run');
  assert.equal(mixed.out, '1 file(s): 0 error(s), 0 warning(s); 1 file(s) unreadable\n');
});

test('kubeha lint --no-host and kubeha check --host reach the commands through the CLI', (t) => {
  const dir = workspace(t);
  const cfg = join(dir, 'kubeha.yaml');
  writeFileSync(cfg, bad('interface: eth0', 'interface: kubeha-none0'));
  const cli = fileURLToPath(new URL('../../../bin/kubeha.js', import.meta.url));
  const kubeha = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const lintHost = kubeha('lint', cfg);
  assert.equal(lintHost.status, 1);
  assert.match(lintHost.stdout, /kubeha-interface-missing/);
  const lintNoHost = kubeha('lint', '--no-host', cfg);
  assert.equal(lintNoHost.status, 0, lintNoHost.stdout + lintNoHost.stderr);
  const check = kubeha('check', '--config', cfg);
  assert.equal(check.status, 0, check.stderr);
  const checkHost = kubeha('check', '--host', '--config', cfg);
  assert.equal(checkHost.status, 1);
  assert.match(checkHost.stderr, /kubeha-interface-missing/);
});

test('the examples and what kubeha render writes pass kubeha check without --host: no errors, no warnings', async () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const golden = join(root, 'test/plan/golden');
  const files = [
    ...readdirSync(join(root, 'examples')).filter((f) => /^kubeha.*\.yaml$/.test(f)).map((f) => join(root, 'examples', f)),
    ...readdirSync(golden, { recursive: true }).map(String).filter((p) => p.endsWith('kubeha.yaml')).map((p) => join(golden, p)),
  ];
  assert.ok(files.length >= 5);
  for (const f of files) {
    const r = await runWithStreams((out, err) => checkCommand(f, {}, out, err));
    assert.equal(r.err, '', f);
    assert.equal(r.code, 0, f);
  }
});
