// Dual stack on real interfaces: two kubeha nodes, each with an IPv4 and an IPv6 VRRP instance in
// one syncGroup, frontends bound to both VIPs, servers and health checks on IPv6 addresses. One
// instance's tracked backend dying takes both VIPs to the other node together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createBed, nsFetchText, startKubehaConfig, until, untilVrrp, VIP, VIP6, type Bed, type BedHost } from '../support/netns.js';

const ECHO_LOAD = fileURLToPath(new URL('../support/echo-load.js', import.meta.url));

/** The node name the server behind `host`:7000 greets a client with, read from inside `client`'s namespace. */
function greeting(client: BedHost, host: string): Promise<string | undefined> {
  const script = `const s = require('node:net').connect(7000, ${JSON.stringify(host)}); s.setEncoding('utf8');
    s.on('data', (d) => { process.stdout.write(d.split('\\n')[0]); s.destroy(); }); s.on('error', () => process.exit(1));`;
  return new Promise((resolve) => execFile('ip', ['netns', 'exec', client.ns, process.execPath, '-e', script], { timeout: 5000 }, (err, out) => resolve(err ? undefined : out)));
}

function startNode(bed: Bed, host: BedHost, name: string, priority: number) {
  const vrrp = (instance: string, vips: string[], track: string[]) => ({
    name: instance, interface: 'eth0', virtualRouterId: 81, priority, advertInterval: '100ms', vips, syncGroup: 'G', track: { backends: track },
  });
  return startKubehaConfig(bed, host, {
    admin: { bind: '127.0.0.1:9000' },
    accessLog: { format: 'text' },
    frontends: [
      { name: 'fe4', bind: `${VIP}:7000`, backend: 'be' },
      { name: 'fe6', bind: `[${VIP6}]:7000`, backend: 'be' },
    ],
    backends: [{
      name: 'be', healthCheck: { type: 'tcp', interval: '100ms', timeout: '300ms', rise: 1, fall: 2 },
      servers: [{ name: name, address: `[${host.ip6}]:7101` }],
    }],
    // Only the IPv4 instance tracks the backend: the IPv6 one leaves with it through the sync group.
    vrrp: { instances: [vrrp('VI_4', [`${VIP}/24`], ['be']), vrrp('VI_6', [`${VIP6}/64`], [])] },
  });
}

test('dual stack: an IPv4 and an IPv6 VIP in one syncGroup move together; frontends on both VIPs reach IPv6 servers; the access log and metrics print IPv6', async (t) => {
  const bed = createBed(t, 3);
  const [a, b, client] = bed.hosts as [BedHost, BedHost, BedHost];
  const servers = [a, b].map((h, i) => h.spawn(process.execPath, [ECHO_LOAD, 'greet', h.ip6, '7101', `node${i + 1}`]));
  await Promise.all(servers.map((s) => s.waitLine(/listening/)));
  const ka = startNode(bed, a, 'node1', 150);
  await until(() => a.hasAddress(VIP) && a.hasAddress(VIP6), 10_000);
  const kb = startNode(bed, b, 'node2', 100);
  await untilVrrp(b, (v) => v.state === 'backup' && v.adverts.received >= 5, 'b following a');
  assert.deepEqual([a.hasAddress(VIP), a.hasAddress(VIP6), b.hasAddress(VIP), b.hasAddress(VIP6)], [true, true, false, false]);
  assert.equal(await greeting(client, VIP6), 'node1', 'through the IPv6 VIP to an IPv6 server');
  assert.equal(await greeting(client, VIP), 'node1', 'through the IPv4 VIP to the same IPv6 server');

  // The access log names the IPv6 client in brackets; the state API the IPv6 server and the
  // link-local master; the metrics the IPv6 instance.
  const logged = await ka.waitLine(new RegExp(`^\\[${client.ip6}\\]:\\d+ \\[.*\\] fe6 be/node1 `), 5000);
  assert.ok(logged);
  const state = nsFetchText(a, 'http://127.0.0.1:9000/api/v1/state');
  assert.ok(state.includes(`"[${a.ip6}]:7101"`), state);
  const bState = JSON.parse(nsFetchText(b, 'http://127.0.0.1:9000/api/v1/state')) as { vrrp: { name: string; master: { address: string } | null }[] };
  assert.match(bState.vrrp.find((v) => v.name === 'VI_6')?.master?.address ?? '', /^fe80::/, 'the IPv6 backup follows the link-local source');
  assert.match(nsFetchText(a, 'http://127.0.0.1:9000/metrics'), /kubeha_vrrp_state\{vrrp_instance="VI_6",state="master"\} 1/);

  // a's server dies: VI_4 faults on its tracked backend, VI_6 follows through the sync group.
  const killedAt = Date.now();
  const seen = ka.lines.length;
  servers[0]!.child.kill('SIGKILL');
  const v6fault = await ka.waitLine(/vrrp VI_6: \w+ → FAULT \(sync group G: VI_4 in fault/, 5000, seen);
  assert.ok(await until(() => b.hasAddress(VIP) && b.hasAddress(VIP6) && !a.hasAddress(VIP) && !a.hasAddress(VIP6), 3000), 'both VIPs moved to b');
  t.diagnostic(`backend killed → both VIPs on b: ${Date.now() - killedAt} ms (IPv6 fault after ${v6fault.atMs - killedAt} ms)`);
  assert.equal(await greeting(client, VIP6), 'node2');
  assert.equal(await greeting(client, VIP), 'node2');
  assert.ok(kb.running());
});
