import { readFile } from 'node:fs/promises';
import { formatHostPort, parseHostPort } from '../config/address.js';
import { parse as parseYaml } from 'yaml';

/** Where a running daemon's admin API answers, and the headers it wants. */
export interface AdminTarget {
  base: string;
  headers: Record<string, string>;
}

/** How a command names the daemon: its config file (admin.bind, admin.tokenFile) or the address itself. */
export interface AdminSelector {
  config?: string;
  admin?: string;
  tokenFile?: string;
}

/**
 * Resolves the admin API of the daemon a command talks to. A wildcard bind (0.0.0.0, ::) is reached
 * on loopback. Returns a message ending in an error code when it cannot.
 */
export async function resolveAdmin(sel: AdminSelector): Promise<AdminTarget | string> {
  let bind = sel.admin;
  let tokenFile = sel.tokenFile;
  if (!bind) {
    if (!sel.config) return 'name the daemon with --config FILE or --admin HOST:PORT [KUBEHA_ERR_USAGE]';
    // Only admin: is read, not the whole config validated: the file may be mid-edit while the
    // daemon still runs the previous one, and that is when an operator asks.
    let doc: unknown;
    try {
      doc = parseYaml(await readFile(sel.config, 'utf8'));
    } catch (err) {
      return `cannot read the admin address from ${sel.config}: ${err instanceof Error ? err.message : String(err)} [KUBEHA_ERR_CONFIG_READ]`;
    }
    const admin = (doc as { admin?: { bind?: unknown; tokenFile?: unknown } } | null)?.admin;
    if (typeof admin?.bind !== 'string') return `${sel.config} has no admin.bind, so the daemon has no API to talk to [KUBEHA_ERR_USAGE]`;
    bind = admin.bind;
    if (typeof admin.tokenFile === 'string') tokenFile ??= admin.tokenFile;
  }
  const hp = parseHostPort(bind, true);
  if (typeof hp === 'string') return `--admin ${bind}: ${hp} [KUBEHA_ERR_USAGE]`;
  const host = hp.host === '0.0.0.0' ? '127.0.0.1' : hp.host === '::' ? '::1' : hp.host;
  const headers: Record<string, string> = {};
  if (tokenFile) {
    try {
      headers.authorization = `Bearer ${(await readFile(tokenFile, 'utf8')).trim()}`;
    } catch (err) {
      return `cannot read the admin token ${tokenFile}: ${err instanceof Error ? err.message : String(err)} [KUBEHA_ERR_USAGE]`;
    }
  }
  return { base: `http://${formatHostPort(host, hp.port)}`, headers };
}

/** The message for a daemon that did not answer at `url`. */
export function unreachable(url: string, err: unknown): string {
  // fetch says only "fetch failed"; the socket's reason (ECONNREFUSED, a timeout) is its cause.
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const why = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : String(cause);
  return `cannot reach the daemon at ${url}: ${why}; is kubeha running with this config? [KUBEHA_ERR_ADMIN_UNREACHABLE]`;
}
