import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectKind, lintFile, type HostFacts } from '../../src/lint/lint-model.js';
import { formatFinding, lintFiles } from '../../src/lint/lint.js';
import { RULES } from '../../src/lint/rules/index.js';

/** A host with /usr/local/bin/check_haproxy.sh (executable, greps ps) and eth0 in 10.0.0.0/24. */
const HOST: HostFacts = {
  exists: (p) => ['/usr/local/bin/ok.sh', '/usr/local/bin/noexec.sh', '/usr/local/bin/check_haproxy.sh', '/usr/local/bin/check_nginx.sh'].includes(p),
  executable: (p) => p !== '/usr/local/bin/noexec.sh',
  readFile: (p) => ({
    '/usr/local/bin/check_haproxy.sh': '#!/bin/sh\nps -ef | grep haproxy >/dev/null\n',
    '/usr/local/bin/check_nginx.sh': '#!/bin/sh\nkillall -0 nginx\n',
    '/usr/local/bin/ok.sh': '#!/bin/sh\nexec timeout 2 bash -c "</dev/tcp/127.0.0.1/16443"\n',
  } as Record<string, string>)[p],
  interfaceCidrs: (n) => (n === 'eth0' ? ['10.0.0.11/24'] : undefined),
  localAddresses: () => ['10.0.0.11'],
};

const ka = (body: string, extra = '') => `${extra}vrrp_script chk {\n  script "/usr/local/bin/ok.sh"\n  weight -30\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n${body}\n  virtual_ipaddress {\n    10.0.0.100/24\n  }\n  track_script {\n    chk\n  }\n}\n`;
const kaPeer = (priority: number, extra = '') => ka(`  priority ${priority}${extra}`);
const hap = (backend: string, defaults = 'defaults\n  mode tcp\n  timeout client 1h\n  timeout server 1h\n', frontend = 'frontend api\n  bind *:16443\n  default_backend apiservers\n') =>
  `${defaults}${frontend}backend apiservers\n${backend}`;
const GOOD_BACKEND = '  option httpchk GET /readyz\n  http-check expect status 200\n  server m1 10.0.0.11:6443 check check-ssl verify none\n';
const ngx = (server: string, http = '') => `events {}\nstream {\n  upstream apiservers {\n    server 10.0.0.11:6443;\n  }\n  server {\n    listen 16443;\n    proxy_pass apiservers;\n${server}  }\n}\n${http}`;
const AUTH = (pass: string) => `\n  authentication {\n    auth_type PASS\n    auth_pass ${pass}\n  }`;
const GOOD_NGX = '    proxy_timeout 1h;\n    proxy_connect_timeout 2s;\n';

type Files = [string, string][];
/** [rule code, files that must trigger it, files that must not]. */
const CASES: [string, Files, Files][] = [
  ['keepalived-undefined-track-script', [['keepalived.conf', ka('  priority 100').replace('vrrp_script chk', 'vrrp_script chk_lb')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-script-not-executable', [['keepalived.conf', ka('  priority 100').replace('ok.sh', 'missing.sh')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-script-not-executable', [['keepalived.conf', ka('  priority 100').replace('ok.sh', 'noexec.sh')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-bad-vip', [['keepalived.conf', ka('  priority 100').replace('10.0.0.100/24', '10.0.0.300/24')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-vip-outside-subnet', [['keepalived.conf', ka('  priority 100').replace('10.0.0.100/24', '10.9.0.100/24')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-equal-priority', [['a/keepalived.conf', kaPeer(100)], ['b/keepalived.conf', kaPeer(100)]], [['a/keepalived.conf', kaPeer(110)], ['b/keepalived.conf', kaPeer(100)]]],
  ['keepalived-weight-gap', [['a/keepalived.conf', kaPeer(150)], ['b/keepalived.conf', kaPeer(100)]], [['a/keepalived.conf', kaPeer(120)], ['b/keepalived.conf', kaPeer(100)]]],
  ['keepalived-weight-gap', [['keepalived.conf', ka('  priority 100\n  nopreempt').replace('state BACKUP', 'state MASTER')]], [['keepalived.conf', ka('  priority 100\n  nopreempt')]]],
  ['keepalived-auth-pass-length', [['keepalived.conf', ka('  priority 100\n  authentication {\n    auth_type PASS\n    auth_pass k8s-ha-secret\n  }')]], [['keepalived.conf', ka('  priority 100\n  authentication {\n    auth_type PASS\n    auth_pass k8sha\n  }')]]],
  ['keepalived-unicast-without-src', [['keepalived.conf', ka('  priority 100\n  unicast_peer {\n    10.0.0.12\n  }')]], [['keepalived.conf', ka('  priority 100\n  unicast_src_ip 10.0.0.11\n  unicast_peer {\n    10.0.0.12\n  }')]]],
  ['keepalived-duplicate-vrid', [['keepalived.conf', ka('  priority 100') + ka('  priority 100').replace('vrrp_script chk {\n  script "/usr/local/bin/ok.sh"\n  weight -30\n}\n', '').replace('VI_1', 'VI_2')]], [['keepalived.conf', ka('  priority 100') + ka('  priority 100').replace(/vrrp_script chk \{[^}]*\}\n/, '').replace('VI_1', 'VI_2').replace('virtual_router_id 51', 'virtual_router_id 52')]]],
  ['keepalived-script-greps-ps', [['keepalived.conf', ka('  priority 100').replace('ok.sh', 'check_haproxy.sh')]], [['keepalived.conf', ka('  priority 100').replace('ok.sh', 'check_nginx.sh')]]],
  ['keepalived-peer-mismatch', [['a/keepalived.conf', kaPeer(150)], ['b/keepalived.conf', kaPeer(100, '\n  advert_int 2')]], [['a/keepalived.conf', kaPeer(150)], ['b/keepalived.conf', kaPeer(100, '\n  advert_int 1')]]],
  ['keepalived-peer-mismatch', [['a/keepalived.conf', kaPeer(150)], ['b/keepalived.conf', kaPeer(100).replace('virtual_router_id 51', 'virtual_router_id 52')]], [['a/keepalived.conf', kaPeer(150)], ['b/keepalived.conf', kaPeer(100).replace('10.0.0.100/24', '10.0.0.101/24').replace('virtual_router_id 51', 'virtual_router_id 52')]]],
  ['keepalived-peer-mismatch', [['a/keepalived.conf', kaPeer(150, AUTH('s3cret'))], ['b/keepalived.conf', kaPeer(100, AUTH('other'))]], [['a/keepalived.conf', kaPeer(150, AUTH('s3cret'))], ['b/keepalived.conf', kaPeer(100, AUTH('s3cret'))]]],
  ['keepalived-peer-mismatch', [['a/keepalived.conf', ka('  priority 150', 'global_defs {\n  vrrp_version 3\n}\n')], ['b/keepalived.conf', kaPeer(100)]], [['a/keepalived.conf', ka('  priority 150', 'global_defs {\n  vrrp_version 2\n}\n')], ['b/keepalived.conf', kaPeer(100)]]],
  ['haproxy-mode-http', [['haproxy.cfg', hap(GOOD_BACKEND, 'defaults\n  mode http\n  timeout client 1h\n  timeout server 1h\n')]], [['haproxy.cfg', hap(GOOD_BACKEND)]]],
  ['haproxy-multiple-checks', [['haproxy.cfg', hap(`${GOOD_BACKEND}  option ssl-hello-chk\n`)]], [['haproxy.cfg', hap(GOOD_BACKEND)]]],
  ['haproxy-server-without-check', [['haproxy.cfg', hap('  option httpchk GET /readyz\n  server m1 10.0.0.11:6443\n')]], [['haproxy.cfg', hap(GOOD_BACKEND)]]],
  ['haproxy-tcp-only-check', [['haproxy.cfg', hap('  server m1 10.0.0.11:6443 check\n')]], [['haproxy.cfg', hap(GOOD_BACKEND)]]],
  ['haproxy-short-timeouts', [['haproxy.cfg', hap(GOOD_BACKEND, 'defaults\n  mode tcp\n  timeout client 20s\n  timeout server 20s\n')]], [['haproxy.cfg', hap(GOOD_BACKEND)]]],
  ['haproxy-httpchk-without-tls', [['haproxy.cfg', hap('  option httpchk GET /readyz\n  http-check expect status 200\n  server m1 10.0.0.11:6443 check\n')]], [['haproxy.cfg', hap(GOOD_BACKEND)]]],
  ['haproxy-httpchk-without-tls', [['haproxy.cfg', hap('  option httpchk GET /readyz\n  server m1 10.0.0.11:6443 check\n')]], [['haproxy.cfg', hap('  option httpchk GET /readyz\n  default-server check-ssl verify none\n  server m1 10.0.0.11:6443 check\n')]]],
  ['haproxy-bind-apiserver-port', [['haproxy.cfg', hap(GOOD_BACKEND, undefined, 'frontend api\n  bind *:6443\n  default_backend apiservers\n')]], [['haproxy.cfg', hap(GOOD_BACKEND)]]],
  ['nginx-proxy-timeout', [['nginx.conf', ngx('    proxy_connect_timeout 2s;\n')]], [['nginx.conf', ngx(GOOD_NGX)]]],
  ['nginx-connect-timeout', [['nginx.conf', ngx('    proxy_timeout 1h;\n')]], [['nginx.conf', ngx(GOOD_NGX)]]],
  ['nginx-http-upstream', [['nginx.conf', ngx(GOOD_NGX, 'http {\n  upstream api {\n    server 10.0.0.11:6443;\n  }\n}\n')]], [['nginx.conf', ngx(GOOD_NGX)]]],
  ['cross-vip-mismatch', [['keepalived.conf', ka('  priority 100')], ['kubelet.kubeconfig', 'apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.11:6443\n  name: c\n']],
    [['keepalived.conf', ka('  priority 100')], ['kubelet.kubeconfig', 'apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.100:16443\n  name: c\n']]],
  ['cross-vip-mismatch', [['keepalived.conf', ka('  priority 100')], ['haproxy.cfg', hap(GOOD_BACKEND, undefined, 'frontend api\n  bind 10.0.0.99:16443\n  default_backend apiservers\n')]], [['keepalived.conf', ka('  priority 100')], ['haproxy.cfg', hap(GOOD_BACKEND, undefined, 'frontend api\n  bind 10.0.0.100:16443\n  default_backend apiservers\n')]]],
  ['cross-check-script-target', [['keepalived.conf', ka('  priority 100').replace('ok.sh', 'check_nginx.sh')], ['haproxy.cfg', hap(GOOD_BACKEND)]], [['keepalived.conf', ka('  priority 100').replace('ok.sh', 'check_nginx.sh')], ['nginx.conf', ngx(GOOD_NGX)]]],
];

const run = (files: Files) => lintFiles(files.map(([p, text]) => lintFile(p, detectKind(p, text)!, text)), HOST);

for (const [code, failing, passing] of CASES) {
  test(`lint ${code}: a minimal failing config is flagged, a minimal passing one is not`, () => {
    const bad = run(failing).filter((f) => f.code === code);
    assert.ok(bad.length > 0, `expected ${code} in: ${run(failing).map(formatFinding).join('\n') || '(nothing)'}`);
    for (const f of bad) assert.match(formatFinding(f), new RegExp(`^\\S+:\\d+: (error|warning) ${code}: .+; .+; .+$`));
    const good = run(passing).filter((f) => f.code === code);
    assert.deepEqual(good.map(formatFinding), []);
  });
}

test('lint keepalived-peer-mismatch: v3 peers may differ in advert_int (a v3 backup adopts the master\'s); the password is never printed', () => {
  const v3 = 'global_defs {\n  vrrp_version 3\n}\n';
  const v3Pair = run([['a/keepalived.conf', ka('  priority 150\n  advert_int 1', v3)], ['b/keepalived.conf', ka('  priority 100\n  advert_int 2', v3)]]);
  assert.deepEqual(v3Pair.filter((f) => f.code === 'keepalived-peer-mismatch').map(formatFinding), []);
  const withoutAuth = run([['a/keepalived.conf', kaPeer(150, AUTH('s3cret'))], ['b/keepalived.conf', kaPeer(100)]]).filter((f) => f.code === 'keepalived-peer-mismatch');
  assert.equal(withoutAuth.length, 1);
  assert.match(formatFinding(withoutAuth[0]!), /different authentication: none, the peer PASS \(password\)/);
  assert.doesNotMatch(formatFinding(withoutAuth[0]!), /s3cret/);
});

test('lint: every rule has a case; unbalanced braces are a parse finding', () => {
  assert.deepEqual(RULES.map((r) => r.code).filter((c) => !CASES.some(([k]) => k === c)), []);
  const unbalanced = run([['nginx.conf', 'stream {\n  server {\n']]);
  assert.equal(unbalanced[0]?.code, 'parse');
});

test('lint: what kubeha render writes passes kubeha lint (every LB host and kubeconfig together)', () => {
  const golden = fileURLToPath(new URL('../../../test/plan/golden/', import.meta.url));
  const installed: HostFacts = { ...HOST, exists: () => true, executable: () => true, readFile: () => undefined, interfaceCidrs: () => undefined, localAddresses: () => [] };
  for (const stack of ['haproxy-dedicated', 'nginx-local']) {
    const files = readdirSync(join(golden, stack), { recursive: true }).map(String)
      .filter((p) => /(haproxy\.cfg|nginx\.conf|keepalived\.conf|\.kubeconfig)$/.test(p))
      .map((p) => lintFile(join(stack, p), detectKind(p, '')!, readFileSync(join(golden, stack, p), 'utf8')));
    assert.ok(files.length >= 4, stack);
    assert.deepEqual(lintFiles(files, installed).map(formatFinding), [], stack);
  }
});
