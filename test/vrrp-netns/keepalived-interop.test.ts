// kubeha and Debian's keepalived on one bridge, on the same wire: each elects the other, both ways,
// and takes over when the other stops. A backup that stays backup for several intervals proves it
// accepts the master's adverts (a dropped advert would make it master after 3 intervals).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBed, startKeepalived, startKubeha, until, VIP, type VrrpSettings } from '../support/netns.js';

const MODES: [string, VrrpSettings][] = [
  ['v2 multicast with PASS', { version: 2, advertIntervalMs: 1000, vrid: 61, authPass: 'k8s-ha' }],
  ['v3 multicast at 100 ms', { version: 3, advertIntervalMs: 100, vrid: 62 }],
  ['v2 unicast with PASS', { version: 2, advertIntervalMs: 1000, vrid: 63, authPass: 'k8s-ha', peers: [] }],
  ['v3 unicast', { version: 3, advertIntervalMs: 100, vrid: 64, peers: [] }],
];

/** keepalived complaints that would mean it rejected our packets. */
const KEEPALIVED_REJECTS = /bad checksum|invalid|authentication|ttl|advertisement interval mismatch|wrong|Unknown/i;

for (const [mode, base] of MODES) {
  const settingsFor = (peer: string): VrrpSettings => (base.peers ? { ...base, peers: [peer] } : base);
  const stable = Math.max(3 * base.advertIntervalMs + 500, 1000);

  test(`interop ${mode}: keepalived master, kubeha backup; kubeha takes over when keepalived stops`, async (t) => {
    const bed = createBed(t, 2);
    const [a, b] = bed.hosts as [typeof bed.hosts[0], typeof bed.hosts[0]];
    const ka = startKeepalived(bed, a, settingsFor(b.ip), 150);
    await ka.waitLine(/Entering MASTER STATE/, 10_000);
    const kb = startKubeha(bed, b, settingsFor(a.ip), 100);
    await kb.waitLine(/"to":"backup"/);
    await new Promise((r) => setTimeout(r, stable));
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
    await new Promise((r) => setTimeout(r, stable));
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
