import { connect, type TLSSocket } from 'node:tls';
import { settleOnce, type Probe } from './probe.js';
import type { CheckCredentials, CheckTls } from './tls-options.js';

/** Passes when a TLS handshake completes (and the certificate verifies, when a CA is given). */
export function tlsProbe(fixed: CheckTls, credentials?: CheckCredentials): Probe {
  return async (target, signal) => {
    let tls = fixed;
    if (credentials) {
      try {
        tls = (await credentials(target.host)).tls;
      } catch (err) {
        return { ok: false, detail: err instanceof Error ? err.message : String(err) };
      }
    }
    let socket: TLSSocket | undefined;
    return settleOnce(signal, () => socket?.destroy(), (done) => {
      socket = connect({ host: target.host, port: target.port, ...tls, ALPNProtocols: ['http/1.1'] });
      socket.once('secureConnect', () => done({ ok: true, detail: `tls handshake ok (${socket?.getProtocol() ?? 'tls'})` }));
      socket.once('error', (err) => done({ ok: false, detail: `tls: ${err.message}` }));
    });
  };
}
