// What the VRRP driver needs from the host, behind one interface: the real one (raw sockets,
// rtnetlink and packet sockets through koffi, in raw-host.ts) and an in-memory network for tests
// (test/support/fake-vrrp-network.ts).

/** An interface as VRRP sees it. */
export interface LinkInfo {
  name: string;
  index: number;
  /** The hardware address, 6 bytes. */
  mac: Uint8Array;
  /** IPv4 addresses on the interface, without prefix, in the kernel's order (primary first). */
  addresses: string[];
  /** IPv6 addresses of global scope (ULA included), without prefix, in RFC 5952 text. */
  addresses6: string[];
  /** The IPv6 link-local address (fe80::/10), which VRRPv3 over IPv6 sends from; undefined when the interface has none. */
  linkLocal6: string | undefined;
  /** Administratively up with carrier. */
  up: boolean;
}

/** One instance's way onto the wire: sends from its source address and hears VRRP on its interface. */
export interface VrrpChannel {
  /** Sends a VRRP message (no IP header; the host adds one with TTL or hop limit 255) to `dst`. */
  send(message: Uint8Array, dst: string): void;
  close(): void;
}

/** The host side of VRRP. Every method is synchronous and cheap (no process spawns). */
export interface VrrpHost {
  /** The interface `name`, or undefined when it does not exist. */
  link(name: string): LinkInfo | undefined;
  /** Whether `name` is up with carrier: the cheap part of {@link link}, polled for tracking. */
  isLinkUp(name: string): boolean;
  /**
   * Opens a channel on `iface` sending from `src` (IPv4, or IPv6: then VRRP over IPv6). `onPacket`
   * gets every VRRP packet of that family (a whole IP packet, header included) that arrives on the
   * interface, for any VRID: the caller filters.
   */
  openChannel(iface: string, src: string, onPacket: (packet: Uint8Array) => void): VrrpChannel;
  /** Adds `cidr` to `iface` (an IPv6 one without duplicate address detection); adding one that is there already is not an error. */
  addAddress(iface: string, cidr: string): void;
  /** Removes `cidr` from `iface`; removing one that is not there is not an error. Returns whether it was there. */
  removeAddress(iface: string, cidr: string): boolean;
  /** Sends one Ethernet frame on `iface`: a gratuitous ARP (arp.ts) or an unsolicited neighbour advertisement (ndisc.ts). */
  sendFrame(iface: string, frame: Uint8Array): void;
  /**
   * Calls `onFrame` with every neighbour frame other hosts send on `iface` (family 4: ARP; 6: IPv6
   * neighbour solicitations and advertisements), as whole Ethernet frames, until the returned
   * function is called.
   */
  watchNeighbours(iface: string, family: 4 | 6, onFrame: (frame: Uint8Array) => void): () => void;
  /** Closes every socket the host opened (their event-loop handles would keep a process alive). */
  close(): void;
}
