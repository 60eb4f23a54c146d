// A helper program for the network-namespace tests: `echo PORT...` serves TCP echo on loopback
// ports; `greet HOST PORT NAME` serves on HOST:PORT, sends `NAME\n` to each client and then echoes;
// `load PORT SECONDS CONNECTIONS` keeps that many connections pushing 64 KiB round trips
// through PORT for SECONDS (bounded in time and count) and prints the totals as JSON.
import { connect, createServer } from 'node:net';

const [mode, ...args] = process.argv.slice(2);
if (mode === 'echo') {
  for (const port of args) {
    createServer((s) => {
      s.on('error', () => {});
      s.pipe(s);
    }).listen(Number(port), '127.0.0.1', () => console.log(JSON.stringify({ event: 'listening', port: Number(port) })));
  }
} else if (mode === 'greet') {
  const [host, port, name] = args as [string, string, string];
  createServer((s) => {
    s.on('error', () => {});
    s.write(`${name}\n`);
    s.pipe(s);
  }).listen(Number(port), host, () => console.log(JSON.stringify({ event: 'listening', host, port: Number(port) })));
} else if (mode === 'load') {
  const [port, seconds, connections] = args.map(Number) as [number, number, number];
  const end = Date.now() + seconds * 1000;
  const chunk = Buffer.alloc(64 * 1024, 7);
  let roundTrips = 0;
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let got = 0;
      let trips = 0;
      s.on('connect', () => s.write(chunk));
      s.on('data', (d) => {
        got += d.length;
        if (got < chunk.length) return;
        got -= chunk.length;
        roundTrips++;
        if (++trips >= 200 || Date.now() > end) return void s.end();
        s.write(chunk);
      });
      s.on('error', () => errors++);
      s.on('close', () => resolve());
    });
  const worker = async () => {
    while (Date.now() < end && roundTrips < 10_000_000) await one();
  };
  await Promise.all(Array.from({ length: connections }, worker));
  console.log(JSON.stringify({ event: 'load-done', roundTrips, errors, mib: Math.round((roundTrips * chunk.length) / 1048576) }));
}
