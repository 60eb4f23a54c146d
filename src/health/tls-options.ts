import { readFile } from 'node:fs/promises';
import type { PeerCertificate } from 'node:tls';
import type { HealthCheckConfig } from '../config/schema.js';
import { apiserverIdentity, cachedKubeconfig } from '../discovery/kubeconfig.js';

/** TLS material for checks, loaded from the files a health check names. */
export interface CheckTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  /** Verify the server's certificate only when a CA is given (otherwise any cert passes, as `verify none`). */
  rejectUnauthorized: boolean;
  /** How the certificate's names are checked, when not against the address dialled (a kubeconfig's apiservers). */
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

/** A check's TLS settings and token for one target, read when the check runs (a kubeconfig's rotate). */
export type CheckCredentials = (dialHost: string) => Promise<{ tls: CheckTls; token: string | undefined }>;

/**
 * Credentials from a kubeconfig (CA, client certificate and key, token), re-read every 30 s, with the
 * apiserver certificate check of discovery. `serverName` (the check's own) wins over that check.
 */
export function kubeconfigCredentials(file: string, serverName: string | undefined): CheckCredentials {
  const read = cachedKubeconfig(file);
  return async (dialHost) => {
    const c = await read();
    const tls: CheckTls = {
      ...(c.ca ? { ca: c.ca } : {}),
      ...(c.cert ? { cert: c.cert } : {}),
      ...(c.key ? { key: c.key } : {}),
      ...(serverName ? { servername: serverName } : { checkServerIdentity: apiserverIdentity(dialHost, c.server) }),
      rejectUnauthorized: !c.insecure,
    };
    return { tls, token: c.token };
  };
}

/** Reads the CA, client cert and key a check names. Throws with the file name when one is unreadable. */
export async function loadCheckTls(cfg: HealthCheckConfig): Promise<CheckTls> {
  const read = async (file: string | undefined, what: string) => {
    if (!file) return undefined;
    try {
      return await readFile(file);
    } catch (err) {
      throw new Error(`cannot read the health check ${what} ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const [ca, cert, key] = await Promise.all([read(cfg.caFile, 'caFile'), read(cfg.certFile, 'certFile'), read(cfg.keyFile, 'keyFile')]);
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(cfg.serverName ? { servername: cfg.serverName } : {}),
    rejectUnauthorized: ca !== undefined,
  };
}
