// Run by bench/kernel.ts inside the client namespace: `node hold-client.js HOST PORT N` opens N
// connections to HOST:PORT, each with one answered keep-alive request (so a proxy's upstream
// connection exists too), prints "ready", and keeps them open until stdin closes.
import { connect, type Socket } from 'node:net';

const [host, portText, nText] = process.argv.slice(2) as [string, string, string];
const n = Number(nText);
const sockets: Socket[] = [];
const open = () => new Promise<void>((resolve, reject) => {
  const s = connect(Number(portText), host, () => s.write('GET /small HTTP/1.1\r\nHost: bench\r\n\r\n'));
  s.once('data', () => resolve());
  s.once('error', reject);
  sockets.push(s);
});
for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: Math.min(100, n - i) }, open));
process.stdout.write('ready\n');
process.stdin.resume().on('end', () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
