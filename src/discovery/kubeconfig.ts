import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { parseKubeconfigIsolated } from '../config/isolated-parse.js';

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

/** Key material named by a kubeconfig: inline (base64, the `-data` keys) or a file (absolute). */
export type KubeconfigMaterial = { data: string } | { file: string };

/**
 * What a kubeconfig's current context names, before any file it points at is read: the parsed
 * YAML reduced to plain JSON (made in the config parser's process, see isolated-parse.ts).
 */
export interface KubeconfigRefs {
  server: string;
  insecure: boolean;
  ca?: KubeconfigMaterial;
  cert?: KubeconfigMaterial;
  key?: KubeconfigMaterial;
  /** The bearer token, written out or in a file (absolute). */
  token?: { text: string } | { file: string };
}

/**
 * The current context (or the only one) of a parsed kubeconfig `doc` read from `file`: the
 * cluster's server and CA, and the user's client certificate and key or token, inline or from files
 * (relative paths are relative to the kubeconfig, as kubectl has them). Throws an Error that names
 * the file and what is wrong.
 */
export function kubeconfigRefs(doc: unknown, file: string): KubeconfigRefs {
  if (!isObj(doc)) throw new Error(`the kubeconfig ${file} is not a mapping`);
  const contextName = typeof doc['current-context'] === 'string' && doc['current-context'] !== '' ? doc['current-context'] : undefined;
  const context = entry(doc, 'contexts', 'context', contextName);
  if (contextName !== undefined && !context) throw new Error(`the kubeconfig ${file} has no context "${contextName}" (its current-context)`);
  const cluster = entry(doc, 'clusters', 'cluster', typeof context?.cluster === 'string' ? context.cluster : undefined);
  if (!cluster || typeof cluster.server !== 'string') throw new Error(`the kubeconfig ${file} names no cluster with a server`);
  const user = entry(doc, 'users', 'user', typeof context?.user === 'string' ? context.user : undefined) ?? {};
  const base = dirname(file);
  const material = (dataKey: string, fileKey: string, from: Obj): KubeconfigMaterial | undefined => {
    const data = from[dataKey];
    if (typeof data === 'string' && data !== '') return { data };
    const path = from[fileKey];
    return typeof path === 'string' && path !== '' ? { file: isAbsolute(path) ? path : resolve(base, path) } : undefined;
  };
  const ca = material('certificate-authority-data', 'certificate-authority', cluster);
  const cert = material('client-certificate-data', 'client-certificate', user);
  const key = material('client-key-data', 'client-key', user);
  const tokenFile = material('', 'tokenFile', user);
  const token = typeof user.token === 'string' && user.token !== '' ? { text: user.token } : tokenFile && 'file' in tokenFile ? tokenFile : undefined;
  return {
    server: cluster.server,
    insecure: cluster['insecure-skip-tls-verify'] === true,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(token ? { token } : {}),
  };
}

/** A kubeconfig's references, parsed again only when the file changes (its YAML is read in a child process). */
const parsedKubeconfigs = new Map<string, { stamp: string; refs: Promise<KubeconfigRefs> }>();

/**
 * Reads a kubeconfig's current context and the files it names (kubeconfigRefs). The key material
 * is read again at every call: the kubelet rotates its client certificate in place. Throws an Error
 * that names the file and what is wrong.
 */
export async function readKubeconfig(file: string): Promise<KubeCredentials> {
  const st = await stat(file).catch((err: unknown) => {
    throw new Error(`cannot read the kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}`);
  });
  const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
  let parsed = parsedKubeconfigs.get(file);
  if (parsed?.stamp !== stamp) {
    parsed = { stamp, refs: parseKubeconfigIsolated(file) };
    parsedKubeconfigs.set(file, parsed);
    parsed.refs.catch(() => parsedKubeconfigs.delete(file)); // a failed parse is tried again next time
  }
  const refs = await parsed.refs;
  const read = async (m: KubeconfigMaterial | { text: string } | undefined, what: string): Promise<Buffer | undefined> => {
    if (!m) return undefined;
    if ('data' in m) return Buffer.from(m.data, 'base64');
    if ('text' in m) return Buffer.from(m.text);
    return readFile(m.file).catch((err: unknown) => {
      throw new Error(`cannot read ${what} ${m.file} of the kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}`);
    });
  };
  const [ca, cert, key, token] = await Promise.all([
    read(refs.ca, 'certificate-authority'),
    read(refs.cert, 'client-certificate'),
    read(refs.key, 'client-key'),
    read(refs.token, 'tokenFile'),
  ]);
  const tokenText = token?.toString('utf8').trim();
  return {
    server: refs.server,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(tokenText ? { token: tokenText } : {}),
    insecure: refs.insecure,
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
