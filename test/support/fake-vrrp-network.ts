import type { FakeClock } from '../../src/clock.js';
import { encodeIpv4, encodeIpv6, familyOf, VRRP_MULTICAST_GROUP, VRRP_MULTICAST_GROUP6 } from '../../src/vrrp/packet.js';
import type { LinkInfo, VrrpChannel, VrrpHost } from '../../src/vrrp/vrrp-host.js';

/** One Ethernet segment in memory: hosts on it hear multicast and their own unicast, `latencyMs` later. */
export class FakeNetwork {
  readonly hosts: FakeHost[] = [];
  /** Every gratuitous ARP and unsolicited NA sent, with time and sender. */
  readonly garps: { atMs: number; host: string; frame: Uint8Array }[] = [];

  constructor(
    readonly clock: FakeClock,
    readonly latencyMs = 1,
  ) {}

  /** Adds a host with one interface `eth0` holding `ip`, the link-local fe80::N, and `ip6` when given. */
  host(name: string, ip: string, ip6?: string): FakeHost {
    const n = this.hosts.length + 1;
    const h = new FakeHost(this, name, ip, new Uint8Array([2, 0, 0, 0, 0, n]), `fe80::${n.toString(16)}`, ip6);
    this.hosts.push(h);
    return h;
  }

  deliver(from: FakeHost, src: string, dst: string, message: Uint8Array): void {
    if (from.cut) return;
    const v6 = familyOf(src) === 6;
    const packet = v6
      ? encodeIpv6({ trafficClass: 0xc0, flowLabel: 0, nextHeader: 112, hopLimit: 255, src, dst }, message)
      : encodeIpv4({ tos: 0xc0, id: 0, ttl: 255, protocol: 112, src, dst }, message);
    for (const h of this.hosts) {
      if (h === from || h.cut || h.deaf) continue;
      if (dst !== (v6 ? VRRP_MULTICAST_GROUP6 : VRRP_MULTICAST_GROUP) && dst !== h.ip && dst !== h.ip6 && dst !== h.linkLocal6) continue;
      this.clock.setTimeout(() => {
        if (!h.cut) h.receive(packet);
      }, this.latencyMs);
    }
  }

  arp(from: FakeHost, frame: Uint8Array): void {
    if (from.cut) return;
    this.garps.push({ atMs: this.clock.now(), host: from.name, frame });
    const family = frame[12] === 0x86 && frame[13] === 0xdd ? 6 : 4;
    for (const h of this.hosts) if (h !== from && !h.cut && !h.deaf) for (const [w, f] of h.arpWatchers) if (f === family) w(frame);
  }
}

/** A host on a {@link FakeNetwork}. `cut` unplugs it (a partition, or a crash when its daemon is also stopped). */
export class FakeHost implements VrrpHost {
  readonly addresses = new Set<string>();
  readonly receivers = new Set<(p: Uint8Array) => void>();
  /** Neighbour-frame watchers and the family (4: ARP, 6: NS/NA) each watches. */
  readonly arpWatchers = new Map<(f: Uint8Array) => void, 4 | 6>();
  cut = false;
  /** Hears nothing but is heard: a one-way path (multicast filtered in one direction). */
  deaf = false;
  linkUp = true;
  sent = 0;

  constructor(
    private readonly net: FakeNetwork,
    readonly name: string,
    readonly ip: string,
    readonly mac: Uint8Array,
    readonly linkLocal6: string,
    readonly ip6?: string,
  ) {}

  /** VIPs (without prefix) currently on this host. */
  get vips(): string[] {
    return [...this.addresses].map((c) => c.split('/')[0]!);
  }

  link(name: string): LinkInfo | undefined {
    if (name !== 'eth0') return undefined;
    const vips = this.vips;
    return {
      name, index: 1, mac: this.mac, up: this.linkUp, linkLocal6: this.linkLocal6,
      addresses: [this.ip, ...vips.filter((v) => familyOf(v) === 4)],
      addresses6: [...(this.ip6 ? [this.ip6] : []), ...vips.filter((v) => familyOf(v) === 6)],
    };
  }

  isLinkUp(name: string): boolean {
    return name === 'eth0' && this.linkUp;
  }

  openChannel(_iface: string, src: string, onPacket: (packet: Uint8Array) => void): VrrpChannel {
    this.receivers.add(onPacket);
    return {
      send: (message, dst) => {
        this.sent++;
        this.net.deliver(this, src, dst, message);
      },
      close: () => this.receivers.delete(onPacket),
    };
  }

  receive(packet: Uint8Array): void {
    for (const r of this.receivers) r(packet);
  }

  addAddress(_iface: string, cidr: string): void {
    this.addresses.add(cidr);
  }

  removeAddress(_iface: string, cidr: string): boolean {
    return this.addresses.delete(cidr);
  }

  sendFrame(_iface: string, frame: Uint8Array): void {
    this.net.arp(this, frame);
  }

  watchNeighbours(_iface: string, family: 4 | 6, onFrame: (frame: Uint8Array) => void): () => void {
    this.arpWatchers.set(onFrame, family);
    return () => this.arpWatchers.delete(onFrame);
  }

  close(): void {
    this.receivers.clear();
    this.arpWatchers.clear();
  }
}
