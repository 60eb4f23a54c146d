// The BGP speaker: every peering and BFD session, the VIP addresses on the local interface, and the
// announcement decision (announce.ts) applied to all of them. Runs in the BGP thread.
import { createSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { Clock } from '../clock.js';
import type { BgpConfig, BgpPeerConfig } from '../config/schema.js';
import { type Announcement, announcesIpv6, decideAnnouncements } from './announce.js';
import { BfdLink } from './bfd-link.js';
import { BgpPeer, type BgpLog, type PeerStatus } from './bgp-peer.js';
import { setListenerMd5 } from './tcp-options.js';

/** Where announced VIPs go: RawHost (rtnetlink) in production, a fake in tests. */
export interface AddressHost {
  addAddress(iface: string, cidr: string): void;
  removeAddress(iface: string, cidr: string): boolean;
}

/** The speaker as the state API shows it. */
export interface BgpStatus {
  localAsn: number;
  routerId: string;
  maintenance: boolean;
  peers: PeerStatus[];
  announcements: (Omit<Announcement, 'route'> & { med: number | null; localPref: number | null; prepend: number; onInterface: boolean })[];
  bfdDropped: Record<string, number>;
}

/** The address the kernel would send from towards `peer` (a connected UDP socket sends nothing). */
export function sourceAddressTowards(peer: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.on('error', (err) => {
      s.close();
      reject(err);
    });
    s.connect(179, peer, () => {
      const { address } = s.address();
      s.close();
      resolve(address);
    });
  });
}

/** The MD5 keys the listener needs: those of the passive peers that have one. */
function passiveKeys(cfg: BgpConfig): { peer: string; password: string }[] {
  return cfg.peers.filter((p) => p.passive && p.password).map((p) => ({ peer: p.address, password: p.password }));
}

/** What a change of decisions is logged on: each VIP's outcome and reason. */
function decisionKey(ds: Announcement[]): string {
  return JSON.stringify(ds.map((d) => [d.vip, d.announced, d.reason]));
}

/** Every peering of the node. */
export class BgpSpeaker {
  private cfg: BgpConfig | undefined;
  private routerId = '0.0.0.0';
  private readonly peers = new Map<string, BgpPeer>();
  private readonly bfd: BfdLink;
  private listener: Server | undefined;
  private readonly backends = new Map<string, boolean>();
  private maintenance = false;
  private stopping = false;
  private decisions: Announcement[] = [];
  /** VIPs this speaker put on the interface. */
  private readonly onInterface = new Set<string>();

  constructor(
    private readonly host: AddressHost,
    private readonly clock: Clock,
    private readonly rng: () => number,
    private readonly log: BgpLog,
    private readonly onChange: () => void,
  ) {
    this.bfd = new BfdLink(clock, rng, log);
  }

  /** Reconciles with `cfg`: unchanged peers keep their sessions; changed ones restart. */
  async apply(cfg: BgpConfig): Promise<string[]> {
    const errors: string[] = [];
    const routerId = cfg.routerId ?? (await sourceAddressTowards(cfg.peers[0]!.address).catch((err: Error) => {
      errors.push(`bgp: no routerId given and no route towards ${cfg.peers[0]!.address} to take one from (${err.message}); set bgp.routerId`);
      return undefined;
    }));
    if (!routerId) return errors;
    // what the OPEN says changes: the AS, the identifier, or the families (IPv6 unicast with the first IPv6 VIP)
    const identityChanged = !this.cfg || this.cfg.localAsn !== cfg.localAsn || this.routerId !== routerId || announcesIpv6(this.cfg.announce) !== announcesIpv6(cfg.announce);
    const old = this.cfg;
    if (!old) {
      // a SIGKILLed predecessor left its VIPs on the interface: gone until this run announces them
      for (const a of cfg.announce) {
        try {
          if (this.host.removeAddress(cfg.interface, a.vip)) this.log('warn', { event: 'bgp-stale-vip', vip: a.vip }, `bgp: removed ${a.vip} left on ${cfg.interface} by an earlier run`);
        } catch (err) {
          errors.push(`bgp: cannot remove ${a.vip} from ${cfg.interface}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    this.cfg = cfg;
    this.routerId = routerId;
    const wanted = new Map(cfg.peers.map((p) => [p.address, p]));
    for (const [address, peer] of this.peers) {
      const next = wanted.get(address);
      if (identityChanged || !next || JSON.stringify(next) !== JSON.stringify(peer.cfg)) {
        this.peers.delete(address);
        this.bfd.remove(address);
        void peer.stop();
      }
    }
    // VIPs no longer configured leave the interface
    for (const vip of [...this.onInterface]) {
      if (!cfg.announce.some((a) => a.vip === vip)) this.removeVip(vip);
    }
    for (const p of cfg.peers) if (!this.peers.has(p.address)) this.addPeer(p);
    if (cfg.peers.some((p) => p.passive) && (!this.listener || old?.listenPort !== cfg.listenPort)) {
      try {
        await this.listen(cfg);
      } catch (err) {
        errors.push(`bgp: cannot listen on TCP ${cfg.listenPort} for passive peers: ${(err as Error).message}`);
      }
    } else if (this.listener) {
      if (!cfg.peers.some((p) => p.passive)) {
        this.listener.close();
        this.listener = undefined;
      } else setListenerMd5(this.listener, passiveKeys(cfg));
    }
    this.recompute();
    return errors;
  }

  private addPeer(p: BgpPeerConfig): void {
    const peer = new BgpPeer(p, { asn: this.cfg!.localAsn, routerId: this.routerId, ipv6: announcesIpv6(this.cfg!.announce) }, this.clock, this.rng, this.log, this.onChange);
    this.peers.set(p.address, peer);
    if (p.bfd) {
      this.bfd.add(p.address, { intervalMs: p.bfd.interval, multiplier: p.bfd.multiplier }, this.onChange, () => {
        peer.bfdDown();
        this.onChange();
      });
      peer.bfdStatus = () => this.bfd.status(p.address);
    }
    peer.setRoutes(this.routes());
    peer.start();
  }

  private listen(cfg: BgpConfig): Promise<void> {
    this.listener?.close();
    const server = createServer({ noDelay: true }, (socket: Socket) => {
      const from = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
      const peer = this.peers.get(from);
      if (!peer?.cfg.passive) {
        socket.destroy();
        return;
      }
      peer.accept(socket);
    });
    this.listener = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(cfg.listenPort, '0.0.0.0', () => {
        server.off('error', reject);
        server.on('error', (err) => this.log('error', { event: 'bgp-listener-failed', err: err.message }, `bgp: the listener failed: ${err.message}`));
        setListenerMd5(server, passiveKeys(cfg));
        resolve();
      });
    });
  }

  setBackend(name: string, ok: boolean): void {
    if (this.backends.get(name) === ok) return;
    this.backends.set(name, ok);
    this.recompute();
  }

  setMaintenance(on: boolean): void {
    this.maintenance = on;
    this.recompute();
  }

  private routes() {
    return this.decisions.filter((d) => d.announced).map((d) => d.route);
  }

  /** Decides again and applies: a VIP goes onto the interface before it is announced, and off after it is withdrawn. */
  private recompute(): void {
    if (!this.cfg) return;
    const before = decisionKey(this.decisions);
    this.decisions = decideAnnouncements(this.cfg.announce, { backends: this.backends, maintenance: this.maintenance, stopping: this.stopping });
    for (const d of this.decisions) if (d.announced) this.addVip(d.vip);
    const routes = this.routes();
    for (const peer of this.peers.values()) peer.setRoutes(routes);
    for (const d of this.decisions) if (!d.announced) this.removeVip(d.vip);
    if (decisionKey(this.decisions) !== before) {
      for (const d of this.decisions) this.log(d.announced ? 'info' : 'warn', { event: d.announced ? 'bgp-announce' : 'bgp-withdraw', vip: d.vip, reason: d.reason }, `bgp: ${d.vip} ${d.announced ? 'announced' : `withdrawn: ${d.reason}`}`);
      this.onChange();
    }
  }

  private addVip(vip: string): void {
    if (this.onInterface.has(vip)) return;
    try {
      this.host.addAddress(this.cfg!.interface, vip);
      this.onInterface.add(vip);
    } catch (err) {
      this.log('error', { event: 'bgp-vip-add-failed', vip, err: String(err) }, `bgp: cannot add ${vip} to ${this.cfg!.interface}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private removeVip(vip: string): void {
    if (!this.onInterface.delete(vip)) return;
    try {
      this.host.removeAddress(this.cfg!.interface, vip);
    } catch (err) {
      this.log('error', { event: 'bgp-vip-remove-failed', vip, err: String(err) }, `bgp: cannot remove ${vip} from ${this.cfg!.interface}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** SIGTERM: withdraw every VIP, then Cease every session; the VIPs leave the interface. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.recompute();
    this.bfd.close();
    await Promise.all([...this.peers.values()].map((p) => p.stop()));
    this.peers.clear();
    this.listener?.close();
    this.listener = undefined;
  }

  status(): BgpStatus {
    const now = this.clock.now();
    return {
      localAsn: this.cfg?.localAsn ?? 0,
      routerId: this.routerId,
      maintenance: this.maintenance,
      peers: [...this.peers.values()].map((p) => p.status(now)),
      announcements: this.decisions.map(({ route, ...d }) => ({ ...d, med: route.med ?? null, localPref: route.localPref ?? null, prepend: route.prepend, onInterface: this.onInterface.has(d.vip) })),
      bfdDropped: Object.fromEntries(this.bfd.dropped),
    };
  }
}
