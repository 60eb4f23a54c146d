// A byte relay between two kinds of socket: the full-stack demo's stage lives in its own network
// namespace, which nothing on this machine can reach by TCP, but a Unix socket in a folder both can see
// crosses it. The demo relays 127.0.0.1 ports to Unix sockets (outside) and those to the stage's
// addresses (inside).
import { connect, createServer, type ListenOptions, type NetConnectOpts, type Server, type Socket } from 'node:net';

/** Listens on `from` and pipes every connection to a new one to `to`; either side closing closes both. */
export async function relay(from: ListenOptions, to: NetConnectOpts): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(to);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  // close() also ends the connections in flight: a demo that stops leaves nothing open
  const close = server.close.bind(server);
  server.close = (cb) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(from, () => resolve());
  });
  return server;
}

/** The TCP port a server listens on. */
export const portOf = (s: Server): number => {
  const a = s.address();
  return typeof a === 'object' && a ? a.port : 0;
};
