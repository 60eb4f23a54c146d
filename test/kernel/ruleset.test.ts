// The in-kernel data plane's nftables program, pure (loaded into a real kernel by test/kernel-netns).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkKernelFrontends, counterName, nftName, renderSlotUpdate, renderTable, slotOrder, SLOTS, type KernelFrontend, type KernelServer } from '../../src/kernel/ruleset.js';

const server = (name: string, weight: number, i = Number(name.slice(1))): KernelServer => ({ name, ip: `10.0.0.${i}`, port: 6443, weight });
const tally = (order: KernelServer[]) => order.reduce((m, s) => m.set(s.name, (m.get(s.name) ?? 0) + 1), new Map<string, number>());

test('slots: shares of 256 by weight, adding up, at least one for any positive weight, none for weight 0; empty with no weight', () => {
  const table: [number[], number[]][] = [
    [[1, 1, 1], [86, 85, 85]],
    [[2, 1], [171, 85]],
    [[100, 0, 100], [128, 0, 128]],
    [[1000, 1], [255, 1]],
    [[5], [256]],
    [[0, 0], [0, 0]],
  ];
  for (const [weights, want] of table) {
    const servers = weights.map((w, i) => server(`m${i + 1}`, w));
    const counts = tally(slotOrder(servers));
    assert.deepEqual(servers.map((s) => counts.get(s.name) ?? 0), want, `weights ${weights}`);
    assert.equal(slotOrder(servers).length, weights.some((w) => w > 0) ? SLOTS : 0);
  }
});

test('slots are interleaved: with numgen inc, successive flows take every server in turn (smooth weighted round robin)', () => {
  const order = slotOrder([server('m1', 1), server('m2', 1), server('m3', 1)]);
  for (let i = 0; i + 3 <= 255; i += 3) assert.equal(new Set(order.slice(i, i + 3).map((s) => s.name)).size, 3, `slots ${i}..${i + 2}`);
  const weighted = slotOrder([server('m1', 2), server('m2', 1)]).slice(0, 6).map((s) => s.name);
  assert.deepEqual(tally(weighted.map((name) => server(name, 1))), new Map([['m1', 4], ['m2', 2]]), `2:1 within six flows: ${weighted}`);
});

test('the table: one transaction that creates or replaces inet kubeha; DNAT at prerouting or at output for node-local, with masquerade; counters both ways and carried over', () => {
  const fe: KernelFrontend[] = [
    { name: 'api-server', vip: '10.8.4.55', port: 6443, balance: 'roundrobin', hook: 'prerouting', servers: [server('m1', 1), server('m2', 1)] },
    { name: 'local', vip: '169.254.0.1', port: 7445, balance: 'source', hook: 'output', servers: [] },
  ];
  const text = renderTable(fe);
  assert.match(text, /^add table inet kubeha\ndelete table inet kubeha\ntable inet kubeha \{\n/, 'created if missing, then replaced, in one script');
  assert.match(text, /chain prerouting \{\n {4}type nat hook prerouting priority dstnat; policy accept;\n {4}ip daddr 10\.8\.4\.55 tcp dport 6443 dnat ip to numgen inc mod 256 map @fe_api_server\n/);
  assert.match(text, /chain postrouting \{[^}]*ct status dnat ct original ip daddr 10\.8\.4\.55 masquerade\n/);
  assert.match(text, /chain output \{[^}]*ip daddr 169\.254\.0\.1 tcp dport 7445 dnat ip to jhash ip saddr mod 256 map @fe_local\n/);
  assert.match(text, /ct status dnat ct original ip daddr 169\.254\.0\.1 oifname != "lo" masquerade\n/, 'the node\'s own clients masqueraded only when the flow leaves the host');
  assert.match(text, /counter srv_api_server_m1 \{ \}/);
  assert.match(renderTable(fe, new Map([['srv_api_server_m1', { packets: 7, bytes: 420 }]])), /counter srv_api_server_m1 \{ packets 7 bytes 420 \}/, 'counters carried over a replacement');
  assert.match(text, /elements = \{ 10\.0\.0\.1 \. 6443 : "srv_api_server_m1", 10\.0\.0\.2 \. 6443 : "srv_api_server_m2" \}/);
  assert.match(text, /map fe_local \{\n {4}typeof numgen inc mod 256 : ip daddr \. tcp dport\n {2}\}/, 'an empty map has no elements line (nft refuses an empty one)');
  assert.equal(counterName(fe[0]!, { name: 'm.1' }), 'srv_api_server_m_1');
  assert.equal(nftName('fe', 'a-b.c'), 'fe_a_b_c');
});

test('a state change is one map update: flush and refill the slots, nothing else', () => {
  const f: KernelFrontend = { name: 'fe', vip: '10.8.4.55', port: 6443, balance: 'roundrobin', hook: 'prerouting', servers: [server('m1', 1), server('m2', 0)] };
  const update = renderSlotUpdate(f);
  assert.match(update, /^flush map inet kubeha fe_fe\nadd element inet kubeha fe_fe \{ 0 : 10\.0\.0\.1 \. 6443, 1 : 10\.0\.0\.1 \. 6443, /);
  assert.doesNotMatch(update, /10\.0\.0\.2/, 'a server of weight 0 takes no new flows');
  assert.equal(renderSlotUpdate({ ...f, servers: [server('m1', 0)] }), 'flush map inet kubeha fe_fe\n', 'no usable server: an empty map');
});

test('kernel frontends: IPv4 only, names that collide once they are nftables identifiers, more servers than slots', () => {
  const f = (name: string, o: Partial<KernelFrontend> = {}): KernelFrontend => ({ name, vip: '10.8.4.55', port: 6443, balance: 'roundrobin', hook: 'prerouting', servers: [], ...o });
  assert.deepEqual(checkKernelFrontends([f('a'), f('b')]), []);
  const problems = checkKernelFrontends([
    f('a-b'), f('a_b'), f('v6', { vip: 'fd00::1' }),
    f('dup', { servers: [{ ...server('m1', 1), name: 'm_1' }, { ...server('m1', 1), name: 'm-1' }, { ...server('m2', 1), ip: 'fd00::2' }] }),
    f('many', { servers: Array.from({ length: SLOTS + 1 }, (_, i) => ({ ...server('m1', 1), name: `s${i}` })) }),
  ]);
  assert.equal(problems.length, 5, problems.join('\n'));
  assert.match(problems.join('\n'), /frontends a-b and a_b are both fe_a_b/);
  assert.match(problems.join('\n'), /v6: the kernel data plane takes an IPv4 address/);
  assert.match(problems.join('\n'), /two servers are srv_dup_m_1/);
  assert.match(problems.join('\n'), /fd00::2\) is not an IPv4 address/);
  assert.match(problems.join('\n'), /257 servers, more than the 256 slots/);
});

test('sourceNat: vip SNATs a VIP frontend\'s flows to the VIP (the replies follow the VIP); a node-local one keeps the masquerade', () => {
  const fe = (vip: string, hook: KernelFrontend['hook']): KernelFrontend => ({ name: `f${hook}`, vip, port: 6443, balance: 'roundrobin', hook, sourceNat: 'vip', servers: [server('m1', 1)] });
  const text = renderTable([fe('10.8.4.55', 'prerouting'), fe('169.254.0.1', 'output')]);
  assert.match(text, /ct status dnat ct original ip daddr 10\.8\.4\.55 snat ip to 10\.8\.4\.55\n/);
  assert.match(text, /ct status dnat ct original ip daddr 169\.254\.0\.1 oifname != "lo" masquerade\n/);
  assert.doesNotMatch(text, /10\.8\.4\.55 masquerade/);
});
