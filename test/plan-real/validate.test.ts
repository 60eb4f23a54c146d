// The rendered files, checked by the programs that will read them: haproxy -c, nginx -t,
// keepalived -t (in a namespace with the interface), and a 3-member etcd started from the three
// rendered etcd.env files (TLS on, certificates from a test CA) that must form a healthy cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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

test('dual stack: the rendered keepalived.conf (IPv4 + IPv6 instances, one sync group) passes keepalived -t; haproxy -c and nginx -t take the IPv6 binds', (t) => {
  const bed = createBed(t, 1);
  const dualMasters = `masters:\n${[1, 2, 3].map((i) => `  - { name: m${i}, ip: 192.0.2.${i}, ip6: "2001:db8::${i}" }`).join('\n')}\n`;
  for (const flavor of ['haproxy', 'nginx'] as const) {
    const { dir, bundle } = render(t, (d) => `cluster: real\nvip: 192.0.2.200/24\nvip6: 2001:db8::200/64\ninterface: eth0\n${dualMasters}lb: { flavor: ${flavor} }\nkeepalivedScriptDir: ${d}/scripts\nvrrp: { version: 3, advertInterval: 100ms, unicast: true }\n`);
    mkdirSync(join(dir, 'scripts'));
    writeFileSync(join(dir, 'scripts', 'check_lb.sh'), bundle.get('m1/check_lb.sh')!.content, { mode: 0o755 });
    const conf = join(dir, 'out', 'm1', 'keepalived.conf');
    assert.match(readFileSync(conf, 'utf8'), /vrrp_sync_group VI_real_G \{\n {4}group \{\n {8}VI_real\n {8}VI_real_6\n/);
    const ka = run('ip', ['netns', 'exec', bed.hosts[0]!.ns, 'keepalived', '-t', '-f', conf]);
    assert.equal(ka.code, 0, `keepalived -t: ${ka.out}`);
    const lb = flavor === 'haproxy' ? run('haproxy', ['-c', '-f', join(dir, 'out', 'm1', 'haproxy.cfg')]) : run('nginx', ['-t', '-c', join(dir, 'out', 'm1', 'nginx.conf')]);
    assert.equal(lb.code, 0, `${flavor}: ${lb.out}`);
    assert.match(readFileSync(join(dir, 'out', 'm1', `${flavor}.${flavor === 'haproxy' ? 'cfg' : 'conf'}`), 'utf8'), flavor === 'haproxy' ? /bind :::16443 v6only/ : /listen \[::\]:16443;/);
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

/** Starts the etcd member `m` from its rendered etcd.env, as etcd.service would (one machine plays every host). */
function startMember(t: TestContextLike, dir: string, m: string, envText: string): ChildProcess {
  const env: Record<string, string> = {};
  for (const line of envText.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!;
  }
  env.ETCD_DATA_DIR = join(dir, `data-${m}`); // each member its own data dir
  env.ETCD_LISTEN_CLIENT_URLS = env.ETCD_LISTEN_CLIENT_URLS!.split(',')[0]!; // 127.0.0.1:clientPort is m1's own address here
  const p = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'etcd'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
  t.after(() => new Promise((r) => {
    if (p.exitCode !== null || p.signalCode !== null) return r(null);
    p.once('exit', r);
    p.kill('SIGKILL');
  }));
  return p;
}

interface Member { ID: string; name?: string; peerURLs?: string[] }

test('a growing cluster through its rendered etcd.env: m4 and m5 join a running 3-member cluster (member add, one at a time); m2 is replaced by m6 (member remove first)', async (t) => {
  const ips = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
  const [clientPort, peerPort] = [await freePort(ips), await freePort(ips)];
  const pkiDir = mkdtempSync(join(tmpdir(), 'kubeha-etcd-pki-'));
  t.after(() => rmSync(pkiDir, { recursive: true, force: true }));
  const pki = makePki(pkiDir, ips);
  const head = `cluster: grow\nvip: 127.0.0.100/8\ninterface: lo\netcd: { mode: stacked, tls: true, pkiDir: ${pkiDir}, clientPort: ${clientPort}, peerPort: ${peerPort} }\nmasters:\n`;
  const line = (i: number, join = false) => `  - { name: m${i}, ip: 127.0.0.${i}${join ? ', join: true' : ''} }\n`;
  const base = render(t, () => head + [1, 2, 3].map((i) => line(i)).join(''));
  const grown = render(t, () => head + [1, 2, 3].map((i) => line(i)).join('') + line(4, true) + line(5, true));
  const replaced = render(t, () => head + [1, 3].map((i) => line(i)).join('') + line(4, true) + line(5, true) + line(6, true));
  for (const m of ['m1', 'm2', 'm3']) assert.equal(grown.bundle.get(`${m}/etcd.env`)!.content, base.bundle.get(`${m}/etcd.env`)!.content, `${m}: the same file after the growth`);

  const tls = { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey };
  const clientOf = (i: number) => {
    const c = new EtcdClient({ endpoints: [`https://127.0.0.${i}:${clientPort}`], tls });
    t.after(() => c.close());
    return c;
  };
  const m1 = clientOf(1);
  const dir = base.dir;
  const procs = new Map<string, ChildProcess>();
  const started = async (names: string[]) => {
    let members: Member[] = [];
    for (let i = 0; i < 80; i++) {
      try {
        members = (await m1.call<{ members?: Member[] }>('/v3/cluster/member/list', {}, 1000)).members ?? [];
        if (members.map((m) => m.name ?? '').sort().join() === [...names].sort().join()) return members;
      } catch { /* not ready */ }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(`members ${members.map((m) => m.name || '(unstarted)').join(',')}, want ${names.join(',')}`);
  };
  const reads = async (i: number, value: string) => {
    const c = clientOf(i);
    for (let k = 0; k < 40; k++) {
      try {
        if ((await c.rangePrefix('k', 2000)).kvs[0]?.value === value) return;
      } catch { /* catching up */ }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(`m${i} does not serve k=${value}`);
  };

  // etcd answers member add with "unhealthy cluster" until every member has been connected for a
  // few seconds (its strict reconfiguration check): retry that one.
  const memberAdd = async (peerUrl: string) => {
    for (let i = 0; ; i++) {
      try {
        return await m1.call('/v3/cluster/member/add', { peerURLs: [peerUrl] }, 3000);
      } catch (err) {
        if (i > 60 || !/unhealthy cluster/.test(String(err))) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  for (const m of ['m1', 'm2', 'm3']) procs.set(m, startMember(t, dir, m, base.bundle.get(`${m}/etcd.env`)!.content));
  await started(['m1', 'm2', 'm3']);
  await m1.call('/v3/kv/put', { key: Buffer.from('k').toString('base64'), value: Buffer.from('v1').toString('base64') }, 3000);

  // What the README says, in its order: member add, start it from its etcd.env, then the next.
  for (const [m, bundle, want] of [['m4', grown.bundle, ['m1', 'm2', 'm3', 'm4']], ['m5', grown.bundle, ['m1', 'm2', 'm3', 'm4', 'm5']]] as const) {
    const env = bundle.get(`${m}/etcd.env`)!.content;
    assert.match(env, /^ETCD_INITIAL_CLUSTER_STATE=existing$/m, m);
    const ip = `127.0.0.${m.slice(1)}`;
    await memberAdd(`https://${ip}:${peerPort}`);
    procs.set(m, startMember(t, dir, m, env));
    await started([...want]);
    await reads(Number(m.slice(1)), 'v1');
  }

  // Replacing m2: remove it first (5 → 4 members, quorum 3 of the 4 running), then add m6.
  const members = await started(['m1', 'm2', 'm3', 'm4', 'm5']);
  const m2 = members.find((m) => m.name === 'm2')!;
  await m1.call('/v3/cluster/member/remove', { ID: m2.ID }, 3000);
  procs.get('m2')!.kill('SIGKILL');
  await started(['m1', 'm3', 'm4', 'm5']);
  const env6 = replaced.bundle.get('m6/etcd.env')!.content;
  assert.match(env6, new RegExp(`^ETCD_INITIAL_CLUSTER=${['1', '3', '4', '5', '6'].map((i) => `m${i}=https://127\\.0\\.0\\.${i}:${peerPort}`).join(',')}$`, 'm'));
  await memberAdd(`https://127.0.0.6:${peerPort}`);
  startMember(t, dir, 'm6', env6);
  await started(['m1', 'm3', 'm4', 'm5', 'm6']);
  await m1.call('/v3/kv/put', { key: Buffer.from('k').toString('base64'), value: Buffer.from('v2').toString('base64') }, 3000);
  await reads(6, 'v2');
});
