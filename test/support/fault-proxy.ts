import { connect, createServer, type Server, type Socket } from 'node:net';
import type { TestContextLike } from './tcp.js';

/**
 * A TCP proxy on loopback in front of `target` that can cut the path in both directions: `cut()`
 * freezes every open connection (bytes are swallowed, nothing is closed) and accepts new ones into
 * the same black hole, as a network partition does; `heal()` lets new connections through again.
 */
export interface FaultProxy {
  port: number;
  url: string;
  cut(): void;
  heal(): void;
}

export async function faultProxy(t: TestContextLike, targetPort: number): Promise<FaultProxy> {
  let cut = false;
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    client.on('error', () => {});
    if (cut) return void client.on('data', () => {});
    const upstream = connect(targetPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.on('close', () => pairs.delete(pair));
    client.on('data', (d) => {
      if (!cut) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!cut) client.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  t.after(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    server.close();
  });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    cut: () => void (cut = true),
    heal: () => {
      cut = false;
      // Frozen connections stay frozen (their bytes are lost); clients time out and reconnect.
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
    },
  };
}
