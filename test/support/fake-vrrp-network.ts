import type { FakeClock } from '../../src/clock.js';
import { encodeIpv4, VRRP_MULTICAST_GROUP } from '../../src/vrrp/packet.js';
import type { LinkInfo, VrrpChannel, VrrpHost } from '../../src/vrrp/vrrp-host.js';

/** One Ethernet segment in memory: hosts on it hear multicast and their own unicast, `latencyMs` later. */
export class FakeNetwork {
  readonly hosts: FakeHost[] = [];
  /** Every gratuitous ARP sent, with time and sender. */
  readonly garps: { atMs: number; host: string; frame: Uint8Array }[] = [];

  constructor(
    readonly clock: FakeClock,
    readonly latencyMs = 1,
  ) {}

  /** Adds a host with one interface `eth0` holding `ip`. */
  host(name: string, ip: string): FakeHost {
    const h = new FakeHost(this, name, ip, new Uint8Array([2, 0, 0, 0, 0, this.hosts.length + 1]));
    this.hosts.push(h);
    return h;
  }

  deliver(from: FakeHost, src: string, dst: string, message: Uint8Array): void {
    if (from.cut) return;
    const packet = encodeIpv4({ tos: 0xc0, id: 0, ttl: 255, protocol: 112, src, dst }, message);
    for (const h of this.hosts) {
      if (h === from || h.cut || h.deaf) continue;
      if (dst !== VRRP_MULTICAST_GROUP && dst !== h.ip) continue;
      this.clock.setTimeout(() => {
        if (!h.cut) h.receive(packet);
      }, this.latencyMs);
    }
  }

  arp(from: FakeHost, frame: Uint8Array): void {
    if (from.cut) return;
    this.garps.push({ atMs: this.clock.now(), host: from.name, frame });
    for (const h of this.hosts) if (h !== from && !h.cut && !h.deaf) for (const w of h.arpWatchers) w(frame);
  }
}

/** A host on a {@link FakeNetwork}. `cut` unplugs it (a partition, or a crash when its daemon is also stopped). */
export class FakeHost implements VrrpHost {
  readonly addresses = new Set<string>();
  readonly receivers = new Set<(p: Uint8Array) => void>();
  readonly arpWatchers = new Set<(f: Uint8Array) => void>();
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
  ) {}

  /** VIPs (without prefix) currently on this host. */
  get vips(): string[] {
    return [...this.addresses].map((c) => c.split('/')[0]!);
  }

  link(name: string): LinkInfo | undefined {
    if (name !== 'eth0') return undefined;
    return { name, index: 1, mac: this.mac, addresses: [this.ip, ...this.vips], up: this.linkUp };
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

  watchArp(_iface: string, onFrame: (frame: Uint8Array) => void): () => void {
    this.arpWatchers.add(onFrame);
    return () => this.arpWatchers.delete(onFrame);
  }

  close(): void {
    this.receivers.clear();
    this.arpWatchers.clear();
  }
}
