// `kubeha run` with a `dataPlane: kernel` frontend on an LB host, in network namespaces this file
// creates (and removes): a client host, the LB host holding the VIP, and three hosts with a stand-in
// apiserver each, on one bridge. nftables forwards, kubeha decides: flows spread over the three; a
// SIGKILLed apiserver and one whose /readyz fails get no new flows once the checks mark them down
// (the latter's established connection goes on: a drain); kubeha SIGKILLed, the kernel keeps
// forwarding with the last map, established and new flows alike, and the restarted kubeha adopts
// the table; a reload adds and removes servers; `kubeha run --cleanup` removes the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createBed, VIP, type BedHost, type NsProcess } from '../support/netns.js';
import { KUBEHA_BIN } from '../support/processes.js';
import { until } from '../support/tcp.js';
import type { NodeState } from '../../src/observe/node-state.js';

const CLIENT = fileURLToPath(new URL('../support/kernel-http-client.js', import.meta.url));
const ADMIN = '127.0.0.1:9441';
const URL_ = `https://${VIP}:6443/version`;

const inNs = (host: BedHost, cmd: string, args: string[]) => execFileSync('ip', ['netns', 'exec', host.ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('kubeha run with dataPlane: kernel: spread, marked down, drained, kubeha SIGKILLed and adopted, reload, cleanup', { timeout: 240_000 }, async (t) => {
  const bed = createBed(t, 6);
  const [client, lb, ...backends] = bed.hosts as [BedHost, BedHost, ...BedHost[]];
  const [b1, b2, b3, b4] = backends as [BedHost, BedHost, BedHost, BedHost];
  inNs(lb, 'ip', ['addr', 'add', `${VIP}/24`, 'dev', 'eth0']); // the VIP is here (VRRP's job; not this test's)

  const sims = new Map<string, NsProcess>();
  const startSim = async (host: BedHost, name: string) => {
    const p = host.spawn(process.execPath, [KUBEHA_BIN, 'sim', 'apiserver', '--host', host.ip, '--port', '6443', '--name', name, '--shutdown-delay', '120s']);
    await p.waitLine(/"event":"listening"/);
    sims.set(name, p);
  };
  await Promise.all([startSim(b1, 'm1'), startSim(b2, 'm2'), startSim(b3, 'm3'), startSim(b4, 'm4')]);

  const config = join(bed.dir, 'kubeha.yaml');
  const writeConfig = (servers: [string, BedHost][]) => {
    writeFileSync(config, JSON.stringify({
      global: { shutdownGrace: '0s', logLevel: 'info' },
      admin: { bind: ADMIN },
      frontends: [{ name: 'apiserver', bind: `${VIP}:6443`, backend: 'apiservers', dataPlane: 'kernel' }],
      backends: [{
        name: 'apiservers', balance: 'roundrobin',
        healthCheck: { type: 'https', path: '/readyz', interval: '200ms', fastInterval: '100ms', downInterval: '200ms', timeout: '500ms', rise: 1, fall: 1 },
        servers: servers.map(([name, host]) => ({ name, address: `${host.ip}:6443` })),
      }],
    }));
  };
  writeConfig([['m1', b1], ['m2', b2], ['m3', b3]]);
  const kubeha = () => lb.spawn(process.execPath, [KUBEHA_BIN, 'run', '--config', config]);
  const state = () => JSON.parse(inNs(lb, process.execPath, ['-e', `fetch('http://${ADMIN}/api/v1/state').then((r) => r.text()).then((t) => process.stdout.write(t))`])) as NodeState;
  const frontend = (s: NodeState) => s.frontends.find((f) => f.name === 'apiserver')!;
  const up = (s: NodeState) => new Set(s.backends[0]!.servers.filter((x) => x.state === 'up' && x.lastCheck).map((x) => x.name));
  const count = (n: number) => JSON.parse(inNs(client, process.execPath, [CLIENT, 'count', URL_, String(n)])) as { answered: Record<string, number>; errors: Record<string, number> };
  const tables = () => inNs(lb, 'nft', ['list', 'tables']);

  // 1. a precondition missing: a clear error naming it, no table, no fallback
  const refused = kubeha();
  assert.equal(await refused.exited, 1);
  assert.match(refused.output(), /net\.ipv4\.ip_forward is not 1.*\[KUBEHA_ERR_KERNEL\]/);
  assert.doesNotMatch(tables(), /kubeha/);
  inNs(lb, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);

  // 2. programmed once every server answered its check: new flows spread over the three
  let daemon = kubeha();
  await daemon.waitLine(/programmed the nftables table inet kubeha/);
  await until(() => up(state()).size === 3, 20_000, 'the three servers up by a check');
  const spread = count(60);
  assert.deepEqual(spread.errors, {});
  for (const m of ['m1', 'm2', 'm3']) assert.ok(Math.abs((spread.answered[m] ?? 0) - 20) <= 2, `even spread: ${JSON.stringify(spread.answered)}`);
  // (the counters and flows are read at most once a second)
  let s2 = state();
  await until(() => (s2 = state()) && frontend(s2).kernel!.servers.every((srv) => srv.packets > 0), 20_000, 'the counters of the spread');
  assert.equal(frontend(s2).dataPlane, 'kernel');
  assert.equal(frontend(s2).listening, true, 'a programmed kernel frontend counts as listening');
  for (const srv of frontend(s2).kernel!.servers) assert.ok(srv.packets >= 10 * 20 / 2 && srv.bytes > srv.packets * 40, `nft counters per server, both directions: ${JSON.stringify(frontend(s2).kernel)}`);
  assert.ok(frontend(s2).kernel!.servers.every((srv) => srv.flows >= 18), `conntrack entries per server: ${JSON.stringify(frontend(s2).kernel)}`);

  // three established connections, one per server, held across everything below
  const holder = holdConnections(client);
  t.after(() => holder.kill());
  const first = await holder.next();
  assert.deepEqual([...first.names].sort(), ['m1', 'm2', 'm3'], `one held connection per server: ${JSON.stringify(first)}`);

  // 3. m3 SIGKILLed: no new flow to it once it is marked down
  process.kill(sims.get('m3')!.child.pid!, 'SIGKILL');
  await until(() => !up(state()).has('m3'), 20_000, 'm3 marked down');
  const afterKill = count(30);
  assert.deepEqual(afterKill.errors, {}, `no failed request once m3 is out: ${JSON.stringify(afterKill)}`);
  assert.equal(afterKill.answered.m3, undefined);

  // 4. m2's /readyz fails (a graceful apiserver shutdown): drained, its established connection goes on
  process.kill(sims.get('m2')!.child.pid!, 'SIGTERM');
  await until(() => !up(state()).has('m2'), 20_000, 'm2 marked down by its /readyz');
  assert.deepEqual(count(20), { answered: { m1: 20 }, errors: {} });
  const drained = await holder.next();
  const m2At = first.names.indexOf('m2');
  assert.equal(drained.names[m2At], 'm2', `the established connection to m2 still answers: ${JSON.stringify(drained)}`);
  assert.equal(drained.reused![m2At], true);

  // 5. kubeha SIGKILLed: the kernel forwards with the last map, old and new flows alike
  process.kill(daemon.child.pid!, 'SIGKILL');
  await daemon.exited;
  assert.deepEqual(count(20), { answered: { m1: 20 }, errors: {} }, 'new flows while kubeha is down');
  const whileDown = await holder.next();
  assert.deepEqual([whileDown.names[first.names.indexOf('m1')], whileDown.names[m2At]], ['m1', 'm2'], `established flows while kubeha is down: ${JSON.stringify(whileDown)}`);
  const packetsBefore = frontend(s2).kernel!.servers.find((x) => x.name === 'm1')!.packets;

  // 6. the restarted kubeha adopts the table: traffic never stops, the counters go on
  const during = client.spawn(process.execPath, [CLIENT, 'count', URL_, '300']);
  daemon = kubeha();
  await daemon.waitLine(/an earlier run keeps forwarding/);
  await daemon.waitLine(/programmed the nftables table inet kubeha/);
  assert.equal(await during.exited, 0);
  const across = JSON.parse(during.output()) as { answered: Record<string, number>; errors: Record<string, number> };
  assert.deepEqual(across, { answered: { m1: 300 }, errors: {} }, 'no failed request across the restart');
  const s6 = state();
  assert.equal(s6.kernel?.adopted, true);
  assert.deepEqual(count(10), { answered: { m1: 10 }, errors: {} }, 'm2 and m3 still out after the restart');
  await until(() => {
    const m1 = frontend(state()).kernel!.servers.find((x) => x.name === 'm1')!;
    return m1.packets > packetsBefore;
  }, 20_000, 'the counters carried over the restart and go on');
  const afterRestart = await holder.next();
  assert.equal(afterRestart.names[m2At], 'm2', 'the drained connection survived the restart too');

  // 7. reload: m2 and m3 removed, m4 added
  writeConfig([['m1', b1], ['m4', b4]]);
  process.kill(daemon.child.pid!, 'SIGHUP');
  await until(() => up(state()).has('m4'), 20_000, 'm4 up after the reload');
  const reloaded = count(40);
  assert.deepEqual(reloaded.errors, {});
  assert.deepEqual(Object.keys(reloaded.answered).sort(), ['m1', 'm4'], `the new servers only: ${JSON.stringify(reloaded)}`);

  // 8. a clean stop leaves the table (it forwards without kubeha); --cleanup removes it
  process.kill(daemon.child.pid!, 'SIGTERM');
  assert.equal(await daemon.exited, 0);
  assert.match(tables(), /^table inet kubeha$/m);
  const cleanup = lb.spawn(process.execPath, [KUBEHA_BIN, 'run', '--cleanup', '--config', config]);
  assert.equal(await cleanup.exited, 0);
  assert.doesNotMatch(tables(), /kubeha/);
  assert.equal(count(1).errors.ECONNREFUSED, 1, 'no table: the VIP itself answers, and nothing listens there');
});

/** The hold client of kernel-http-client.ts, with stdin to ask it for one more round. */
function holdConnections(host: BedHost) {
  const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, CLIENT, 'hold', URL_, '3'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  let asked = false;
  return {
    kill: () => child.kill('SIGKILL'),
    async next(): Promise<{ names: string[]; reused?: boolean[] }> {
      if (asked) child.stdin!.write('again\n');
      asked = true;
      return JSON.parse(((await lines.next()).value as string | undefined) ?? '{"names":[]}') as { names: string[]; reused?: boolean[] };
    },
  };
}
