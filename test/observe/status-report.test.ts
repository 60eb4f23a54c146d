import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAge, statusReport, table } from '../../src/observe/status-report.js';
import type { NodeState, ServerState } from '../../src/observe/node-state.js';
import type { VrrpStatus } from '../../src/vrrp/vrrp-engine.js';
import type { PeerStatus } from '../../src/bgp/bgp-peer.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');

function server(name: string, over: Partial<ServerState> = {}): ServerState {
  return {
    name, address: `10.0.0.${name.slice(-1)}:6443`, state: 'up', adminState: 'ready', removed: false,
    health: { value: 2, rise: 2, fall: 2, passiveFailures: 0 }, weight: 100, effectiveWeight: 100,
    sessions: { active: 1, total: 10 }, bytesIn: 0, bytesOut: 0, connectErrors: 0, retries: 0,
    lastCheck: { ok: true, latencyMs: 2.345, detail: 'HTTP 200', at: '2026-11-23T11:59:59Z' },
    lastChange: { at: '2026-11-23T11:00:00Z', cause: 'init' }, transitions: 0, checkHistory: [],
    ...over,
  };
}

function vrrp(over: Partial<VrrpStatus> = {}): VrrpStatus {
  return {
    name: 'VI_1', interface: 'eth0', virtualRouterId: 51, version: 3, state: 'master', since: '2026-11-23T11:58:00Z',
    priority: 150, effectivePriority: 150, master: null, vips: ['10.0.0.100/24'], transitions: 1, lastTransition: null,
    adverts: { sent: 10, received: 0, dropped: {}, sendErrors: 0, maxGapMs: 0, droppedBySource: [] }, garpsSent: 5,
    duplicateVip: { events: 0, last: null }, secondMaster: { events: 0, last: null }, track: { backends: [{ name: 'apiservers', ok: true }], scripts: [], interfaces: [] }, fault: null, maintenance: false,
    ...over,
  };
}

function node(over: Partial<NodeState> = {}): NodeState {
  return {
    startedAt: '2026-11-23T09:55:30Z', configPath: '/etc/kubeha/kubeha.yaml', reloads: { success: 2, failure: 0, lastErrors: [] }, events: [],
    vrrp: [], eventLoopDelayMs: { p99: 1.2, max: 3 }, vrrpThread: null, vipElection: null,
    frontends: [{ name: 'apiserver', bind: '10.0.0.100:6443', port: 6443, listening: true, backend: 'apiservers', accepted: 7, active: 1, rejected: { maxconn: 0, 'queue-full': 1, 'queue-timeout': 0, 'no-server': 2 } }],
    backends: [{ name: 'apiservers', balance: 'roundrobin', queue: { length: 0, max: 100, overflows: 0, timeouts: 0 }, servers: [server('m1'), server('m2'), server('m3')] }],
    ...over,
  };
}

test('a healthy master: tables, no problems, "all good"', () => {
  const r = statusReport(node({ vrrp: [vrrp()] }), NOW);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.warnings, []);
  assert.match(r.text, /^kubeha up 2h4m, config \/etc\/kubeha\/kubeha\.yaml, reloads 2 ok \/ 0 refused/);
  assert.match(r.text, /^apiserver\s+10\.0\.0\.100:6443\s+yes\s+1\s+7\s+3\s+apiservers$/m, 'rejections summed over reasons');
  assert.match(r.text, /^apiservers\s+m2\s+10\.0\.0\.2:6443\s+up\s+100\s+1\s+10\s+ok 2\.3 ms$/m);
  assert.match(r.text, /^VI_1\s+eth0\s+51\s+v3\s+MASTER\s+150\s+this node\s+2m\s+10\.0\.0\.100\/24$/m);
  assert.match(r.text, /all good\n$/);
});

test('a backup: the frontend bound to the VIP waits, which is not a problem; the master is named', () => {
  const r = statusReport(node({
    vrrp: [vrrp({ state: 'backup', priority: 100, effectivePriority: 100, master: { address: '10.0.0.1', priority: 150 } })],
    frontends: [{ ...node().frontends[0]!, listening: false }],
  }), NOW);
  assert.deepEqual(r.problems, []);
  assert.match(r.text, /no \(VIP elsewhere\)/);
  assert.match(r.text, /BACKUP\s+100\s+10\.0\.0\.1 \(150\)/);
});

test('the last five server transitions, newest first, with their age and cause', () => {
  const events = Array.from({ length: 7 }, (_, i) => ({ at: new Date(NOW - (70 - i * 10) * 1000).toISOString(), backend: 'apiservers', server: `m${i}`, up: i % 2 === 0, cause: 'check', detail: i % 2 ? 'HTTP 500' : 'HTTP 200' }));
  const r = statusReport(node({ events }), NOW);
  const block = r.text.slice(r.text.indexOf('LAST TRANSITIONS'));
  assert.deepEqual(block.split('\n').slice(1, 6), [
    '  10s ago  apiservers/m6 UP (check: HTTP 200)',
    '  20s ago  apiservers/m5 DOWN (check: HTTP 500)',
    '  30s ago  apiservers/m4 UP (check: HTTP 200)',
    '  40s ago  apiservers/m3 DOWN (check: HTTP 500)',
    '  50s ago  apiservers/m2 UP (check: HTTP 200)',
  ]);
  assert.doesNotMatch(r.text, /LAST TRANSITIONS[^]*LAST TRANSITIONS/);
  assert.doesNotMatch(statusReport(node(), NOW).text, /LAST TRANSITIONS/, 'none since start: no section');
});

test('a frontend that should listen and does not is a problem', () => {
  const r = statusReport(node({ frontends: [{ ...node().frontends[0]!, bind: '0.0.0.0:6443', listening: false }] }), NOW);
  assert.deepEqual(r.problems, ['frontend apiserver is not listening on 0.0.0.0:6443']);
  assert.match(r.text, /^PROBLEMS\n  frontend apiserver/m);
});

test('servers down, drained or removed: warnings while one serves, a problem when none can', () => {
  const down = server('m1', { state: 'down', effectiveWeight: 0, lastCheck: { ok: false, latencyMs: 1000, detail: 'timeout', at: '' } });
  const some = statusReport(node({ backends: [{ ...node().backends[0]!, servers: [down, server('m2', { adminState: 'drain' }), server('m3'), server('m4', { removed: true })] }] }), NOW);
  assert.deepEqual(some.problems, []);
  assert.deepEqual(some.warnings, ['server apiservers/m1 (10.0.0.1:6443) is down: timeout', 'server apiservers/m2 is in drain']);
  assert.match(some.text, /m1\s+10\.0\.0\.1:6443\s+DOWN\s+0\/100\s+1\s+10\s+FAIL 1000\.0 ms timeout$/m);
  assert.match(some.text, /m2\s+\S+\s+UP\/DRAIN/);
  assert.match(some.text, /m4\s+\S+\s+REMOVED/);

  const none = statusReport(node({ backends: [{ ...node().backends[0]!, servers: [down, server('m2', { adminState: 'maint' }), server('m4', { removed: true })] }] }), NOW);
  assert.deepEqual(none.problems, ['backend apiservers has no usable server (2 configured)']);
});

test('VRRP maintenance is a warning, not a problem: the operator asked for it', () => {
  const r = statusReport(node({ vrrp: [vrrp({ state: 'fault', fault: 'maintenance', maintenance: true })] }), NOW);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.warnings, ['vrrp VI_1 is in maintenance, out of the election (kubeha maintenance off brings it back)']);
  assert.match(r.text, /^VI_1\s+eth0\s+51\s+v3\s+MAINTENANCE\s/m);
});

test('VRRP fault is a problem; a lowered priority names the failing tracks; duplicate VIPs and refused reloads warn', () => {
  const fault = statusReport(node({ vrrp: [vrrp({ state: 'fault', fault: 'interface eth0 is down' })] }), NOW);
  assert.deepEqual(fault.problems, ['vrrp VI_1 is in FAULT: interface eth0 is down']);

  const lowered = statusReport(node({
    reloads: { success: 1, failure: 1, lastErrors: ['kubeha.yaml:3:5 unknown key'] },
    vrrp: [vrrp({
      effectivePriority: 130,
      track: { backends: [{ name: 'apiservers', ok: true }], scripts: [{ name: 'chk', ok: false, weight: -20, lastExit: 1 }], interfaces: [] },
      duplicateVip: { events: 2, last: { at: '2026-11-23T11:59:00Z', kind: 'arp', detail: '10.0.0.100 from 02:00:00:00:00:09' } },
    })],
  }), NOW);
  assert.deepEqual(lowered.problems, []);
  assert.deepEqual(lowered.warnings, [
    'the last reload was refused (the previous config still runs): kubeha.yaml:3:5 unknown key',
    'vrrp VI_1 runs at priority 130 of 150: failing script chk (exit 1)',
    'vrrp VI_1: duplicate VIP seen (arp: 10.0.0.100 from 02:00:00:00:00:09) at 2026-11-23T11:59:00Z',
  ]);
  assert.match(lowered.text, /MASTER\s+130\/150/);
});

test('a second master and a sender of many dropped packets warn, naming the sender; a stray drop does not', () => {
  const hostile = statusReport(node({
    vrrp: [vrrp({
      state: 'backup',
      secondMaster: { events: 3, last: { at: '2026-11-23T11:59:30Z', source: '10.0.0.7', priority: 1, detail: '...' } },
      adverts: { sent: 0, received: 900, dropped: { checksum: 5000 }, sendErrors: 0, maxGapMs: 101, droppedBySource: [{ source: '10.0.0.66', dropped: 5000, lastReason: 'checksum', lastAt: '2026-11-23T11:59:59Z' }] },
    })],
  }), NOW);
  assert.deepEqual(hostile.problems, []);
  assert.deepEqual(hostile.warnings, [
    'vrrp VI_1: second master 10.0.0.7 (priority 1) ignored, 3 time(s), last at 2026-11-23T11:59:30Z',
    'vrrp VI_1: 5000 packets dropped from 10.0.0.66 (last: checksum) at 2026-11-23T11:59:59Z',
  ]);
  const stray = statusReport(node({
    vrrp: [vrrp({ adverts: { sent: 9, received: 0, dropped: { ttl: 2 }, sendErrors: 0, maxGapMs: 0, droppedBySource: [{ source: '10.0.0.66', dropped: 2, lastReason: 'ttl', lastAt: '2026-11-23T11:59:59Z' }] } })],
  }), NOW);
  assert.deepEqual(stray.warnings, []);
});

test('a VIP election follower waits for the VIP without a problem; the leader shows its epoch', () => {
  const election = { name: 'vip', identity: 'lb2/42', leader: false, epoch: null, transitions: 0, lastAcquireMs: null, lastKeepAliveMs: null, keepAliveFailures: 0, lastLoss: null, maintenance: false, vips: ['10.0.0.100/24'] };
  const follower = statusReport(node({ vipElection: election, frontends: [{ ...node().frontends[0]!, listening: false }] }), NOW);
  assert.deepEqual(follower.problems, []);
  assert.match(follower.text, /vip election vip: follower as lb2\/42/);
  const leader = statusReport(node({ vipElection: { ...election, leader: true, epoch: '7' } }), NOW);
  assert.match(leader.text, /LEADER \(epoch 7\)/);
});

test('table pads columns; formatAge keeps the two largest units', () => {
  assert.equal(table([['A', 'BB', 'C'], ['xxx', 'y', 'z']]), 'A    BB  C\nxxx  y   z');
  assert.deepEqual([0, 42_000, 312_000, 7_200_000, 2 * 86_400_000 + 3_600_000 * 5 + 60_000].map(formatAge), ['0s', '42s', '5m12s', '2h', '2d5h']);
});

test('a node-local LB with discovery: a DISCOVERY table, the latency tier, and a warning while the API was never reached', () => {
  const discovery = { source: 'endpointslices' as const, api: 'discovery.k8s.io/v1beta1', servers: 3, generation: 4, lastSync: '2026-11-23T11:59:50Z', lastChange: '2026-11-23T11:30:00Z', errors: 0, lastError: null, emptyIgnored: 0, via: '10.0.0.1:6443', resourceVersion: '812' };
  const ok = statusReport(node({ backends: [{ ...node().backends[0]!, balance: 'latency', discovery, servers: [server('m1', { latencyTier: 1 }), server('m2', { latencyTier: 3 })] }] }), NOW);
  assert.deepEqual(ok.warnings, []);
  assert.match(ok.text, /^DISCOVERY\s+SOURCE\s+API/m);
  assert.match(ok.text, /^apiservers\s+endpointslices\s+discovery\.k8s\.io\/v1beta1\s+3\s+4\s+10s ago\s+10\.0\.0\.1:6443\s+0$/m);
  assert.match(ok.text, /ok 2\.3 ms, tier 1$/m);
  const stuck = statusReport(node({ backends: [{ ...node().backends[0]!, discovery: { ...discovery, source: 'state-file', api: null, lastSync: null, errors: 7, lastError: '10.0.0.1:6443: HTTP 403', via: null } }] }), NOW);
  assert.match(stuck.warnings.join('\n'), /discovery has not reached the API \(7 failed attempts, last: 10\.0\.0\.1:6443: HTTP 403\); serving the 3 servers of the state file/);
  assert.match(stuck.text, /^apiservers\s+state-file\s+-\s+3\s+4\s+never\s+-\s+7 \(last: 10\.0\.0\.1:6443: HTTP 403\)$/m);
});

test('a kernel frontend: shown as kernel with its flows; its servers\' counters in their own table; not programmed or a failed update is a problem', () => {
  const kernelFrontend = {
    ...node().frontends[0]!, dataPlane: 'kernel' as const, accepted: 0, active: 4,
    kernel: { programmed: true, servers: [{ name: 'm1', packets: 120, bytes: 9000, flows: 5, established: 4 }] },
  };
  const k = { updates: 3, failures: 0, lastError: null, lastUpdate: '2026-11-23T11:59:00Z', adopted: true, holding: false, flowsDeleted: 0 };
  const r = statusReport(node({ frontends: [kernelFrontend], kernel: k }), NOW);
  assert.deepEqual(r.problems, []);
  assert.match(r.text, /^apiserver\s+10\.0\.0\.100:6443\s+kernel\s+4\s+-\s+-\s+apiservers$/m);
  assert.match(r.text, /^nftables table inet kubeha: 3 updates, 0 failed, adopted from the previous run, last 1m ago$/m);
  assert.match(r.text, /^apiserver\s+m1\s+5\s+4\s+120\s+9000$/m);

  const failed = statusReport(node({ frontends: [kernelFrontend], kernel: { ...k, failures: 1, lastError: 'nft -f -: Error: No such file' } }), NOW);
  assert.match(failed.problems.join('\n'), /the last update of the nftables table failed .*No such file/);
  const unprogrammed = statusReport(node({ frontends: [{ ...kernelFrontend, listening: false }], kernel: { ...k, lastError: 'nft: not installed' } }), NOW);
  assert.deepEqual(unprogrammed.problems, ['frontend apiserver (dataPlane: kernel) is not programmed in nftables: nft: not installed']);
  const held = statusReport(node({ frontends: [{ ...kernelFrontend, listening: false }], kernel: { ...k, holding: true } }), NOW);
  assert.deepEqual(held.problems, [], 'an adopted table waiting for the first checks still forwards');
  assert.match(held.warnings.join('\n'), /previous run forwards as it was/);
  // conntrackSync: said with the table; conntrackd not running is a problem (a failover would break the flows)
  const sync = { peer: '10.0.0.12', running: true, adopted: true, starts: 0, lastError: null };
  const synced = statusReport(node({ frontends: [kernelFrontend], kernel: k, conntrackSync: sync }), NOW);
  assert.deepEqual(synced.problems, []);
  assert.match(synced.text, /; flows replicated to 10\.0\.0\.12 by conntrackd\n/);
  const down = statusReport(node({ frontends: [kernelFrontend], kernel: k, conntrackSync: { ...sync, running: false, lastError: 'conntrackd did not start: bind: Address in use' } }), NOW);
  assert.deepEqual(down.problems, ['conntrackd does not run: the kernel frontends\' flows are not replicated to 10.0.0.12, a failover would break them (conntrackd did not start: bind: Address in use)']);
  assert.match(down.text, /by conntrackd \(NOT RUNNING\)/);
});

test('bgp: peers and announcements in a table; a peer not Established, a VIP withdrawn by tracking and a route a session cannot carry are problems, maintenance and BFD down warn', () => {
  const peer = (over: Partial<PeerStatus> = {}): PeerStatus => ({
    address: '10.8.4.1', asn: 65000, state: 'established', uptimeS: 125, holdTimeS: 9, routerId: '10.8.4.1', localAddress: '10.8.4.21', families: ['ipv4'], nextHop6: null, advertised: ['10.8.4.55/32'], withheld: [], lastError: null,
    counters: { messagesIn: 20, messagesOut: 22, updatesIn: 0, updatesOut: 1, notificationsIn: 0, notificationsOut: 0, treatAsWithdraw: 0, established: 1 }, bfd: { state: 'up', upCount: 1, detectionMs: 300 }, ...over,
  });
  const bgp = (peers: PeerStatus[], announced: boolean, reason = 'announced'): NodeState['bgp'] => ({
    localAsn: 65001, routerId: '10.8.4.21', maintenance: reason === 'maintenance', peers, bfdDropped: {},
    announcements: [{ vip: '10.8.4.55/32', announced, reason, med: null, localPref: null, prepend: 0, onInterface: announced }],
  });
  const ok = statusReport(node({ bgp: bgp([peer()], true) }), NOW);
  assert.deepEqual([ok.problems, ok.warnings], [[], []]);
  assert.match(ok.text, /^bgp AS 65001, router id 10\.8\.4\.21: 10\.8\.4\.55\/32 announced$/m);
  assert.match(ok.text, /^10\.8\.4\.1\s+65000\s+Established\s+2m5s\s+up \(300 ms\)\s+20\/22\s+10\.8\.4\.55\/32\s+-$/m);
  const bad = statusReport(node({ bgp: bgp([peer({ state: 'active', uptimeS: null, advertised: [], lastError: 'the connection closed', bfd: { state: 'down', upCount: 1, detectionMs: 0 } })], false, 'no tracked backend can serve (apiservers)') }), NOW);
  assert.deepEqual(bad.problems, ['bgp peer 10.8.4.1 (AS 65000) is active: no routes through it (the connection closed)', 'bgp: 10.8.4.55/32 is not announced: no tracked backend can serve (apiservers)']);
  const maint = statusReport(node({ bgp: bgp([peer({ bfd: { state: 'down', upCount: 0, detectionMs: 0 } })], false, 'maintenance') }), NOW);
  assert.deepEqual(maint.problems, []);
  assert.equal(maint.warnings.length, 2);
  assert.match(maint.warnings.join('\n'), /bfd with 10\.8\.4\.1 is down/);
  assert.match(maint.warnings.join('\n'), /not announced: maintenance \(kubeha maintenance off/);
  // an IPv6 VIP the router's session does not carry (it did not offer IPv6 unicast) is a problem
  const withheld = statusReport(node({ bgp: bgp([peer({ withheld: [{ prefix: '2001:db8::55/128', reason: 'the peer did not offer IPv6 unicast (RFC 4760)' }] })], true) }), NOW);
  assert.deepEqual(withheld.problems, ['bgp peer 10.8.4.1 is not sent 2001:db8::55/128: the peer did not offer IPv6 unicast (RFC 4760)']);
});
