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
  /** Administratively up with carrier. */
  up: boolean;
}

/** One instance's way onto the wire: sends from its source address and hears VRRP on its interface. */
export interface VrrpChannel {
  /** Sends a VRRP message (no IP header; the host adds one with TTL 255) to `dst`. */
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
   * Opens a channel on `iface` sending from `src`. `onPacket` gets every VRRP packet (a whole IPv4
   * packet) that arrives on the interface, for any VRID: the caller filters.
   */
  openChannel(iface: string, src: string, onPacket: (packet: Uint8Array) => void): VrrpChannel;
  /** Adds `cidr` to `iface`; adding one that is there already is not an error. */
  addAddress(iface: string, cidr: string): void;
  /** Removes `cidr` from `iface`; removing one that is not there is not an error. Returns whether it was there. */
  removeAddress(iface: string, cidr: string): boolean;
  /** Sends one gratuitous ARP frame (an Ethernet frame from arp.ts) on `iface`. */
  sendFrame(iface: string, frame: Uint8Array): void;
  /** Calls `onFrame` with every ARP frame seen on `iface` until the returned function is called. */
  watchArp(iface: string, onFrame: (frame: Uint8Array) => void): () => void;
  /** Closes every socket the host opened (their event-loop handles would keep a process alive). */
  close(): void;
}
