// Run inside a network namespace by test/kernel-netns: `node kernel-probe.js PORT VIP:VPORT N NAME=IP...`
// starts a TCP server per NAME on IP:PORT that answers its name, makes N connections one after
// another to VIP:VPORT, and prints one JSON line: how many each server answered and the errors.
// With N = 0 it keeps one connection open, prints {"open":true}, and echoes each line on stdin
// through it (the established flow across a table replacement).
import { connect, createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';

const [portArg, vipArg, nArg, ...named] = process.argv.slice(2);
const port = Number(portArg);
const [vip, vport] = [vipArg!.split(':')[0]!, Number(vipArg!.split(':')[1])];
const servers: Server[] = [];

async function listen(): Promise<void> {
  for (const pair of named) {
    const [name, ip] = pair.split('=') as [string, string];
    const s = createServer((c) => {
      c.on('error', () => c.destroy());
      c.on('data', (d) => c.write(`${name} ${d.toString()}`));
      c.write(`${name}\n`);
    });
    servers.push(s);
    await new Promise<void>((resolve) => s.listen(port, ip, resolve));
  }
}

/** Connects once: the name of the server that answered, or the error code. */
function once(): Promise<{ name?: string; error?: string }> {
  return new Promise((resolve) => {
    const c = connect(vport, vip);
    c.setTimeout(5000, () => c.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    c.once('data', (d) => {
      resolve({ name: d.toString().trim() });
      c.destroy();
    });
    c.once('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

await listen();
const n = Number(nArg);
if (n > 0) {
  const answered: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await once();
    if (r.name) answered[r.name] = (answered[r.name] ?? 0) + 1;
    else errors[r.error!] = (errors[r.error!] ?? 0) + 1;
  }
  process.stdout.write(`${JSON.stringify({ answered, errors })}\n`);
  for (const s of servers) s.close();
} else {
  const c = connect(vport, vip);
  c.once('data', (d) => {
    process.stdout.write(`${JSON.stringify({ open: true, first: d.toString().trim() })}\n`);
    c.on('data', (more) => process.stdout.write(`${JSON.stringify({ echo: more.toString().trim() })}\n`));
    createInterface({ input: process.stdin }).on('line', (line) => c.write(line)).on('close', () => process.exit(0));
  });
  c.on('error', (err) => {
    process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
    process.exit(1);
  });
}
