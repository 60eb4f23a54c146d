// Prints every ARP frame seen on an interface as a JSON line (the failover benchmark's observer).
import { parseArp } from '../src/vrrp/arp.js';
import { RawHost } from '../src/vrrp/raw-host.js';

const iface = process.argv[2] ?? 'eth0';
new RawHost().watchNeighbours(iface, 4, (frame) => {
  const claim = parseArp(frame);
  if (claim) console.log(JSON.stringify(claim));
});
console.log(JSON.stringify({ event: 'watching', iface }));
