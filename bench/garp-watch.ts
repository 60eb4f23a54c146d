// Prints every ARP frame (family 4) or IPv6 neighbour solicitation/advertisement (family 6) seen on
// an interface as a JSON line (the failover benchmark's observer). Usage: garp-watch IFACE [4|6]
import { parseArp } from '../src/vrrp/arp.js';
import { parseNdiscClaim } from '../src/vrrp/ndisc.js';
import { RawHost } from '../src/vrrp/raw-host.js';

const iface = process.argv[2] ?? 'eth0';
const family = process.argv[3] === '6' ? 6 : 4;
new RawHost().watchNeighbours(iface, family, (frame) => {
  const claim = family === 6 ? parseNdiscClaim(frame) : parseArp(frame);
  if (claim) console.log(JSON.stringify(claim));
});
console.log(JSON.stringify({ event: 'watching', iface, family }));
