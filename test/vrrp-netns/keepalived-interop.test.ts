// kubeha and Debian's keepalived on one bridge, on the same wire: each elects the other, both ways,
// and takes over when the other stops. A backup that stays backup for several intervals proves it
// accepts the master's adverts (a dropped advert would make it master after 3 intervals and a skew).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBed, NS_ADMIN, startKeepalived, startKubeha, until, untilVrrp, VIP, type VrrpSettings } from '../support/netns.js';

const MODES: [string, VrrpSettings][] = [
  ['v2 multicast with PASS', { version: 2, advertIntervalMs: 1000, vrid: 61, authPass: 'k8s-ha' }],
  ['v3 multicast at 100 ms', { version: 3, advertIntervalMs: 100, vrid: 62 }],
  ['v2 unicast with PASS', { version: 2, advertIntervalMs: 1000, vrid: 63, authPass: 'k8s-ha', peers: [] }],
  ['v3 unicast', { version: 3, advertIntervalMs: 100, vrid: 64, peers: [] }],
];

/**
 * Adverts kubeha must accept as a backup, counted from its start, instead of a fixed wait: the 5th
 * comes 4 intervals after the 1st, past the master down interval (3 intervals + a skew under one),
 * and the snapshot that shows it would show MASTER had the adverts not reset the timer.
 */
const STAY_ADVERTS = 5;

/** A backup's Master_Down_Interval (RFC 5798): 3 intervals and the skew of its priority. */
const masterDownMs = (s: VrrpSettings, priority: number) => 3 * s.advertIntervalMs + ((256 - priority) * s.advertIntervalMs) / 256;

/** keepalived complaints that would mean it rejected our packets. */
const KEEPALIVED_REJECTS = /bad checksum|invalid|authentication|ttl|advertisement interval mismatch|wrong|Unknown/i;

for (const [mode, base] of MODES) {
  const settingsFor = (peer: string): VrrpSettings => (base.peers ? { ...base, peers: [peer] } : base);
  // keepalived has no counters to ask, so it gets an observation window: its master down interval,
  // one more advert interval and 500 ms (the former 3 × interval + 500 ms ended before that
  // interval did at 1 s adverts, 3609 ms, so there it proved nothing).
  const keepalivedStable = masterDownMs(base, 100) + base.advertIntervalMs + 500;
  const timeoutMs = STAY_ADVERTS * base.advertIntervalMs + 15_000;

  test(`interop ${mode}: keepalived master, kubeha backup; kubeha takes over when keepalived stops`, async (t) => {
    const bed = createBed(t, 2);
    const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
    const ka = startKeepalived(bed, a, settingsFor(b.ip), 150);
    await ka.waitLine(/Entering MASTER STATE/, 10_000);
    const kb = startKubeha(bed, b, settingsFor(a.ip), 100, {}, NS_ADMIN);
    await kb.waitLine(/"to":"backup"/);
    // Accepted adverts only are counted (a rejected one is a drop): STAY_ADVERTS of them, and the
    // state of that same moment still BACKUP with one transition (start-up).
    const v = await untilVrrp(b, (x) => x.adverts.received >= STAY_ADVERTS || x.state !== 'backup', `${STAY_ADVERTS} adverts accepted from keepalived`, timeoutMs);
    assert.deepEqual([v.state, v.transitions], ['backup', 1], `kubeha stayed backup behind keepalived: ${JSON.stringify(v)}\n${kb.output()}`);
    assert.ok(!kb.lines.some((l) => /"to":"master"/.test(l.line)), `kubeha stayed backup behind keepalived:\n${kb.output()}`);
    assert.deepEqual([a.hasAddress(VIP), b.hasAddress(VIP)], [true, false]);
    assert.doesNotMatch(ka.output(), KEEPALIVED_REJECTS);
    const stoppedAt = Date.now();
    ka.child.kill('SIGTERM');
    const took = await kb.waitLine(/"to":"master"/, 5000);
    assert.ok(await until(() => b.hasAddress(VIP), 1000));
    t.diagnostic(`keepalived SIGTERM → kubeha master: ${took.atMs - stoppedAt} ms`);
  });

  test(`interop ${mode}: kubeha master, keepalived backup; keepalived takes over when kubeha stops`, async (t) => {
    const bed = createBed(t, 2);
    const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
    const ka = startKubeha(bed, a, settingsFor(b.ip), 150);
    await ka.waitLine(/"to":"master"/, 10_000);
    const kb = startKeepalived(bed, b, settingsFor(a.ip), 100);
    await kb.waitLine(/Entering BACKUP STATE/, 10_000);
    await new Promise((r) => setTimeout(r, keepalivedStable));
    assert.doesNotMatch(kb.output(), /Entering MASTER STATE/, 'keepalived stayed backup behind kubeha');
    assert.doesNotMatch(kb.output(), KEEPALIVED_REJECTS);
    assert.deepEqual([a.hasAddress(VIP), b.hasAddress(VIP)], [true, false]);
    const stoppedAt = Date.now();
    ka.child.kill('SIGTERM');
    const took = await kb.waitLine(/Entering MASTER STATE/, 5000);
    assert.ok(await until(() => b.hasAddress(VIP), 1000));
    await ka.exited;
    assert.ok(!a.hasAddress(VIP), 'kubeha released the VIP on stop');
    t.diagnostic(`kubeha SIGTERM → keepalived master: ${took.atMs - stoppedAt} ms`);
  });
}
