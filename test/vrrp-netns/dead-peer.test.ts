// tcpUserTimeout against a peer that vanished (a partition, not a closed socket: nothing answers,
// nothing resets): a busy session and an idle one (a quiet watch) through a backend with
// tcpUserTimeout end within seconds, while one through a backend without it stays up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBed, startKubehaConfig, type BedHost } from '../support/netns.js';

/** A TCP server that greets, then holds the connection and discards what it reads. */
const SERVER = `require('net').createServer((s) => { s.on('error', () => {}); s.on('data', () => {}); s.write('hello\\n'); }).listen(17001, '0.0.0.0', () => console.log('listening'));`;

/** Clients through kubeha: one per [name, port, busy]; prints "greeted NAME" and "closed NAME EPOCH_MS". */
const CLIENTS = (sessions: [string, number, boolean][]) => `
const net = require('net');
for (const [name, port, busy] of ${JSON.stringify(sessions)}) {
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  c.once('data', () => {
    console.log('greeted ' + name);
    if (busy) setInterval(() => c.write('x'), 200);
  });
  c.on('close', () => console.log('closed ' + name + ' ' + Date.now()));
}
setInterval(() => {}, 1000);
`;

test('tcpUserTimeout: sessions to a partitioned server end within seconds, busy or idle; without it they stay up', async (t) => {
  const bed = createBed(t, 2);
  const [server, lb] = bed.hosts as [BedHost, BedHost];
  const srv = server.spawn(process.execPath, ['-e', SERVER]);
  await srv.waitLine(/listening/, 10_000);
  const backend = (name: string, extra: Record<string, unknown>) => ({
    name, healthCheck: { type: 'tcp', interval: '1h' }, ...extra, servers: [{ name: 's', address: `${server.ip}:17001` }],
  });
  const k = startKubehaConfig(bed, lb, {
    frontends: [{ name: 'bounded', bind: '127.0.0.1:17000', backend: 'bounded' }, { name: 'plain', bind: '127.0.0.1:17002', backend: 'plain' }],
    backends: [backend('bounded', { tcpUserTimeout: '2s' }), backend('plain', {})],
    admin: { bind: '127.0.0.1:9000' },
  });
  await k.waitLine(/"event":"started"/, 20_000);
  const clients = lb.spawn(process.execPath, ['-e', CLIENTS([['busy', 17000, true], ['idle', 17000, false], ['plain', 17002, true]])]);
  for (const name of ['busy', 'idle', 'plain']) await clients.waitLine(new RegExp(`greeted ${name}`), 10_000);

  const cutAt = Date.now();
  bed.plug(0, false); // the server's port leaves the bridge: its packets go nowhere, nothing answers
  const busy = await clients.waitLine(/closed busy/, 15_000);
  const idle = await clients.waitLine(/closed idle/, 15_000);
  const after = (l: { line: string }) => Number(l.line.split(' ')[2]) - cutAt;
  t.diagnostic(`after the partition: the busy session ended in ${after(busy)} ms, the idle one in ${after(idle)} ms (tcpUserTimeout 2s)`);
  assert.ok(after(busy) < 6000, `busy: ${after(busy)} ms`);
  assert.ok(after(idle) < 8000, `idle: ${after(idle)} ms`);
  assert.ok(!clients.lines.some((l) => /closed plain/.test(l.line)), 'the session without tcpUserTimeout is still up (the kernel retransmits for minutes)');
});
