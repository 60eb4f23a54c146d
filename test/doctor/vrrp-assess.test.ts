// kubeha doctor's VRRP step, pure: adverts heard on the segment in, findings out (a table), plus
// the codec side (any password is read) and the listen driver's refusals as data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assessVrrp, type Finding, type HeardAdvert, type VrrpExpectation, type VrrpObservation } from '../../src/doctor/assess.js';
import { listenVrrp, readAnyAdvert } from '../../src/doctor/probe.js';
import { KubehaError } from '../../src/errors.js';
import { encodeAdvert, encodeIpv4, isRejected, VRRP_MULTICAST_GROUP, type Advert } from '../../src/vrrp/packet.js';
import type { LinkInfo, VrrpChannel, VrrpHost } from '../../src/vrrp/vrrp-host.js';

const VIP = '10.8.4.55';
const WANT: VrrpExpectation = {
  virtualRouterId: 51, derived: false, vip: VIP, version: 3, advertIntervalCs: 10, authPass: '', unicast: false,
  lbHosts: [{ name: 'lb1', ip: '10.8.4.11' }, { name: 'lb2', ip: '10.8.4.12' }], localAddresses: ['10.8.4.30'],
};

const adv = (src: string, vrid: number, over: Partial<HeardAdvert> = {}): HeardAdvert => ({
  src, vrid, version: 3, priority: 150, advertIntervalCs: 10, addresses: [VIP], authPass: '', count: 12, ...over,
});
const heard = (...hs: HeardAdvert[]): VrrpObservation => ({ interface: 'eth0', listenedMs: 1200, heard: hs, dropped: {} });
const shown = (fs: Finding[]) => fs.map((f) => `${f.verdict} ${f.check} ${f.target}`);

const CASES: { name: string; o: VrrpObservation; want?: Partial<VrrpExpectation>; findings: string[]; matches?: [string, RegExp][] }[] = [
  {
    name: 'our master heard with our VRID and VIP, nothing else on the segment',
    o: heard(adv('10.8.4.11', 51)),
    findings: ['ok vrrp-vrid lb1', 'ok vrrp-vrids-in-use eth0'],
    matches: [
      ['vrrp-vrid', /^10\.8\.4\.11 advertises VRID 51 as master \(priority 150, VIP 10\.8\.4\.55, v3 every 100 ms\): 12 adverts in 1\.2 s$/],
      ['vrrp-vrids-in-use', /^no other VRID heard on eth0 in 1\.2 s \(ours is 51\)$/],
    ],
  },
  {
    name: 'another cluster on the segment uses our VRID: a failure that names it, its VIP and the VRIDs in use',
    o: heard(adv('10.8.4.11', 51), adv('10.8.4.77', 51, { priority: 100, addresses: ['10.8.4.200'] }), adv('10.8.4.90', 1, { addresses: ['10.8.4.201'] })),
    findings: ['fail vrrp-foreign-vrid-user 10.8.4.77', 'ok vrrp-vrid lb1', 'ok vrrp-vrids-in-use eth0'],
    matches: [
      ['vrrp-foreign-vrid-user', /^10\.8\.4\.77 advertises VRID 51 \(priority 100, VIP 10\.8\.4\.200\) but is not an LB host of this inventory: two clusters on one L2 segment share the VRID/],
      ['vrrp-vrids-in-use', /^other VRIDs in use on eth0: 1 \(10\.8\.4\.90: VIP 10\.8\.4\.201\); ours is 51, the lowest free one 2$/],
    ],
  },
  {
    name: 'a derived VRID taken by a foreign router: the finding says it was derived, the fix lists what is in use',
    o: heard(adv('10.8.4.77', 51, { version: 2, advertIntervalCs: 100, addresses: ['10.8.4.200', '10.8.4.201'], authPass: 'x' })),
    want: { derived: true },
    findings: ['fail vrrp-foreign-vrid-user 10.8.4.77', 'warn vrrp-vrid VRID 51', 'ok vrrp-vrids-in-use eth0'],
    matches: [['vrrp-foreign-vrid-user', /VRID 51 \(derived from the cluster name\) \(priority 150, VIPs 10\.8\.4\.200, 10\.8\.4\.201\)/]],
  },
  {
    name: 'an LB host advertises our VRID with another VIP: its config is not this inventory\'s',
    o: heard(adv('10.8.4.12', 51, { addresses: ['10.8.4.56'] })),
    findings: ['fail vrrp-advert-mismatch lb2', 'ok vrrp-vrids-in-use eth0'],
    matches: [['vrrp-advert-mismatch', /^10\.8\.4\.12 advertises VRID 51 with VIP 10\.8\.4\.56 where the inventory has VIP 10\.8\.4\.55$/]],
  },
  {
    name: 'v2: another interval and another password on an LB host are named (the password is not)',
    o: heard(adv('10.8.4.11', 51, { version: 2, advertIntervalCs: 200, authPass: 'wrong' })),
    want: { version: 2, advertIntervalCs: 100, authPass: 'k8s-ha' },
    findings: ['fail vrrp-advert-mismatch lb1', 'ok vrrp-vrids-in-use eth0'],
    matches: [['vrrp-advert-mismatch', /an advert interval of 2000 ms where the inventory has 1000 ms \(v2 peers drop each other's adverts\); another password than vrrp\.authPass$/]],
  },
  {
    name: 'two LB hosts advertise throughout the window: two masters',
    o: heard(adv('10.8.4.11', 51), adv('10.8.4.12', 51, { priority: 140 })),
    findings: ['ok vrrp-vrid lb1', 'ok vrrp-vrid lb2', 'warn vrrp-vrid VRID 51', 'ok vrrp-vrids-in-use eth0'],
  },
  {
    name: 'a failover during the listen (one last advert of the old master) is no split brain',
    o: heard(adv('10.8.4.11', 51, { count: 1, priority: 0 }), adv('10.8.4.12', 51, { priority: 140 })),
    findings: ['ok vrrp-vrid lb1', 'ok vrrp-vrid lb2', 'ok vrrp-vrids-in-use eth0'],
  },
  {
    name: 'nothing heard for our VRID from a host that is no LB host: no master on this segment',
    o: { interface: 'eth0', listenedMs: 1200, heard: [adv('10.8.4.90', 7)], dropped: { checksum: 2 } },
    findings: ['warn vrrp-vrid VRID 51', 'ok vrrp-vrids-in-use eth0'],
    matches: [
      ['vrrp-vrid', /no LB host advertised VRID 51 on eth0 in 1\.2 s: no master is running VRRP on this segment, or this host is not on the VIP's segment/],
      ['vrrp-vrids-in-use', /^other VRIDs in use on eth0: 7 \(10\.8\.4\.90: VIP 10\.8\.4\.55\); ours is 51, the lowest free one 1; 2 unreadable protocol-112 packets \(checksum 2\)$/],
    ],
  },
  {
    name: 'run on the master itself: its own adverts do not come back, and it holds the VIP',
    o: heard(),
    want: { localAddresses: ['10.8.4.11', VIP] },
    findings: ['ok vrrp-vrid lb1', 'ok vrrp-vrids-in-use eth0'],
  },
  {
    name: 'unicast VRRP seen from a host that is no peer: nothing to hear, a skip',
    o: heard(),
    want: { unicast: true },
    findings: ['skip vrrp-vrid VRID 51', 'ok vrrp-vrids-in-use eth0'],
  },
  {
    name: 'no permission: a warning that the check was skipped, with the fix',
    o: { interface: 'eth0', verdict: 'warn', skipped: 'the VRRP check was skipped: socket(AF_INET, SOCK_RAW, 112): operation not permitted', fix: 'run doctor as root' },
    findings: ['warn vrrp-listen eth0'],
  },
  {
    name: '--no-vrrp',
    o: { verdict: 'skip', skipped: 'not asked (--no-vrrp)' },
    findings: ['skip vrrp-listen vrrp'],
  },
];

for (const c of CASES) {
  test(`doctor vrrp: ${c.name}`, () => {
    const fs = assessVrrp(c.o, { ...WANT, ...c.want });
    assert.deepEqual(shown(fs), c.findings, JSON.stringify(fs, null, 2));
    for (const [check, re] of c.matches ?? []) assert.match(fs.find((f) => f.check === check)!.message, re);
    for (const f of fs) if (f.verdict === 'fail' || f.verdict === 'warn') assert.ok(f.fix, `${f.check} says what to do`);
  });
}

test('doctor vrrp: the foreign-user fix names a free VRID and every VRID in use', () => {
  const fs = assessVrrp(heard(adv('10.8.4.77', 51), adv('10.8.4.90', 1), adv('10.8.4.91', 2)), WANT);
  assert.equal(fs[0]!.fix, 'set vrrp.virtualRouterId to a free one, e.g. 3 (seen in use on eth0: 1, 2, 51), then kubeha render and redeploy the LB hosts\' configs; or renumber the other router');
});

const packet = (src: string, a: Partial<Advert>) => {
  const advert: Advert = { version: 3, vrid: 51, priority: 100, advertIntervalCs: 100, addresses: ['10.8.4.200'], authPass: '', ...a };
  return encodeIpv4({ tos: 0xc0, id: 0, ttl: 255, protocol: 112, src, dst: VRRP_MULTICAST_GROUP }, encodeAdvert(advert, { src, dst: VRRP_MULTICAST_GROUP }));
};

test('doctor vrrp: adverts are read whatever their password; garbage is a rejection', () => {
  const v2 = readAnyAdvert(packet('10.8.4.77', { version: 2, authPass: 'secret' }));
  assert.ok(!isRejected(v2));
  assert.deepEqual([v2.ip.src, v2.advert.vrid, v2.advert.authPass], ['10.8.4.77', 51, 'secret']);
  const v3 = readAnyAdvert(packet('10.8.4.78', {}));
  assert.ok(!isRejected(v3) && v3.advert.version === 3);
  const bad = packet('10.8.4.78', {});
  bad[bad.length - 1]! ^= 0xff;
  const r = readAnyAdvert(bad);
  assert.ok(isRejected(r));
  assert.equal(r.rejected, 'checksum');
});

/** A VrrpHost with one interface that delivers `packets` as soon as a channel opens, or refuses to open one. */
function stubHost(packets: Uint8Array[], refuse?: KubehaError): VrrpHost & { closed: boolean } {
  const link: LinkInfo = { name: 'eth0', index: 2, mac: new Uint8Array(6), addresses: ['10.8.4.30'], addresses6: [], linkLocal6: undefined, up: true };
  return {
    closed: false,
    link: (name) => (name === 'eth0' ? link : undefined),
    isLinkUp: () => true,
    openChannel(_iface, _src, onPacket): VrrpChannel {
      if (refuse) throw refuse;
      for (const p of packets) onPacket(p);
      return { send() {}, close() {} };
    },
    addAddress() {},
    removeAddress: () => false,
    sendFrame() {},
    watchNeighbours: () => () => {},
    close() {
      this.closed = true;
    },
  };
}

test('doctor vrrp: the listen counts alike adverts per sender and VRID, and the unreadable by reason', async () => {
  const bad = packet('10.8.4.9', {});
  bad[bad.length - 1]! ^= 0xff;
  const host = stubHost([packet('10.8.4.77', {}), packet('10.8.4.77', {}), packet('10.8.4.90', { vrid: 7 }), bad]);
  const o = await listenVrrp('eth0', 1, host);
  assert.ok(!('skipped' in o));
  assert.deepEqual(o.heard.map((h) => `${h.src} ${h.vrid} ×${h.count}`), ['10.8.4.77 51 ×2', '10.8.4.90 7 ×1']);
  assert.deepEqual(o.dropped, { checksum: 1 });
  assert.ok(host.closed, 'the sockets are closed');
});

test('doctor vrrp: no permission or no interface is a finding, never a throw', async () => {
  const refused = stubHost([], new KubehaError('KUBEHA_ERR_VRRP_PERMISSION', 'socket(AF_INET, SOCK_RAW, 112): operation not permitted', 'run as root'));
  const o = await listenVrrp('eth0', 1, refused);
  assert.ok('skipped' in o);
  assert.equal(o.verdict, 'warn');
  assert.match(o.skipped, /^the VRRP check was skipped: socket\(AF_INET, SOCK_RAW, 112\): operation not permitted \(listening for adverts takes a raw socket, which needs root or CAP_NET_RAW\)/);
  assert.ok(refused.closed);
  const missing = await listenVrrp('bond7', 1, stubHost([]));
  assert.deepEqual(['skipped' in missing && missing.verdict, 'skipped' in missing && missing.skipped], ['skip', 'this host has no interface bond7, so the VRRP check did not listen']);
});
