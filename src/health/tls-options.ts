import { readFile } from 'node:fs/promises';
import type { HealthCheckConfig } from '../config/schema.js';

/** TLS material for checks, loaded from the files a health check names. */
export interface CheckTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  /** Verify the server's certificate only when a CA is given (otherwise any cert passes, as `verify none`). */
  rejectUnauthorized: boolean;
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
