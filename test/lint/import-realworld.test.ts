// Real-world haproxy, nginx and keepalived configs (test/lint/fixtures/) → kubeha import → the
// real config loader → the imported health check, run with kubeha's own probes against the
// stand-in apiserver, passes (and fails once /readyz fails). The lint rules, which read the same
// model of haproxy's checks (src/lint/haproxy-check.ts), agree with the import's notes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { formatProblem, parseConfigText } from '../../src/config/load.js';
import { healthCheckSchema, type Config, type HealthCheckConfig } from '../../src/config/schema.js';
import { buildProbe } from '../../src/health/probes.js';
import type { ProbeOutcome } from '../../src/health/probe.js';
import { importConfigs, importedYaml } from '../../src/lint/importer.js';
import { formatFinding, lintFiles } from '../../src/lint/lint.js';
import { detectKind, lintFile, type HostFacts, type LintFile } from '../../src/lint/lint-model.js';
import { SimApiserver } from '../../src/sim/apiserver.js';
import { selfSignedCert } from '../../src/sim/self-signed.js';

const FIXTURES = fileURLToPath(new URL('../../../test/lint/fixtures/', import.meta.url));
const HOST: HostFacts = { exists: () => true, executable: () => true, readFile: () => undefined, interfaceCidrs: () => undefined, localAddresses: () => [] };

const parsed = (path: string, text = readFileSync(join(FIXTURES, path), 'utf8')): LintFile => lintFile(path, detectKind(path, text)!, text);

/** Imports the fixtures and loads the result as `kubeha check` would. */
function importFixtures(files: LintFile[]): { notes: string[]; raw: Record<string, unknown>; config: Config } {
  const r = importConfigs({ files, host: HOST });
  const yaml = importedYaml(r, files.map((f) => f.path));
  const check = parseConfigText(yaml, 'imported.yaml');
  assert.ok(check.ok, `${yaml}\n${check.ok ? '' : check.problems.map(formatProblem).join('\n')}`);
  return { notes: r.notes, raw: r.config, config: check.config };
}

let sim: SimApiserver;
let simPort = 0;
before(async () => {
  sim = new SimApiserver({ name: 'm1', host: '127.0.0.1', port: 0, tls: await selfSignedCert('import-realworld'), shutdownDelayMs: 0, watchGraceMs: 0, failReadyz: false, latencyMs: 0, blackhole: false });
  simPort = await sim.start();
});
after(() => sim.stop());

/**
 * The imported config with every server moved to the stand-in (127.0.0.1:its port, a check port of
 * its own too), the check's type, path and TLS settings kept, loaded again with the config loader.
 */
function onStandIn(raw: Record<string, unknown>): Config {
  const copy = structuredClone(raw) as { backends: { healthCheck: { port?: number }; servers: { address: string }[] }[] };
  for (const b of copy.backends) {
    delete b.healthCheck.port;
    for (const s of b.servers) s.address = `127.0.0.1:${simPort}`;
  }
  const loaded = parseConfigText(stringify(copy), 'on-stand-in.yaml');
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.problems.map(formatProblem).join('\n'));
  return loaded.config;
}

/** Runs `check` with kubeha's probe code against `address`. */
async function probe(check: HealthCheckConfig, address: string): Promise<ProbeOutcome> {
  const i = address.lastIndexOf(':');
  return (await buildProbe(check))({ host: address.slice(0, i), port: check.port ?? Number(address.slice(i + 1)) }, AbortSignal.timeout(3000));
}

const CHECK_RULES = ['haproxy-multiple-checks', 'haproxy-httpchk-without-tls', 'haproxy-tcp-only-check', 'haproxy-server-without-check'];

/** [name, fixture files, healthCheck fields expected, notes expected, the check lint findings expected]. */
const CASES: [string, string[], Partial<HealthCheckConfig>, RegExp[], string[]][] = [
  ["kubeadm's HA guide: httpchk GET /healthz, then ssl-hello-chk, servers with plain check", ['kubeadm-guide/keepalived.conf', 'kubeadm-guide/haproxy.cfg'],
    { type: 'https', path: '/readyz', expectStatus: [200], timeout: 12_000, interval: 2000 },
    [/"option httpchk GET \/healthz" \(line 47\) then "option ssl-hello-chk" \(line 50\): haproxy runs only the last check option, so it checked with TLS handshakes \(option ssl-hello-chk\), and its "http-check expect status 200" was ignored/,
      /checked its apiservers with TLS handshakes \(option ssl-hello-chk\), which pass while an apiserver cannot reach etcd/,
      /while no backend can serve, the priority drops by 2 \(track\.backendWeight -2\), as keepalived's weight -2 did, instead of FAULT/,
      /a healthy peer whose priority is above 101 - 2 = 99/],
    ['haproxy-multiple-checks', 'haproxy-tcp-only-check']],
  ['HAProxy 2.2+: http-check connect ssl, http-check send meth GET uri /readyz, default-server in defaults', ['haproxy-2.2/haproxy.cfg'],
    { type: 'https', path: '/readyz', host: 'kubernetes.default.svc', interval: 3000, downInterval: 5000, rise: 2, fall: 2, timeout: 6000 }, [], []],
  ['option ssl-hello-chk only', ['ssl-hello-chk-only/haproxy.cfg'],
    { type: 'https', path: '/readyz', rise: 2, fall: 3 }, [/checked its apiservers with TLS handshakes \(option ssl-hello-chk\)/], ['haproxy-tcp-only-check']],
  ['ssl-hello-chk, then httpchk GET /healthz with check-ssl: the httpchk runs', ['httpchk-after-ssl-hello/haproxy.cfg'],
    { type: 'https', path: '/readyz', interval: 2000 }, [/haproxy runs only the last check option, so it checked with HTTPS GET \/healthz$/, /checked at \/readyz, not \/healthz/], ['haproxy-multiple-checks']],
  ['httpchk GET /healthz in plain HTTP to 6443', ['plain-httpchk/haproxy.cfg'],
    { type: 'https', path: '/readyz', host: 'kubernetes' },
    [/checked port 6443 with plain HTTP GET \/healthz, but that port speaks only TLS: every check failed/, /set healthCheck\.path: \/healthz to keep the old path/], ['haproxy-httpchk-without-tls']],
  ['option tcp-check with default-server timings', ['tcp-check-default-server/haproxy.cfg'],
    { type: 'https', path: '/readyz', interval: 10_000, downInterval: 5000, rise: 2, fall: 2, timeout: 10_000 }, [/checked its apiservers with TCP connects, which pass/], ['haproxy-tcp-only-check']],
  ['nginx stream upstream (no active checks)', ['nginx-stream/nginx.conf'],
    { type: 'https', path: '/readyz' }, [/nginx upstream kubernetes had no active health checks/], []],
];

for (const [name, paths, expected, notes, findings] of CASES) {
  test(`import real world: ${name} → a valid config whose check passes against the stand-in apiserver`, async () => {
    const files = paths.map((p) => parsed(p));
    const { notes: got, raw, config } = importFixtures(files);
    const hc = config.backends[0]!.healthCheck;
    assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, hc[k as keyof HealthCheckConfig]])), expected, JSON.stringify(hc));
    assert.notEqual(hc.type, 'http', 'never plain HTTP to an apiserver port');
    for (const n of notes) assert.ok(got.some((x) => n.test(x)), `a note matching ${n}:\n${got.join('\n')}`);
    if (notes.length === 0) assert.deepEqual(got.filter((x) => /check/.test(x)), [], 'a faithful import needs no note about its check');

    const moved = onStandIn(raw);
    for (const b of moved.backends) {
      for (const s of b.servers) {
        const r = await probe(b.healthCheck, s.address);
        assert.ok(r.ok, `${b.name} ${s.address}: ${r.detail}`);
      }
    }
    sim.setReadyzFailing(true);
    try {
      const r = await probe(moved.backends[0]!.healthCheck, moved.backends[0]!.servers[0]!.address);
      assert.equal(r.ok, false, 'the imported check sees an apiserver that is not ready');
    } finally {
      sim.setReadyzFailing(false);
    }

    const lint = lintFiles(files, HOST).filter((f) => CHECK_RULES.includes(f.code));
    assert.deepEqual([...new Set(lint.map((f) => f.code))].sort(), [...findings].sort(), lint.map(formatFinding).join('\n'));
  });
}

test('import real world: what the old import wrote for the kubeadm guide fails (plain http) or misses shutdowns (/healthz)', async () => {
  const address = `127.0.0.1:${simPort}`;
  const plain = await probe(healthCheckSchema.parse({ type: 'http', path: '/healthz' }), address);
  assert.equal(plain.ok, false, `plain HTTP to the TLS port: ${plain.detail}`);
  sim.setReadyzFailing(true);
  try {
    assert.equal((await probe(healthCheckSchema.parse({ type: 'https', path: '/healthz' }), address)).ok, true, '/healthz stays 200 while /readyz fails');
    assert.equal((await probe(healthCheckSchema.parse({ type: 'https', path: '/readyz' }), address)).ok, false);
  } finally {
    sim.setReadyzFailing(false);
  }
});

test("import real world: the lint of the kubeadm guide's haproxy.cfg says what haproxy runs, never that it checks with plain HTTP", () => {
  const found = lintFiles([parsed('kubeadm-guide/haproxy.cfg')], HOST).map(formatFinding);
  const multiple = found.find((f) => f.includes('haproxy-multiple-checks'));
  assert.match(multiple ?? '', /haproxy runs only the last, ssl-hello-chk, so it checks with TLS handshakes \(option ssl-hello-chk\); "option httpchk GET \/healthz" is silently replaced, and its http-check lines \(48\) are ignored/);
  assert.deepEqual(found.filter((f) => /plain HTTP/.test(f)), []);
});

test('import real world keepalived: weight -2, weight 0, positive weights, reverse, weighted track_interface', () => {
  const guide = importFixtures([parsed('kubeadm-guide/keepalived.conf'), parsed('kubeadm-guide/haproxy.cfg')]).config.vrrp!.instances[0]!;
  assert.deepEqual([guide.priority, guide.track.backends, guide.track.backendWeight, guide.track.scripts], [101, ['apiserverbackend'], -2, []], 'weight -2: a priority drop, not FAULT');

  const fault = importFixtures([parsed('keepalived-weights/fault.conf'), parsed('nginx-stream/nginx.conf')]);
  const fi = fault.config.vrrp!.instances[0]!;
  assert.deepEqual([fi.priority, fi.track.backends, fi.track.backendWeight], [100, ['kubernetes'], 0], 'weight 0: FAULT');
  assert.ok(fault.notes.some((n) => n.includes("the instance goes to FAULT, as keepalived's weight 0 did")), fault.notes.join('\n'));

  const pos = importFixtures([parsed('keepalived-weights/positive.conf'), parsed('tcp-check-default-server/haproxy.cfg')]);
  const pi = pos.config.vrrp!.instances[0]!;
  assert.deepEqual([pi.priority, pi.track.backends, pi.track.backendWeight], [103, ['be-apiserver'], -2], 'weight +2 on the LB check: 2 higher while it passes, the same priorities');
  assert.deepEqual(pi.track.scripts.map((s) => [s.name, s.command, s.weight, s.interval, s.timeout, s.rise, s.fall]), [
    ['chk_disk', '/usr/local/bin/disk-ok.sh', 20, 10_000, 5000, 1, 1], // the track_script entry's weight 20 wins over the script's 10
    ['chk_maint', '! /usr/bin/test -e /etc/keepalived/maintenance', 5, 1000, 1000, 1, 3], // weight -5 reverse: +5 while the original fails
    ['if-eth1', 'grep -qx 1 /sys/class/net/eth1/carrier', -20, 1000, 1000, 1, 1],
  ]);
  assert.deepEqual(pi.track.interfaces, ['eth0']);
  for (const n of [/kubeha has priority 103 and track\.backendWeight -2, the same priorities \(103 while the backends serve, 101 while none can\)/, /"weight -5 reverse".*with weight 5: the same priority \+5 while the original fails/, /track_interface eth1 weight -20: kubeha's track\.interfaces can only FAULT/]) {
    assert.ok(pos.notes.some((x) => n.test(x)), `a note matching ${n}:\n${pos.notes.join('\n')}`);
  }
});

test('import real world keepalived: a weight too small for the priority gap is noted, as kubeha lint reports it', () => {
  const text = readFileSync(join(FIXTURES, 'kubeadm-guide/keepalived.conf'), 'utf8');
  const files = [parsed('a/keepalived.conf', text.replace('priority 101', 'priority 150')), parsed('b/keepalived.conf', text.replace('priority 101', 'priority 100').replace('state MASTER', 'state BACKUP'))];
  const { notes } = importConfigs({ files, host: HOST });
  assert.ok(notes.some((n) => n.includes('VI_1: priority 150 is 50 above its lowest peer, but a failing check_apiserver (weight -2) lowers it by only 2: the VIP never moves away')), notes.join('\n'));
  const lint = lintFiles(files, HOST).filter((f) => f.code === 'keepalived-weight-gap').map(formatFinding);
  assert.equal(lint.length, 1, lint.join('\n'));
  assert.match(lint[0]!, /a\/keepalived\.conf:\d+: error keepalived-weight-gap: VI_1 has priority 150, 50 above its lowest peer, but a failing check_apiserver \(weight -2\) lowers it by only 2/);
});
