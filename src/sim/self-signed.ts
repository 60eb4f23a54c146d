import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A PEM certificate and its key. */
export interface CertPair {
  cert: string;
  key: string;
}

/**
 * Makes a self-signed P-256 certificate with the given SANs (e.g. `IP:127.0.0.1`, `DNS:localhost`)
 * using the openssl command (Node has no X.509 writer of its own).
 */
export async function selfSignedCert(commonName: string, sans: string[] = ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost']): Promise<CertPair> {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-cert-'));
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '825',
      '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=${sans.join(',')}`, '-keyout', keyFile, '-out', certFile,
    ]);
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
