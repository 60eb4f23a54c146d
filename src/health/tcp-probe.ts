import { connect, type Socket } from 'node:net';
import { settleOnce, type Probe } from './probe.js';

/** Passes when a TCP connection is accepted (HAProxy's plain `check`). */
export const tcpProbe: Probe = (target, signal) => {
  let socket: Socket | undefined;
  return settleOnce(signal, () => socket?.destroy(), (done) => {
    socket = connect({ host: target.host, port: target.port });
    socket.once('connect', () => done({ ok: true, detail: 'tcp connect ok' }));
    socket.once('error', (err) => done({ ok: false, detail: `tcp: ${err.message}` }));
  });
};
