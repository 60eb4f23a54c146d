import { connect, type TLSSocket } from 'node:tls';
import { settleOnce, type Probe } from './probe.js';
import type { CheckTls } from './tls-options.js';

/** Passes when a TLS handshake completes (and the certificate verifies, when a CA is given). */
export function tlsProbe(tls: CheckTls): Probe {
  return (target, signal) => {
    let socket: TLSSocket | undefined;
    return settleOnce(signal, () => socket?.destroy(), (done) => {
      socket = connect({ host: target.host, port: target.port, ...tls, ALPNProtocols: ['http/1.1'] });
      socket.once('secureConnect', () => done({ ok: true, detail: `tls handshake ok (${socket?.getProtocol() ?? 'tls'})` }));
      socket.once('error', (err) => done({ ok: false, detail: `tls: ${err.message}` }));
    });
  };
}
