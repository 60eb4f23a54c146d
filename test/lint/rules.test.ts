import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectKind, lintFile, type HostFacts } from '../../src/lint/lint-model.js';
import { formatFinding, lintFiles } from '../../src/lint/lint.js';
import { RULES } from '../../src/lint/rules/index.js';

/** A host with /usr/local/bin/check_haproxy.sh (executable, greps ps) and eth0 in 10.0.0.0/24 and fd00::/64 (and its link-local fe80::/64). */
const HOST: HostFacts = {
  exists: (p) => ['/usr/local/bin/ok.sh', '/usr/local/bin/noexec.sh', '/usr/local/bin/check_haproxy.sh', '/usr/local/bin/check_nginx.sh'].includes(p),
  executable: (p) => p !== '/usr/local/bin/noexec.sh',
  readFile: (p) => ({
    '/usr/local/bin/check_haproxy.sh': '#!/bin/sh\nps -ef | grep haproxy >/dev/null\n',
    '/usr/local/bin/check_nginx.sh': '#!/bin/sh\nkillall -0 nginx\n',
    '/usr/local/bin/ok.sh': '#!/bin/sh\nexec timeout 2 bash -c "</dev/tcp/127.0.0.1/16443"\n',
  } as Record<string, string>)[p],
  interfaceCidrs: (n) => (n === 'eth0' ? ['10.0.0.11/24', 'fd00::11/64', 'fe80::11/64'] : undefined),
  localAddresses: () => ['10.0.0.11'],
};

const ka = (body: string, extra = '') => `${extra}vrrp_script chk {\n  script "/usr/local/bin/ok.sh"\n  weight -30\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n${body}\n  virtual_ipaddress {\n    10.0.0.100/24\n  }\n  track_script {\n    chk\n  }\n}\n`;
const kaPeer = (priority: number, extra = '') => ka(`  priority ${priority}${extra}`);
const hap = (backend: string, defaults = 'defaults\n  mode tcp\n  timeout client 1h\n  timeout server 1h\n', frontend = 'frontend api\n  bind *:16443\n  default_backend apiservers\n') =>
  `${defaults}${frontend}backend apiservers\n${backend}`;
const GOOD_BACKEND = '  option httpchk GET /readyz\n  http-check expect status 200\n  server m1 10.0.0.11:6443 check check-ssl verify none\n';
/** The backend of kubeadm's HA guide (docs/ha-considerations.md): the ssl-hello-chk after the httpchk is what runs. */
const KUBEADM_BACKEND = '  option httpchk GET /healthz\n  http-check expect status 200\n  mode tcp\n  option ssl-hello-chk\n  server m1 10.0.0.11:6443 check\n';
const ngx = (server: string, http = '') => `events {}\nstream {\n  upstream apiservers {\n    server 10.0.0.11:6443;\n  }\n  server {\n    listen 16443;\n    proxy_pass apiservers;\n${server}  }\n}\n${http}`;
/** A keepalived virtual_server on the VIP of ka() with `realServers` (IP last octets), each checked by `check`. */
const lvs = (realServers: number[], { port = 6443, method = 'DR', check = 'SSL_GET {\n      url {\n        path /readyz\n        status_code 200\n      }\n    }' } = {}) =>
  `virtual_server 10.0.0.100 ${port} {\n  lvs_sched rr\n  lvs_method ${method}\n  protocol TCP\n${realServers.map((n) => `  real_server 10.0.0.${n} ${port} {\n    ${check}\n  }\n`).join('')}}\n`;
const kaLvs = (...args: Parameters<typeof lvs>) => ka('  priority 100') + lvs(...args);
const AUTH = (pass: string) => `\n  authentication {\n    auth_type PASS\n    auth_pass ${pass}\n  }`;
const GOOD_NGX = '    proxy_timeout 1h;\n    proxy_connect_timeout 2s;\n';

type Files = [string, string][];
/** An IPv6 instance VI_6 on eth0 with the VRID of ka()'s (IPv4 and IPv6 VRID spaces are separate). */
const KA6 = 'vrrp_instance VI_6 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    fd00::100/64\n  }\n}\n';
const SYNC = (...members: string[]) => `vrrp_sync_group G {\n  group {\n${members.map((m) => `    ${m}\n`).join('')}  }\n}\n`;
/** [rule code, files that must trigger it, files that must not]. */
const CASES: [string, Files, Files][] = [
  ['keepalived-vip-family-mismatch', [['keepalived.conf', ka('  priority 100').replace('10.0.0.100/24', '10.0.0.100/24\n    fd00::100/64')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-sync-group-unknown-instance', [['keepalived.conf', ka('  priority 100') + SYNC('VI_1', 'VI_9')]], [['keepalived.conf', ka('  priority 100') + SYNC('VI_1')]]],
  ['keepalived-dual-stack-without-sync-group', [['keepalived.conf', ka('  priority 100') + KA6]], [['keepalived.conf', ka('  priority 100') + KA6 + SYNC('VI_1', 'VI_6')]]],
  ['keepalived-duplicate-vrid', [['keepalived.conf', KA6 + KA6.replace('VI_6', 'VI_7')]], [['keepalived.conf', ka('  priority 100') + KA6 + SYNC('VI_1', 'VI_6')]]],
  ['keepalived-undefined-track-script', [['keepalived.conf', ka('  priority 100').replace('vrrp_script chk', 'vrrp_script chk_lb')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-script-not-executable', [['keepalived.conf', ka('  priority 100').replace('ok.sh', 'missing.sh')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-script-not-executable', [['keepalived.conf', ka('  priority 100').replace('ok.sh', 'noexec.sh')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-bad-vip', [['keepalived.conf', ka('  priority 100').replace('10.0.0.100/24', '10.0.0.300/24')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-vip-outside-subnet', [['keepalived.conf', ka('  priority 100').replace('10.0.0.100/24', '10.9.0.100/24')]], [['keepalived.conf', ka('  priority 100')]]],
  ['keepalived-vip-outside-subnet', [['keepalived.conf', KA6.replace('fd00::100/64', 'fd01::100/64')]], [['keepalived.conf', KA6]]],
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
  // the one model of haproxy's check (src/lint/haproxy-check.ts): the last check option runs, a defaults' one is overridden, not doubled
  ['haproxy-multiple-checks', [['haproxy.cfg', hap(KUBEADM_BACKEND)]], [['haproxy.cfg', hap('  option ssl-hello-chk\n  server m1 10.0.0.11:6443 check\n', 'defaults\n  mode tcp\n  option httpchk GET /readyz\n  timeout client 1h\n  timeout server 1h\n')]]],
  ['haproxy-httpchk-without-tls', [['haproxy.cfg', hap('  option ssl-hello-chk\n  option httpchk GET /healthz\n  server m1 10.0.0.11:6443 check\n')]], [['haproxy.cfg', hap(KUBEADM_BACKEND)]]],
  ['haproxy-httpchk-without-tls', [['haproxy.cfg', hap('  option httpchk\n  http-check connect\n  http-check send meth GET uri /readyz\n  server m1 10.0.0.11:6443 check check-ssl verify none\n')]], [['haproxy.cfg', hap('  option httpchk\n  http-check connect ssl\n  http-check send meth GET uri /readyz\n  server m1 10.0.0.11:6443 check verify none\n')]]],
  ['haproxy-httpchk-without-tls', [['haproxy.cfg', hap('  option httpchk GET /readyz\n  server m1 10.0.0.11:6443 check\n')]], [['haproxy.cfg', hap('  option httpchk GET /healthz\n  server m1 10.0.0.11:6443 check port 10256\n')]]],
  ['haproxy-tcp-only-check', [['haproxy.cfg', hap('  option ssl-hello-chk\n  server m1 10.0.0.11:6443 check\n')]], [['haproxy.cfg', hap('  option ssl-hello-chk\n  option httpchk GET /readyz\n  server m1 10.0.0.11:6443 check check-ssl verify none\n')]]],
  ['haproxy-tcp-only-check', [['haproxy.cfg', hap('  option tcp-check\n  server m1 10.0.0.11:6443 check check-ssl verify none\n')]], [['haproxy.cfg', hap('  option tcp-check\n  tcp-check connect ssl\n  tcp-check send GET\\ /readyz\\ HTTP/1.0\\r\\n\\r\\n\n  tcp-check expect string 200\n  server m1 10.0.0.11:6443 check\n')]]],
  ['haproxy-server-without-check', [['haproxy.cfg', hap('  option httpchk GET /readyz\n  server m1 10.0.0.11:6443 check-ssl verify none\n')]], [['haproxy.cfg', hap('  option httpchk GET /readyz\n  server m1 10.0.0.11:6443 check-ssl verify none\n', 'defaults\n  mode tcp\n  timeout client 1h\n  timeout server 1h\n  default-server check\n')]]],
  // keepalived.conf(5): the weight on the track_script entry wins; a positive weight that is lost on failure counts like a negative one
  ['keepalived-weight-gap', [['a/keepalived.conf', kaPeer(120).replace('    chk\n', '    chk weight -5\n')], ['b/keepalived.conf', kaPeer(100)]], [['a/keepalived.conf', kaPeer(120)], ['b/keepalived.conf', kaPeer(100)]]],
  ['keepalived-weight-gap', [['a/keepalived.conf', kaPeer(150).replace('weight -30', 'weight 10')], ['b/keepalived.conf', kaPeer(100).replace('weight -30', 'weight 10')]], [['a/keepalived.conf', kaPeer(150).replace('weight -30', 'weight 60')], ['b/keepalived.conf', kaPeer(100).replace('weight -30', 'weight 60')]]],
  ['nginx-proxy-timeout', [['nginx.conf', ngx('    proxy_connect_timeout 2s;\n')]], [['nginx.conf', ngx(GOOD_NGX)]]],
  ['nginx-connect-timeout', [['nginx.conf', ngx('    proxy_timeout 1h;\n')]], [['nginx.conf', ngx(GOOD_NGX)]]],
  ['nginx-http-upstream', [['nginx.conf', ngx(GOOD_NGX, 'http {\n  upstream api {\n    server 10.0.0.11:6443;\n  }\n}\n')]], [['nginx.conf', ngx(GOOD_NGX)]]],
  ['keepalived-lvs-single-real-server', [['keepalived.conf', kaLvs([11])]], [['keepalived.conf', kaLvs([11, 12])]]],
  ['keepalived-lvs-nat-same-subnet', [['keepalived.conf', kaLvs([11, 12], { method: 'NAT' })]], [['keepalived.conf', kaLvs([11, 12])]]],
  ['keepalived-lvs-nat-same-subnet', [['keepalived.conf', kaLvs([11, 12]).replace('lvs_method DR', 'lb_kind NAT')]], [['keepalived.conf', kaLvs([11, 12], { method: 'NAT' }).replace(/10\.0\.0\.1([12]) 6443/g, '10.9.0.1$1 6443')]]],
  ['keepalived-lvs-tcp-only-check', [['keepalived.conf', kaLvs([11, 12], { check: 'TCP_CHECK {\n      connect_timeout 3\n    }' })]], [['keepalived.conf', kaLvs([11, 12])]]],
  ['haproxy-apiserver-insecure-port', [['haproxy.cfg', hap(GOOD_BACKEND.replace(':6443', ':8080'))]], [['haproxy.cfg', hap(GOOD_BACKEND)]]],
  ['nginx-http-upstream', [['conf.d/k8s.conf', 'upstream api {\n  server 10.0.0.11:6443;\n}\nserver {\n  listen 16443;\n  location / {\n    proxy_pass https://api;\n  }\n}\n']], [['nginx.conf', ngx(GOOD_NGX)]]],
  ['nginx-http-upstream', [['nginx.conf', ngx(GOOD_NGX, 'http {\n  server {\n    location / {\n      proxy_pass https://10.0.0.11:6443/;\n    }\n  }\n}\n')]], [['nginx.conf', ngx(GOOD_NGX, 'http {\n  server {\n    location / {\n      proxy_pass http://10.0.0.5:3000/;\n    }\n  }\n}\n')]]],
  ['nginx-apiserver-insecure-port', [['nginx.conf', ngx(GOOD_NGX).replace('10.0.0.11:6443', '10.0.0.11:8080')]], [['nginx.conf', ngx(GOOD_NGX)]]],
  ['nginx-apiserver-insecure-port', [['nginx.conf', ngx(GOOD_NGX).replace('proxy_pass apiservers', 'proxy_pass 10.0.0.11:8080')]], [['nginx.conf', ngx(GOOD_NGX).replace('proxy_pass apiservers', 'proxy_pass 10.0.0.11:6443')]]],
  ['cross-vip-mismatch', [['keepalived.conf', ka('  priority 100')], ['kubelet.kubeconfig', 'apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.11:6443\n  name: c\n']],
    [['keepalived.conf', ka('  priority 100')], ['kubelet.kubeconfig', 'apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.100:16443\n  name: c\n']]],
  ['cross-vip-mismatch', [['keepalived.conf', ka('  priority 100')], ['haproxy.cfg', hap(GOOD_BACKEND, undefined, 'frontend api\n  bind 10.0.0.99:16443\n  default_backend apiservers\n')]], [['keepalived.conf', ka('  priority 100')], ['haproxy.cfg', hap(GOOD_BACKEND, undefined, 'frontend api\n  bind 10.0.0.100:16443\n  default_backend apiservers\n')]]],
  ['cross-check-script-target', [['keepalived.conf', ka('  priority 100').replace('ok.sh', 'check_nginx.sh')], ['haproxy.cfg', hap(GOOD_BACKEND)]], [['keepalived.conf', ka('  priority 100').replace('ok.sh', 'check_nginx.sh')], ['nginx.conf', ngx(GOOD_NGX)]]],
  ['cross-lvs-stacked-balancer', [['keepalived.conf', kaLvs([11, 12], { port: 16443 })], ['haproxy.cfg', hap(GOOD_BACKEND)]], [['keepalived.conf', kaLvs([11, 12], { port: 16443 })], ['haproxy.cfg', hap(GOOD_BACKEND, undefined, 'frontend api\n  bind 10.0.0.11:16443\n  default_backend apiservers\n')]]],
  ['cross-lvs-stacked-balancer', [['keepalived.conf', kaLvs([11, 12], { port: 16443 })], ['nginx.conf', ngx(GOOD_NGX)]], [['keepalived.conf', kaLvs([11, 12])], ['nginx.conf', ngx(GOOD_NGX)]]],
  // node-local LBs (kubespray's nginx on every worker; a haproxy on 127.0.0.1)
  ['nginx-local-lb-passive-only', [['nginx.conf', ngx(GOOD_NGX).replace('listen 16443;', 'listen 127.0.0.1:6443;')]], [['nginx.conf', ngx(GOOD_NGX)]]],
  ['nginx-local-lb-passive-only', [['nginx.conf', ngx(GOOD_NGX).replace('listen 16443;', 'listen localhost:6443;\n    listen [::1]:6443;')]], [['nginx.conf', ngx(GOOD_NGX).replace('listen 16443;', 'listen 127.0.0.1:6443;\n    listen 10.0.0.21:6443;')]]],
  ['haproxy-local-lb-without-check', [['haproxy.cfg', hap('  option httpchk GET /readyz\n  server m1 10.0.0.11:6443\n', undefined, 'frontend local\n  bind 127.0.0.1:6443\n  default_backend apiservers\n')]], [['haproxy.cfg', hap(GOOD_BACKEND, undefined, 'frontend local\n  bind 127.0.0.1:6443\n  default_backend apiservers\n')]]],
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

test('lint: a node-local haproxy without checks is reported once, by its own rule, not also as haproxy-server-without-check', () => {
  const codes = run([['haproxy.cfg', hap('  option httpchk GET /readyz\n  server m1 10.0.0.11:6443\n', undefined, 'frontend local\n  bind 127.0.0.1:6443\n  default_backend apiservers\n')]]).map((f) => f.code);
  assert.ok(codes.includes('haproxy-local-lb-without-check'));
  assert.ok(!codes.includes('haproxy-server-without-check'));
});

test('lint keepalived-peer-mismatch: v3 peers may differ in advert_int (a v3 backup adopts the master\'s); the password is never printed', () => {
  const v3 = 'global_defs {\n  vrrp_version 3\n}\n';
  const v3Pair = run([['a/keepalived.conf', ka('  priority 150\n  advert_int 1', v3)], ['b/keepalived.conf', ka('  priority 100\n  advert_int 2', v3)]]);
  assert.deepEqual(v3Pair.filter((f) => f.code === 'keepalived-peer-mismatch').map(formatFinding), []);
  const withoutAuth = run([['a/keepalived.conf', kaPeer(150, AUTH('s3cret'))], ['b/keepalived.conf', kaPeer(100)]]).filter((f) => f.code === 'keepalived-peer-mismatch');
  assert.equal(withoutAuth.length, 1);
  assert.match(formatFinding(withoutAuth[0]!), /different authentication: none, the peer PASS \(password\)/);
  assert.doesNotMatch(formatFinding(withoutAuth[0]!), /s3cret/);
});

/** The rules of kubeha.yaml have their cases in test/lint/kubeha-rules.test.ts, which checks them; every other rule has one here. */
const isKubehaRule = (code: string) => code.startsWith('kubeha-');

test('lint: every rule has a case (the kubeha-* ones in kubeha-rules.test.ts); unbalanced braces are a parse finding', () => {
  assert.deepEqual(RULES.map((r) => r.code).filter((c) => !isKubehaRule(c) && !CASES.some(([k]) => k === c)), []);
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

/** The conf.d snippet a guide ships, included inside http { } by the main nginx.conf (as the official image does). */
const GUIDE_NGINX_SNIPPET = `upstream k8smaster {
    server 192.168.0.2:8080;
    server 192.168.0.3:8080;
    server 192.168.0.4:8080;
}
server {
    listen 8888;
    location / {
        proxy_pass http://k8smaster;
    }
}
`;
/** The same masters behind a stream snippet on the secure port, as it should be. */
const GOOD_STREAM_SNIPPET = `upstream k8smaster {
    server 192.168.0.2:6443;
    server 192.168.0.3:6443;
    server 192.168.0.4:6443;
}
server {
    listen 8888;
    proxy_pass k8smaster;
    proxy_timeout 1h;
    proxy_connect_timeout 2s;
}
`;
const located = (findings: ReturnType<typeof lintFiles>) => findings.map((f) => `${f.file}:${f.line} ${f.code}`);

test('lint an nginx conf.d snippet: http context by default, both the http-upstream and the insecure-port rules fire', () => {
  assert.equal(detectKind('conf.d/k8s.conf', GUIDE_NGINX_SNIPPET), 'nginx', 'recognised by its content, whatever its name');
  const findings = lintFiles([lintFile('conf.d/mynginx.conf', 'nginx', GUIDE_NGINX_SNIPPET)], HOST);
  assert.deepEqual(located(findings), ['conf.d/mynginx.conf:1 nginx-http-upstream', 'conf.d/mynginx.conf:2 nginx-apiserver-insecure-port']);
  assert.match(formatFinding(findings[0]!), /upstream k8smaster of apiservers is in an http snippet/);
  assert.match(formatFinding(findings[1]!), /^conf\.d\/mynginx\.conf:2: error nginx-apiserver-insecure-port: http upstream k8smaster sends to port 8080 of 192\.168\.0\.2, 192\.168\.0\.3, 192\.168\.0\.4; .*no authentication.*cluster-admin.*; proxy the secure port in a stream \{ \} block/);
});

test('lint an nginx snippet with nginxContext stream: read as stream (no http finding), the insecure port still fires; 6443 in stream is clean', () => {
  const asStream = lintFiles([lintFile('conf.d/mynginx.conf', 'nginx', GUIDE_NGINX_SNIPPET, { nginxContext: 'stream' })], HOST);
  assert.deepEqual(located(asStream), ['conf.d/mynginx.conf:2 nginx-apiserver-insecure-port']);
  assert.match(asStream[0]!.what, /^stream upstream k8smaster/);
  assert.deepEqual(lintFiles([lintFile('conf.d/k8s.conf', 'nginx', GOOD_STREAM_SNIPPET, { nginxContext: 'stream' })], HOST).map(formatFinding), []);
  const fullFile = `events {}\nstream {\n${GOOD_STREAM_SNIPPET}}\n`;
  assert.deepEqual(run([['nginx.conf', fullFile]]).map(formatFinding), [], 'a stream block of the same is clean without the option');
  assert.deepEqual(lintFiles([lintFile('nginx.conf', 'nginx', fullFile, { nginxContext: 'http' })], HOST).map(formatFinding), [], 'the option does not override blocks the file writes');
});

test('kubeha lint --nginx-context: the option reaches the rules through the CLI; a bad value is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-lint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'conf.d'));
  const snippet = join(dir, 'conf.d', 'mynginx.conf');
  writeFileSync(snippet, GUIDE_NGINX_SNIPPET);
  const good = join(dir, 'conf.d', 'k8s.conf');
  writeFileSync(good, GOOD_STREAM_SNIPPET);
  const cli = fileURLToPath(new URL('../../../bin/kubeha.js', import.meta.url));
  const kubeha = (...args: string[]) => spawnSync(process.execPath, [cli, 'lint', ...args], { encoding: 'utf8' });
  /** `LINE CODE` of each finding printed for `file`. */
  const printed = (stdout: string, file: string) => stdout.split('\n').flatMap((l) => {
    const m = l.startsWith(`${file}:`) ? /^:(\d+): (?:error|warning) ([\w-]+):/.exec(l.slice(file.length)) : null;
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
  const byDefault = kubeha(snippet);
  assert.equal(byDefault.status, 1);
  assert.deepEqual(printed(byDefault.stdout, snippet), ['1 nginx-http-upstream', '2 nginx-apiserver-insecure-port']);
  const asStream = kubeha('--nginx-context', 'stream', snippet);
  assert.equal(asStream.status, 1);
  assert.deepEqual(printed(asStream.stdout, snippet), ['2 nginx-apiserver-insecure-port']);
  assert.match(asStream.stdout, /:2: error nginx-apiserver-insecure-port: stream upstream k8smaster/);
  const clean = kubeha('--nginx-context', 'stream', good);
  assert.equal(clean.status, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /1 file\(s\): 0 error\(s\), 0 warning\(s\)/);
  const bad = kubeha('--nginx-context', 'tcp', snippet);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /Allowed choices are http, stream/);
});

/** A guide's LVS pair: on both VRRP nodes, a virtual_server of the VIP with the first master only, next to a haproxy on the same port. */
const GUIDE_LVS = `global_defs {
   router_id LVS_DEVEL
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.168.0.100
    }
}
virtual_server 192.168.0.100 443 {
    delay_loop 6
    lvs_sched wlc
    lvs_method NAT
    persistence_timeout 1800
    protocol TCP
    real_server 192.168.0.2 443 {
        weight 1
        TCP_CHECK {
            connect_port 443
        }
    }
}
`;
const guideHaproxy = (bind: string) => `defaults
    mode tcp
    timeout client 1h
    timeout server 1h
frontend k8s
    bind ${bind}
    default_backend masters
backend masters
    option httpchk GET /readyz
    server m1 192.168.0.2:6443 check check-ssl verify none
    server m2 192.168.0.3:6443 check check-ssl verify none
`;
/** The LB host of the guide: eth0 in 192.168.0.0/24 (the VIP is written without a prefix, as guides do). */
const GUIDE_HOST: HostFacts = { ...HOST, interfaceCidrs: (n) => (n === 'eth0' ? ['192.168.0.11/24'] : undefined), localAddresses: () => ['192.168.0.11'] };
const LVS_CODES = ['keepalived-lvs-single-real-server', 'keepalived-lvs-nat-same-subnet', 'keepalived-lvs-tcp-only-check', 'cross-lvs-stacked-balancer'];
const lvsFindings = (files: Files, host = GUIDE_HOST) => lintFiles(files.map(([p, text]) => lintFile(p, detectKind(p, text)!, text)), host).filter((f) => LVS_CODES.includes(f.code));

test('lint a guide\'s keepalived virtual_server: single real server, stacked on haproxy, NAT inside the VIP subnet, TCP_CHECK only', () => {
  for (const bind of ['*:443', '192.168.0.100:443']) {
    const found = lvsFindings([['keepalived.conf', GUIDE_LVS], ['haproxy.cfg', guideHaproxy(bind)]]);
    assert.deepEqual(located(found).sort(), [
      'keepalived.conf:14 cross-lvs-stacked-balancer',
      'keepalived.conf:14 keepalived-lvs-single-real-server',
      'keepalived.conf:17 keepalived-lvs-nat-same-subnet',
      'keepalived.conf:22 keepalived-lvs-tcp-only-check',
    ], bind);
    const stacked = found.find((f) => f.code === 'cross-lvs-stacked-balancer')!;
    assert.match(stacked.what, new RegExp(`haproxy frontend k8s \\(haproxy\\.cfg:6\\) also serves on ${bind === '*:443' ? '\\*' : '192\\.168\\.0\\.100'}:443`));
    for (const f of found) assert.match(formatFinding(f), /^keepalived\.conf:\d+: (error|warning) [\w-]+: .+; .+; .+$/);
  }
  assert.equal(lvsFindings([['keepalived.conf', GUIDE_LVS], ['haproxy.cfg', guideHaproxy('192.168.0.11:443')]]).filter((f) => f.code === 'cross-lvs-stacked-balancer').length, 0, 'another address of the port is no stack');
  assert.deepEqual(located(lvsFindings([['keepalived.conf', GUIDE_LVS]], { ...GUIDE_HOST, interfaceCidrs: () => undefined })),
    ['keepalived.conf:14 keepalived-lvs-single-real-server', 'keepalived.conf:22 keepalived-lvs-tcp-only-check'], 'alone: no stack; the VIP\'s subnet unknown (no prefix, interface not here): no NAT guess');
});

test('lint keepalived virtual_server: a passing counterpart, old keyword names, and the fwmark/group forms do not crash', () => {
  const good = GUIDE_LVS.replace('443 {', '6443 {').replace('lvs_method NAT', 'lvs_method DR').replace(/    real_server[^]*?\n    }\n/, [2, 3, 4].map((n) =>
    `    real_server 192.168.0.${n} 6443 {\n        SSL_GET {\n            url {\n                path /readyz\n                status_code 200\n            }\n        }\n    }\n`).join(''));
  assert.deepEqual(lvsFindings([['keepalived.conf', good], ['haproxy.cfg', guideHaproxy('*:16443')]]).map(formatFinding), []);
  const old = GUIDE_LVS.replace('lvs_sched wlc', 'lb_algo wlc').replace('lvs_method NAT', 'lb_kind NAT');
  assert.deepEqual(located(lvsFindings([['keepalived.conf', old]])).filter((l) => l.includes('nat')), ['keepalived.conf:17 keepalived-lvs-nat-same-subnet']);
  const forms = `${GUIDE_LVS}virtual_server_group k8s {\n    192.168.0.100 6443\n}\nvirtual_server group k8s {\n    real_server 192.168.0.2 6443 {\n        TCP_CHECK {\n        }\n    }\n}\nvirtual_server fwmark 1 {\n    real_server 192.168.0.2 6443 {\n    }\n}\n`;
  assert.ok(run([['keepalived.conf', forms]]).every((f) => f.code !== 'parse'));
});
