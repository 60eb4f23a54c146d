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
  assert.equal(be.healthCheck.type, 'tcp');
  assert.equal(be.connectTimeout, 10_000);
  const vi = config.vrrp!.instances[0]!;
  assert.deepEqual([vi.version, vi.advertInterval, vi.priority, vi.preempt, vi.authPass, vi.vips], [2, 1000, 250, false, 'ceb1b3ec', ['192.168.1.188/32']]);
  assert.deepEqual(vi.track.backends, ['kubernetes-apiserver'], 'the haproxy check script becomes backend tracking');
  assert.deepEqual(vi.track.scripts.map((s) => [s.name, s.command, s.weight, s.interval]), [['check_disk', '/usr/local/bin/check_disk.sh', -50, 10_000]]);
  assert.equal(vi.notify.master, '/etc/keepalived/notify.sh master');
  assert.equal(vi.garpMasterDelay, 10_000, 'garp_master_delay: the second GARP burst');
  assert.deepEqual(vi.track.backends, ['kubernetes-apiserver']);
  for (const fragment of ['checked the local load balancer', 'state MASTER', 'TCP connects only', 'listen stats has no servers']) {
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
