// The rendered files, checked by the programs that will read them: haproxy -c, nginx -t,
// keepalived -t (in a namespace with the interface), and a 3-member etcd started from the three
// rendered etcd.env files (TLS on, certificates from a test CA) that must form a healthy cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdClient } from '../../src/election/etcd-client.js';
import { makePlan, parseInventoryText, type Inventory } from '../../src/plan/inventory.js';
import { renderBundle, type Bundle } from '../../src/plan/render-bundle.js';
import { freePort, makePki } from '../support/etcd.js';
import { createBed } from '../support/netns.js';
import type { TestContextLike } from '../support/tcp.js';

function render(t: TestContextLike, yaml: (dir: string) => string): { dir: string; bundle: Bundle; inv: Inventory } {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-plan-real-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = parseInventoryText(yaml(dir), 'inv.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const bundle = renderBundle(makePlan(r.inventory));
  for (const [path, f] of bundle) {
    mkdirSync(join(dir, 'out', path, '..'), { recursive: true });
    writeFileSync(join(dir, 'out', path), f.content, { mode: f.mode });
  }
  return { dir, bundle, inv: r.inventory };
}

const masters = (ips: string[]) => `masters:\n${ips.map((ip, i) => `  - { name: m${i + 1}, ip: ${ip} }`).join('\n')}\n`;

/** Runs a command; its exit code and stdout + stderr. */
const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
};

test('rendered haproxy.cfg passes haproxy -c and keepalived.conf passes keepalived -t, for every LB host', (t) => {
  const bed = createBed(t, 1);
  const { dir, bundle } = render(t, (d) => `cluster: real\nvip: 192.0.2.200/24\ninterface: eth0\n${masters(['192.0.2.1', '192.0.2.2', '192.0.2.3'])}lb: { flavor: haproxy }\nkeepalivedScriptDir: ${d}/scripts\nvrrp: { version: 2, advertInterval: 1s, unicast: true, authPass: secret }\n`);
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(join(dir, 'scripts', 'check_lb.sh'), bundle.get('m1/check_lb.sh')!.content, { mode: 0o755 });
  for (const h of ['m1', 'm2', 'm3']) {
    const hap = run('haproxy', ['-c', '-f', join(dir, 'out', h, 'haproxy.cfg')]);
    assert.equal(hap.code, 0, `haproxy -c ${h}: ${hap.out}`);
    const ka = run('ip', ['netns', 'exec', bed.hosts[0]!.ns, 'keepalived', '-t', '-f', join(dir, 'out', h, 'keepalived.conf')]);
    assert.equal(ka.code, 0, `keepalived -t ${h}: ${ka.out}`);
  }
});

test('the rendered kubeha.service (and keepalived drop-in) releases the VIP after a crash (ExecStopPost, run as systemd would)', (t) => {
  const bed = createBed(t, 1);
  const ns = bed.hosts[0]!.ns;
  const { bundle } = render(t, () => `cluster: real\nvip: 192.0.2.200/24\ninterface: eth0\n${masters(['192.0.2.1', '192.0.2.2', '192.0.2.3'])}workers: [{ name: w1, ip: 192.0.2.50 }]\nworkerAccess: local\n`);
  const unit = bundle.get('m1/kubeha.service')!.content;
  const stopPost = [...unit.matchAll(/^ExecStopPost=-(.+)$/gm)].map((m) => m[1]!);
  assert.deepEqual(stopPost, ['/usr/sbin/ip addr del 192.0.2.200/24 dev eth0']);
  // What a SIGKILLed daemon leaves behind: the VIP on the interface.
  assert.equal(run('ip', ['-n', ns, 'addr', 'add', '192.0.2.200/24', 'dev', 'eth0']).code, 0);
  const argv = stopPost[0]!.split(' ');
  assert.equal(run('ip', ['netns', 'exec', ns, ...argv]).code, 0);
  assert.doesNotMatch(run('ip', ['-n', ns, '-4', 'addr', 'show', 'dev', 'eth0']).out, /192\.0\.2\.200/);
  assert.notEqual(run('ip', ['netns', 'exec', ns, ...argv]).code, 0, 'after a clean stop it fails, which the "-" prefix tells systemd to ignore');
  assert.doesNotMatch(bundle.get('w1/kubeha.service')!.content, /ExecStopPost/, 'a worker\'s node-local kubeha holds no VIP');
  // The classic flavors get the same line as a drop-in for keepalived.service.
  const classic = render(t, () => `cluster: real\nvip: 192.0.2.200/24\ninterface: eth0\n${masters(['192.0.2.1', '192.0.2.2', '192.0.2.3'])}lb: { flavor: haproxy }\n`).bundle;
  const dropIn = classic.get('m1/keepalived-release-vip.conf')!.content;
  assert.match(dropIn, /^\[Service\]$/m);
  assert.deepEqual([...dropIn.matchAll(/^ExecStopPost=-(.+)$/gm)].map((m) => m[1]), stopPost);
});

test('rendered nginx.conf passes nginx -t (Debian module layout, stream)', (t) => {
  const { dir } = render(t, () => `cluster: real\nvip: 10.0.0.100/24\ninterface: eth0\n${masters(['10.0.0.11', '10.0.0.12', '10.0.0.13'])}lb: { flavor: nginx }\n`);
  const r = run('nginx', ['-t', '-c', join(dir, 'out', 'm1', 'nginx.conf')]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /test is successful/);
});

test('the check script works: exit 0 while the local LB listens, 1 when it does not', async (t) => {
  const port = await freePort();
  const { dir } = render(t, () => `cluster: real\nvip: 10.0.0.100/24\ninterface: eth0\n${masters(['10.0.0.11', '10.0.0.12', '10.0.0.13'])}lb: { flavor: haproxy, hosts: [{ name: lb1, ip: 10.0.0.5 }] }\napiPort: ${port}\n`);
  const script = join(dir, 'out', 'lb1', 'check_lb.sh');
  assert.equal(run(script, []).code, 1, 'nothing listens');
  const { createServer } = await import('node:net');
  const server = createServer((s) => s.end()).listen(port, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.after(() => server.close());
  assert.equal(run(script, []).code, 0, 'the LB listens');
});

test('the three rendered etcd.env files form a healthy 3-member etcd cluster (TLS, peer and client certs)', async (t) => {
  const ips = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
  // Free on all three addresses: each member binds its own (127.0.0.1 alone was checked before).
  const [clientPort, peerPort] = [await freePort(ips), await freePort(ips)];
  const pkiDir = mkdtempSync(join(tmpdir(), 'kubeha-etcd-pki-'));
  t.after(() => rmSync(pkiDir, { recursive: true, force: true }));
  const pki = makePki(pkiDir, ips);
  const { dir } = render(t, () => `cluster: real\nvip: 127.0.0.100/8\ninterface: lo\n${masters(ips)}etcd: { mode: stacked, tls: true, pkiDir: ${pkiDir}, clientPort: ${clientPort}, peerPort: ${peerPort} }\n`);
  const procs = ['m1', 'm2', 'm3'].map((m) => {
    const env: Record<string, string> = {};
    for (const line of readFileSync(join(dir, 'out', m, 'etcd.env'), 'utf8').split('\n')) {
      const match = /^([A-Z_]+)=(.*)$/.exec(line);
      if (match) env[match[1]!] = match[2]!;
    }
    env.ETCD_DATA_DIR = join(dir, `data-${m}`); // one machine plays three hosts: each member needs its own data dir
    env.ETCD_LISTEN_CLIENT_URLS = env.ETCD_LISTEN_CLIENT_URLS!.split(',')[0]!; // 127.0.0.1:clientPort is m1's own address here
    return spawn('etcd', [], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
  });
  t.after(async () => {
    await Promise.all(procs.map((p) => new Promise((r) => {
      if (p.exitCode !== null) return r(null);
      p.once('exit', r);
      p.kill('SIGKILL');
    })));
  });
  const client = new EtcdClient({ endpoints: ips.map((ip) => `https://${ip}:${clientPort}`), tls: { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey } });
  t.after(() => client.close());
  let members: { name?: string }[] = [];
  for (let i = 0; i < 60 && members.length < 3; i++) {
    try {
      members = (await client.call<{ members?: { name?: string }[] }>('/v3/cluster/member/list', {}, 1000)).members ?? [];
      await client.call('/v3/kv/put', { key: Buffer.from('k').toString('base64'), value: Buffer.from('v').toString('base64') }, 1000);
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  assert.deepEqual(members.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
  for (const ip of ips) {
    const one = new EtcdClient({ endpoints: [`https://${ip}:${clientPort}`], tls: { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey } });
    const r = await one.rangePrefix('k', 3000);
    one.close();
    assert.equal(r.kvs[0]?.value, 'v', `member at ${ip} serves the write`);
  }
});
