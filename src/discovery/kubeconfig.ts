import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { parse } from 'yaml';

/** What kubeha takes from a kubeconfig: where its context's cluster is, and how to prove who we are. */
export interface KubeCredentials {
  /** The cluster's `server` URL. */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  /** `insecure-skip-tls-verify: true` (then the server's certificate is not verified). */
  insecure: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The entry named `name` of a kubeconfig list (`clusters`, `users`, `contexts`), its inner object. */
function entry(doc: Obj, listKey: string, innerKey: string, name: string | undefined): Obj | undefined {
  const items = Array.isArray(doc[listKey]) ? (doc[listKey] as unknown[]).filter(isObj) : [];
  const found = name === undefined ? (items.length === 1 ? items[0] : undefined) : items.find((i) => i.name === name);
  const inner = found?.[innerKey];
  return isObj(inner) ? inner : undefined;
}

/**
 * Reads a kubeconfig's current context (or its only one): the cluster's server and CA, and the
 * user's client certificate and key or token, inline (`-data`) or from files (relative paths are
 * relative to the kubeconfig, as kubectl has them). Read again at every connection: the kubelet
 * rotates its client certificate in place. Throws an Error that names the file and what is wrong.
 */
export async function readKubeconfig(file: string): Promise<KubeCredentials> {
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new Error(`cannot read the kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}`);
  });
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new Error(`the kubeconfig ${file} is not YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObj(doc)) throw new Error(`the kubeconfig ${file} is not a mapping`);
  const contextName = typeof doc['current-context'] === 'string' && doc['current-context'] !== '' ? doc['current-context'] : undefined;
  const context = entry(doc, 'contexts', 'context', contextName);
  if (contextName !== undefined && !context) throw new Error(`the kubeconfig ${file} has no context "${contextName}" (its current-context)`);
  const cluster = entry(doc, 'clusters', 'cluster', typeof context?.cluster === 'string' ? context.cluster : undefined);
  if (!cluster || typeof cluster.server !== 'string') throw new Error(`the kubeconfig ${file} names no cluster with a server`);
  const user = entry(doc, 'users', 'user', typeof context?.user === 'string' ? context.user : undefined) ?? {};
  const base = dirname(file);
  const material = async (dataKey: string, fileKey: string, from: Obj): Promise<Buffer | undefined> => {
    const data = from[dataKey];
    if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
    const path = from[fileKey];
    if (typeof path !== 'string' || path === '') return undefined;
    const full = isAbsolute(path) ? path : resolve(base, path);
    return readFile(full).catch((err: unknown) => {
      throw new Error(`cannot read ${fileKey} ${full} of the kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}`);
    });
  };
  const [ca, cert, key] = await Promise.all([
    material('certificate-authority-data', 'certificate-authority', cluster),
    material('client-certificate-data', 'client-certificate', user),
    material('client-key-data', 'client-key', user),
  ]);
  let token = typeof user.token === 'string' && user.token !== '' ? user.token : undefined;
  if (!token && typeof user.tokenFile === 'string' && user.tokenFile !== '') token = (await material('', 'tokenFile', user))?.toString('utf8').trim();
  return {
    server: cluster.server,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(token ? { token } : {}),
    insecure: cluster['insecure-skip-tls-verify'] === true,
  };
}

/**
 * The certificate check for an apiserver dialled at `dialHost`: issued by the kubeconfig's CA
 * (verified by TLS itself), and naming the address dialled, the kubeconfig's own host, or the
 * service (`kubernetes`). A kubeadm apiserver's certificate names its own address and the service;
 * the kubeconfig may name a VIP or 127.0.0.1 (the node-local LB), which the certificate need not.
 */
export function apiserverIdentity(dialHost: string, kubeconfigServer: string): (host: string, cert: PeerCertificate) => Error | undefined {
  let kubeconfigHost = '';
  try {
    kubeconfigHost = new URL(kubeconfigServer).hostname.replace(/^\[|\]$/g, '');
  } catch {
    // not a URL: the address and the service name remain
  }
  const names = [dialHost, kubeconfigHost, 'kubernetes'].filter((n) => n !== '');
  return (_host, cert) => {
    let first: Error | undefined;
    for (const n of names) {
      const err = checkServerIdentity(n, cert);
      if (!err) return undefined;
      first ??= err;
    }
    return first;
  };
}

/** How long credentials read from a kubeconfig are reused before the files are read again (they rotate). */
const CREDENTIALS_TTL_MS = 30_000;

/** A kubeconfig's credentials, read at most every 30 s (health checks run every few seconds). */
export function cachedKubeconfig(file: string): () => Promise<KubeCredentials> {
  let cached: { at: number; creds: Promise<KubeCredentials> } | undefined;
  return () => {
    const now = performance.now();
    if (!cached || now - cached.at > CREDENTIALS_TTL_MS) {
      const creds = readKubeconfig(file);
      cached = { at: now, creds };
      creds.catch(() => (cached = undefined)); // a failed read is retried at the next check
    }
    return cached.creds;
  };
}
