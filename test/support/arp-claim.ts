// `arp-claim IFACE IP`: sends one gratuitous ARP for IP from IFACE's own MAC, as a host that
// (wrongly) claims the address would. Used by the duplicate-VIP tests inside a namespace.
import { garpFrame } from '../../src/vrrp/arp.js';
import { RawHost } from '../../src/vrrp/raw-host.js';

const [iface = 'eth0', ip = ''] = process.argv.slice(2);
const host = new RawHost();
const link = host.link(iface);
if (!link) throw new Error(`no interface ${iface}`);
host.sendFrame(iface, garpFrame(link.mac, ip));
host.close();
console.log(JSON.stringify({ event: 'claimed', iface, ip }));
