// kubeha and Debian's keepalived 2.2.7 over IPv6 on one bridge: VRRPv3 with IPv6 VIPs, multicast to
// ff02::12 from the link-local address and unicast between global addresses. Each elects the other,
// both ways, and takes over when the other stops; the new master's unsolicited neighbour
// advertisement reaches a third host's neighbour table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createBed, NS_ADMIN, startKeepalived, startKubeha, until, untilVrrp, VIP6, type BedHost, type VrrpSettings } from '../support/netns.js';

const MODES: [string, VrrpSettings][] = [
  ['v3 multicast at 100 ms', { version: 3, advertIntervalMs: 100, vrid: 71, family: 6 }],
  ['v3 unicast at 100 ms', { version: 3, advertIntervalMs: 100, vrid: 72, family: 6, peers: [] }],
];

/** Adverts kubeha must accept as a backup: the 5th comes past the master down interval (see keepalived-interop). */
const STAY_ADVERTS = 5;
/** keepalived complaints that would mean it rejected our packets. */
const KEEPALIVED_REJECTS = /bad checksum|invalid|ttl|hop|advertisement interval mismatch|wrong|Unknown/i;

/** The MAC `observer` has for the VIP in its neighbour table, or undefined. */
function neighbourMac(observer: BedHost): string | undefined {
  const out = execFileSync('ip', ['-n', observer.ns, '-6', 'neigh', 'show', VIP6, 'dev', 'eth0']).toString();
  return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1];
}

const macOf = (h: BedHost) => execFileSync('ip', ['-n', h.ns, '-j', 'link', 'show', 'eth0']).toString().match(/"address":"([0-9a-f:]{17})"/)![1]!;

/** Makes `observer` learn the VIP's MAC: a TCP connection to a closed port resolves the neighbour (and is refused). */
function learnVip(observer: BedHost): void {
  const script = `require('node:net').connect(9, ${JSON.stringify(VIP6)}).on('error', () => process.exit(0)).on('connect', () => process.exit(0))`;
  execFileSync('ip', ['netns', 'exec', observer.ns, process.execPath, '-e', script], { stdio: 'ignore', timeout: 10_000 });
}

for (const [mode, base] of MODES) {
  const settingsFor = (peer: BedHost): VrrpSettings => (base.peers ? { ...base, peers: [peer.ip6] } : base);
  const timeoutMs = STAY_ADVERTS * base.advertIntervalMs + 15_000;

  test(`interop IPv6 ${mode}: keepalived master, kubeha backup; kubeha takes over when keepalived stops, and its NA moves the VIP in a neighbour's table`, async (t) => {
    const bed = createBed(t, 3);
    const [a, b, observer] = bed.hosts as [BedHost, BedHost, BedHost];
    const ka = startKeepalived(bed, a, settingsFor(b), 150);
    await ka.waitLine(/Entering MASTER STATE/, 10_000);
    const kb = startKubeha(bed, b, settingsFor(a), 100, {}, NS_ADMIN);
    await kb.waitLine(/"to":"backup"/);
    const v = await untilVrrp(b, (x) => x.adverts.received >= STAY_ADVERTS || x.state !== 'backup', `${STAY_ADVERTS} IPv6 adverts accepted from keepalived`, timeoutMs);
    assert.deepEqual([v.state, v.transitions], ['backup', 1], `kubeha stayed backup behind keepalived: ${JSON.stringify(v)}\n${kb.output()}`);
    assert.deepEqual([a.hasAddress(VIP6), b.hasAddress(VIP6)], [true, false]);
    assert.doesNotMatch(ka.output(), KEEPALIVED_REJECTS);
    learnVip(observer);
    assert.equal(neighbourMac(observer), macOf(a));

    const stoppedAt = Date.now();
    ka.child.kill('SIGTERM');
    const took = await kb.waitLine(/"to":"master"/, 5000);
    assert.ok(await until(() => b.hasAddress(VIP6), 1000));
    assert.ok(await until(() => neighbourMac(observer) === macOf(b), 3000), `the observer's neighbour entry for the VIP points at kubeha's MAC after its NA: ${neighbourMac(observer)}`);
    t.diagnostic(`keepalived SIGTERM → kubeha master over IPv6: ${took.atMs - stoppedAt} ms`);
  });

  test(`interop IPv6 ${mode}: kubeha master, keepalived backup; keepalived takes over when kubeha stops`, async (t) => {
    const bed = createBed(t, 2);
    const [a, b] = bed.hosts as [BedHost, BedHost];
    const ka = startKubeha(bed, a, settingsFor(b), 150, {}, NS_ADMIN);
    await ka.waitLine(/"to":"master"/, 10_000);
    const kb = startKeepalived(bed, b, settingsFor(a), 100);
    await kb.waitLine(/Entering BACKUP STATE/, 10_000);
    // keepalived has no counters to ask: kubeha's own count of adverts sent since keepalived
    // started stands in for a sleep (past keepalived's master down interval, 3 intervals + skew).
    const sentAtStart = (await untilVrrp(a, () => true, 'a snapshot')).adverts.sent;
    await untilVrrp(a, (x) => x.adverts.sent >= sentAtStart + 6, '6 more adverts sent');
    assert.doesNotMatch(kb.output(), /Entering MASTER STATE/, `keepalived stayed backup behind kubeha:\n${kb.output()}`);
    assert.doesNotMatch(kb.output(), KEEPALIVED_REJECTS);
    assert.deepEqual([a.hasAddress(VIP6), b.hasAddress(VIP6)], [true, false]);
    const stoppedAt = Date.now();
    ka.child.kill('SIGTERM');
    const took = await kb.waitLine(/Entering MASTER STATE/, 5000);
    assert.ok(await until(() => b.hasAddress(VIP6), 1000));
    await ka.exited;
    assert.ok(!a.hasAddress(VIP6), 'kubeha released the VIP on stop');
    t.diagnostic(`kubeha SIGTERM → keepalived master over IPv6: ${took.atMs - stoppedAt} ms`);
  });
}
