import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatProblem, parseConfigText } from '../../src/config/load.js';
import { importConfigs, importedYaml } from '../../src/lint/importer.js';
import { detectKind, lintFile, type HostFacts } from '../../src/lint/lint-model.js';

const HOST: HostFacts = { exists: () => true, executable: () => true, readFile: () => undefined, interfaceCidrs: () => undefined, localAddresses: () => [] };

/** The kind of pair the install guides build: keepalived v2 with PASS and a check script, haproxy in tcp mode. */
const GUIDE_KEEPALIVED = `! Configuration File for keepalived
global_defs {
   router_id LVS_DEVEL
}
vrrp_script check_haproxy {
    script "killall -0 haproxy"
    interval 3
    weight -2
    fall 10
    rise 2
}
vrrp_script check_disk {
    script "/usr/local/bin/check_disk.sh"
    interval 10
    weight -50
}
vrrp_instance VI_1 {
    state MASTER
    interface ens33
    virtual_router_id 51
    priority 250
    nopreempt
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass ceb1b3ec013d66163d6ab
    }
    virtual_ipaddress {
        192.168.1.188
    }
    track_script {
        check_haproxy
        check_disk
    }
    notify_master "/etc/keepalived/notify.sh master"
    garp_master_delay 10
}
`;
const GUIDE_HAPROXY = `global
    log /dev/log local0
    daemon
defaults
    mode                    tcp
    log                     global
    timeout connect         10s
    timeout client          1m
    timeout server          1m
frontend kubernetes-apiserver
    mode                 tcp
    bind                 *:16443
    default_backend      kubernetes-apiserver
backend kubernetes-apiserver
    mode        tcp
    balance     roundrobin
    server      master01 192.168.1.11:6443 check
    server      master02 192.168.1.12:6443 check
    server      master03 192.168.1.13:6443 check
listen stats
    bind            *:1080
    mode            http
    stats uri       /admin?stats
`;
const GUIDE_NGINX = `user nginx;
worker_processes auto;
events { worker_connections 1024; }
stream {
    upstream k8s-apiserver {
        server 192.168.1.11:6443 weight=5 max_fails=3 fail_timeout=30s;
        server 192.168.1.12:6443 weight=5 max_fails=3 fail_timeout=30s;
    }
    server {
        listen 16443;
        proxy_pass k8s-apiserver;
    }
}
http {
    server { listen 80; }
}
`;

function imported(files: [string, string][]) {
  const r = importConfigs({ files: files.map(([p, t]) => lintFile(p, detectKind(p, t)!, t)), host: HOST });
  const yaml = importedYaml(r, files.map(([p]) => p));
  const check = parseConfigText(yaml, 'imported.yaml');
  assert.ok(check.ok, `${yaml}\n${check.ok ? '' : check.problems.map(formatProblem).join('\n')}`);
  return { ...r, yaml, config: check.config };
}

test('import: a guide-style keepalived + haproxy pair becomes a kubeha.yaml that passes kubeha check', () => {
  const { config, notes, yaml } = imported([['keepalived.conf', GUIDE_KEEPALIVED], ['haproxy.cfg', GUIDE_HAPROXY]]);
  assert.deepEqual(config.frontends.map((f) => [f.name, f.bind, f.backend]), [['kubernetes-apiserver', '0.0.0.0:16443', 'kubernetes-apiserver']], 'the stats listen (mode http, no servers) is not a frontend');
  const be = config.backends[0]!;
  assert.deepEqual(be.servers.map((s) => s.address), ['192.168.1.11:6443', '192.168.1.12:6443', '192.168.1.13:6443']);
  assert.deepEqual([be.healthCheck.type, be.healthCheck.path], ['https', '/readyz'], 'a TCP-only check of apiservers becomes HTTPS /readyz');
  assert.equal(be.healthCheck.timeout, 2000, 'without timeout check, haproxy times a check out after inter (2s)');
  assert.equal(be.connectTimeout, 10_000);
  const vi = config.vrrp!.instances[0]!;
  assert.deepEqual([vi.version, vi.advertInterval, vi.priority, vi.preempt, vi.authPass, vi.vips], [2, 1000, 250, false, 'ceb1b3ec', ['192.168.1.188/32']]);
  assert.deepEqual(vi.track.backends, ['kubernetes-apiserver'], 'the haproxy check script becomes backend tracking');
  assert.equal(vi.track.backendWeight, -2, 'with its weight -2: a priority drop, not FAULT');
  assert.deepEqual(vi.track.scripts.map((s) => [s.name, s.command, s.weight, s.interval, s.timeout]), [['check_disk', '/usr/local/bin/check_disk.sh', -50, 10_000, 10_000]], 'keepalived\'s script timeout defaults to its interval');
  assert.equal(vi.notify.master, '/etc/keepalived/notify.sh master');
  assert.equal(vi.garpMasterDelay, 10_000, 'garp_master_delay: the second GARP burst');
  assert.deepEqual(vi.track.backends, ['kubernetes-apiserver']);
  for (const fragment of ['checked the local load balancer', 'the priority drops by 2 (track.backendWeight -2)', 'state MASTER', 'checked its apiservers with TCP connects, which pass while', 'listen stats has no servers']) {
    assert.ok(notes.some((n) => n.includes(fragment)), `a note about ${fragment}: ${notes.join(' | ')}`);
  }
  assert.match(yaml, /^# NOTE: /m, 'notes are comments in the output');
});

test('import: nginx stream + keepalived; the http block is noted, the upstream gets /readyz checks', () => {
  const { config, notes } = imported([['keepalived.conf', GUIDE_KEEPALIVED], ['nginx.conf', GUIDE_NGINX]]);
  assert.deepEqual(config.frontends.map((f) => f.bind), ['0.0.0.0:16443']);
  const be = config.backends[0]!;
  assert.equal(be.name, 'k8s-apiserver');
  assert.deepEqual([be.healthCheck.type, be.healthCheck.path, be.passiveFailures], ['https', '/readyz', 3]);
  assert.deepEqual(be.servers.map((s) => s.weight), [5, 5]);
  assert.ok(notes.some((n) => n.includes('http { } block')));
});

test('import round trip: what kubeha render writes for haproxy imports back into an equivalent kubeha config', () => {
  const dir = fileURLToPath(new URL('../../../test/plan/golden/haproxy-dedicated/lb2/', import.meta.url));
  const { config } = imported([['keepalived.conf', readFileSync(`${dir}keepalived.conf`, 'utf8')], ['haproxy.cfg', readFileSync(`${dir}haproxy.cfg`, 'utf8')]]);
  const vi = config.vrrp!.instances[0]!;
  assert.deepEqual([vi.virtualRouterId, vi.priority, vi.unicastSrcIp, vi.unicastPeers, vi.track.backends], [77, 140, '192.168.10.12', ['192.168.10.11'], ['apiservers']]);
  assert.deepEqual([config.backends[0]!.healthCheck.type, config.backends[0]!.healthCheck.path], ['https', '/readyz']);
});

/** keepalived with a VRRP instance and an LVS virtual_server of three masters checked by SSL_GET /readyz. */
const LVS_KEEPALIVED = `vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.168.0.100/24
    }
}
virtual_server 192.168.0.100 6443 {
    delay_loop 6
    lvs_sched wlc
    lvs_method NAT
    persistence_timeout 1800
    protocol TCP
    sorry_server 192.168.0.9 6443
    real_server 192.168.0.2 6443 {
        weight 2
        SSL_GET {
            url {
                path /readyz
                status_code 200
            }
            connect_port 6443
            connect_timeout 3
        }
    }
    real_server 192.168.0.3 6443 {
        SSL_GET {
            url {
                path /readyz
                status_code 200
            }
            connect_port 6443
            connect_timeout 3
        }
    }
    real_server 192.168.0.4 6443 {
        SSL_GET {
            url {
                path /readyz
                status_code 200
            }
            connect_port 6443
            connect_timeout 3
        }
    }
}
`;

test('import: a keepalived virtual_server with three SSL_GET /readyz real servers becomes a frontend, a backend and an https check', () => {
  const { config, notes } = imported([['keepalived.conf', LVS_KEEPALIVED]]);
  assert.deepEqual(config.frontends.map((f) => [f.name, f.bind, f.backend]), [['lvs-192.168.0.100-6443', '192.168.0.100:6443', 'lvs-192.168.0.100-6443']]);
  const be = config.backends[0]!;
  assert.equal(be.balance, 'leastconn', 'wlc');
  assert.deepEqual(be.servers.map((s) => [s.address, s.weight]), [['192.168.0.2:6443', 2], ['192.168.0.3:6443', 1], ['192.168.0.4:6443', 1]], 'weights kept, keepalived\'s default 1 written out');
  assert.deepEqual([be.healthCheck.type, be.healthCheck.path, be.healthCheck.expectStatus, be.healthCheck.timeout, be.healthCheck.interval, be.healthCheck.port],
    ['https', '/readyz', [200], 3000, 6000, undefined]);
  assert.equal(config.vrrp!.instances[0]!.vips[0], '192.168.0.100/24');
  for (const fragment of ['persistence_timeout 1800', 'lvs_method NAT', 'sorry_server 192.168.0.9 6443', 'delay_loop 6 became healthCheck.interval 6s']) {
    assert.ok(notes.some((n) => n.includes(fragment)), `a note about ${fragment}: ${notes.join(' | ')}`);
  }
});

test('import: virtual_server checks and schedulers: TCP_CHECK → tcp, HTTP_GET to the TLS port → https with a note, old keywords, what is left out', () => {
  const withCheck = (check: string, extra = '') => imported([['keepalived.conf', LVS_KEEPALIVED.replace(/SSL_GET \{[^]*?connect_timeout 3\n {8}\}/g, check).replace('lvs_sched wlc', extra)]]);
  const tcp = withCheck('TCP_CHECK {\n            connect_port 6443\n        }', 'lb_algo rr');
  assert.deepEqual([tcp.config.backends[0]!.healthCheck.type, tcp.config.backends[0]!.healthCheck.path, tcp.config.backends[0]!.balance], ['https', '/readyz', 'roundrobin'], 'a TCP_CHECK of an apiserver port becomes HTTPS /readyz');
  assert.ok(tcp.notes.some((n) => n.includes('checked its apiservers with TCP_CHECK (TCP connects)')), tcp.notes.join(' | '));
  const http = withCheck('HTTP_GET {\n            url {\n                path /readyz\n            }\n        }', 'lvs_sched sh');
  assert.deepEqual([http.config.backends[0]!.healthCheck.type, http.config.backends[0]!.balance], ['https', 'source']);
  assert.ok(http.notes.some((n) => n.includes('HTTP_GET checks port 6443 with plain HTTP')), http.notes.join(' | '));
  const healthz = withCheck('HTTP_GET {\n            url {\n                path /healthz\n            }\n            connect_port 10256\n        }', 'lvs_sched lblc');
  assert.deepEqual([healthz.config.backends[0]!.healthCheck.type, healthz.config.backends[0]!.healthCheck.port, healthz.config.backends[0]!.balance], ['http', 10256, 'roundrobin'], 'plain HTTP to a plain port stays http');
  assert.ok(healthz.notes.some((n) => n.includes('lvs_sched lblc has no kubeha equivalent')));
  const forms = imported([['keepalived.conf', `${LVS_KEEPALIVED}virtual_server fwmark 1 {\n    real_server 192.168.0.2 6443 {\n    }\n}\nvirtual_server_group g {\n    192.168.0.100 443\n}\n`]]);
  assert.equal(forms.config.frontends.length, 1);
  assert.ok(forms.notes.some((n) => n.startsWith('virtual_server fwmark 1 was not imported')));
});

test('import: an LVS NAT virtual_server with rr or sh becomes a dataPlane: kernel frontend that kubeha check accepts; wlc and DR stay in user space, with why', () => {
  const rr = imported([['keepalived.conf', LVS_KEEPALIVED.replace('lvs_sched wlc', 'lvs_sched rr')]]);
  assert.equal(rr.config.frontends[0]!.dataPlane, 'kernel');
  assert.ok(rr.notes.some((n) => n.includes('lvs_method NAT became dataPlane: kernel')), rr.notes.join(' | '));
  assert.match(rr.yaml, /dataPlane: kernel/, 'and kubeha check accepts it (imported() checks)');
  const byDefault = imported([['keepalived.conf', LVS_KEEPALIVED.replace('lvs_sched wlc', 'lvs_sched sh').replace('    lvs_method NAT\n', '')]]);
  assert.equal(byDefault.config.frontends[0]!.dataPlane, 'kernel');
  assert.equal(byDefault.config.backends[0]!.balance, 'source', 'sh: jhash of the client address in the kernel');
  assert.ok(byDefault.notes.some((n) => n.includes("lvs_method NAT (keepalived's default) became dataPlane: kernel")));
  const wlc = imported([['keepalived.conf', LVS_KEEPALIVED]]);
  assert.equal(wlc.config.frontends[0]!.dataPlane, 'userspace');
  assert.ok(wlc.notes.some((n) => n.includes('keeps no connection counts for leastconn')), wlc.notes.join(' | '));
  const dr = imported([['keepalived.conf', LVS_KEEPALIVED.replace('lvs_sched wlc', 'lvs_sched rr').replace('lvs_method NAT', 'lvs_method DR')]]);
  assert.equal(dr.config.frontends[0]!.dataPlane, 'userspace');
  assert.ok(dr.notes.some((n) => n.includes('lvs_method DR has no kubeha equivalent')));
});

test('import: a virtual_server stacked on the haproxy frontend of its port is left out with a note', () => {
  const haproxy = GUIDE_HAPROXY.replace('*:16443', '*:6443');
  const { config, notes } = imported([['keepalived.conf', LVS_KEEPALIVED], ['haproxy.cfg', haproxy]]);
  assert.deepEqual(config.frontends.map((f) => f.bind), ['0.0.0.0:6443']);
  assert.ok(notes.some((n) => n.includes('virtual_server 192.168.0.100 6443 was not imported: the kubernetes-apiserver frontend already serves 0.0.0.0:6443')), notes.join(' | '));
  const besides = imported([['keepalived.conf', LVS_KEEPALIVED], ['haproxy.cfg', GUIDE_HAPROXY]]);
  assert.deepEqual(besides.config.frontends.map((f) => f.bind), ['0.0.0.0:16443', '192.168.0.100:6443']);
});

test('import: haproxy httpchk without check-ssl to the apiserver port becomes an https check, with a note', () => {
  const plain = GUIDE_HAPROXY.replace('    balance     roundrobin\n', '    balance     roundrobin\n    option httpchk GET /readyz\n');
  const { config, notes } = imported([['haproxy.cfg', plain]]);
  assert.deepEqual([config.backends[0]!.healthCheck.type, config.backends[0]!.healthCheck.path], ['https', '/readyz']);
  assert.ok(notes.some((n) => n.includes('haproxy backend kubernetes-apiserver checked port 6443 with plain HTTP GET /readyz, but that port speaks only TLS: every check failed')), notes.join(' | '));
});

test('import: a dual-stack keepalived (an IPv4 and an IPv6 instance in a vrrp_sync_group) becomes two instances with one syncGroup', () => {
  const text = `vrrp_sync_group APISERVER {
    group {
        VI_4
        VI_6
    }
}
vrrp_instance VI_4 {
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.0.0.100/24
    }
}
vrrp_instance VI_6 {
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.1
    unicast_src_ip fd00::11
    unicast_peer {
        fd00::12
    }
    virtual_ipaddress {
        fd00::100
        10.0.0.101/24
    }
}
`;
  const { config, notes } = imported([['keepalived.conf', text]]);
  const [v4, v6] = config.vrrp!.instances;
  assert.deepEqual([v4!.name, v4!.version, v4!.syncGroup], ['VI_4', 2, 'APISERVER']);
  assert.deepEqual([v6!.name, v6!.version, v6!.advertInterval, v6!.vips, v6!.unicastPeers, v6!.unicastSrcIp, v6!.syncGroup],
    ['VI_6', 3, 100, ['fd00::100/128'], ['fd00::12'], 'fd00::11', 'APISERVER'], 'IPv6 means VRRPv3; an address without a prefix is a /128');
  assert.ok(notes.some((n) => n.includes('VI_6: VIPs of the other address family')), notes.join('\n'));
});

test('import: haproxy\'s dual-stack pair `bind *:P` + `bind :::P v6only` becomes one [::]:P frontend; an IPv6 address keeps its brackets', () => {
  const cfg = (binds: string) => `defaults\n    mode tcp\n    timeout client 1h\n    timeout server 1h\n    timeout connect 5s\nfrontend apiserver\n${binds}    default_backend apiservers\nbackend apiservers\n    option httpchk GET /readyz\n    http-check expect status 200\n    server m1 10.0.0.11:6443 check check-ssl verify none\n`;
  const pair = imported([['haproxy.cfg', cfg('    bind *:16443\n    bind :::16443 v6only\n')]]);
  assert.deepEqual(pair.config.frontends.map((f) => [f.name, f.bind]), [['apiserver', '[::]:16443']]);
  assert.ok(pair.notes.some((n) => n.includes('became one dual-stack bind')), pair.notes.join('\n'));
  const v6 = imported([['haproxy.cfg', cfg('    bind 10.0.0.100:16443\n    bind fd00::100:16443\n')]]);
  assert.deepEqual(v6.config.frontends.map((f) => [f.name, f.bind]), [['apiserver-16443', '10.0.0.100:16443'], ['apiserver-16443-6', '[fd00::100]:16443']]);
});
