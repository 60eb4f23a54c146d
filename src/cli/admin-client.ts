import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { formatHostPort, IMPLICIT_ADMIN_BIND, parseHostPort } from '../config/address.js';
import { parse as parseYaml } from 'yaml';
import type { NodeState } from '../observe/node-state.js';

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
  if (!bind && !sel.config) bind = IMPLICIT_ADMIN_BIND; // a daemon without an admin section answers there
  if (!bind && sel.config) {
    // Only admin: is read, not the whole config validated: the file may be mid-edit while the
    // daemon still runs the previous one, and that is when an operator asks.
    let doc: unknown;
    try {
      doc = parseYaml(await readFile(sel.config, 'utf8'));
    } catch (err) {
      return `cannot read the admin address from ${sel.config}: ${err instanceof Error ? err.message : String(err)} [KUBEHA_ERR_CONFIG_READ]`;
    }
    const admin = (doc as { admin?: { bind?: unknown; tokenFile?: unknown } } | null)?.admin;
    bind = typeof admin?.bind === 'string' ? admin.bind : IMPLICIT_ADMIN_BIND;
    if (typeof admin?.tokenFile === 'string') tokenFile ??= admin.tokenFile;
  }
  const hp = parseHostPort(bind ?? IMPLICIT_ADMIN_BIND, true);
  if (typeof hp === 'string') return `admin address ${bind}: ${hp} [KUBEHA_ERR_USAGE]`;
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
  // fetch says only "fetch failed" with the socket's reason as its cause; node:http gives it directly.
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const why = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : String(cause);
  return `cannot reach the daemon at ${url}: ${why}; is kubeha running with this config? [KUBEHA_ERR_ADMIN_UNREACHABLE]`;
}

/** One answered request, or why there is no answer (the message ends in an error code). */
export type AdminAnswer = { ok: true; url: string; status: number; text: string } | { ok: false; url: string; error: string };

/**
 * One request to a daemon's admin API with its token and a deadline. A refused token (401/403) is
 * an error worded with `tokenHint` when one is given, else an answer like any other.
 */
export async function adminRequest(target: AdminTarget, path: string, o: { method?: 'GET' | 'POST'; body?: unknown; timeoutMs?: number; tokenHint?: string } = {}): Promise<AdminAnswer> {
  const url = `${target.base}${path}`;
  // node:http rather than fetch: fetch refuses the ports on the WHATWG "bad port" list (6000, 6665,
  // ...), and an admin.bind that `check` accepts must be reachable.
  const answer = await new Promise<{ status: number; text: string } | Error>((resolve) => {
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = httpRequest(url, {
      method: o.method ?? 'GET',
      headers: body === undefined ? target.headers : { ...target.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      timeout: o.timeoutMs ?? 10_000,
      agent: false,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', resolve);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', resolve);
    req.end(body);
  });
  if (answer instanceof Error) return { ok: false, url, error: unreachable(url, answer) };
  if ((answer.status === 401 || answer.status === 403) && o.tokenHint) return { ok: false, url, error: `${url} answered ${answer.status}: ${o.tokenHint} [KUBEHA_ERR_USAGE]` };
  return { ok: true, url, status: answer.status, text: answer.text };
}

/** A daemon's state, or why there is none (the message ends in an error code). */
export type FetchedState = { ok: true; url: string; state: NodeState } | { ok: false; url: string; error: string };

/**
 * GETs /api/v1/state. Whatever answered may be another program, or a daemon of another version:
 * the answer is checked, and this never throws.
 */
export async function fetchNodeState(target: AdminTarget): Promise<FetchedState> {
  const answer = await adminRequest(target, '/api/v1/state', { tokenHint: "give the admin token with --token-file or the config's admin.tokenFile" });
  if (!answer.ok) return answer;
  const { url } = answer;
  if (answer.status !== 200) return { ok: false, url, error: unreachable(url, new Error(`HTTP ${answer.status}`)) };
  try {
    const state = JSON.parse(answer.text) as NodeState;
    if (!Array.isArray(state?.frontends) || !Array.isArray(state.backends) || typeof state.startedAt !== 'string') throw new Error('no frontends, backends or startedAt');
    return { ok: true, url, state: { ...state, vrrp: state.vrrp ?? [], events: state.events ?? [] } };
  } catch (e) {
    return { ok: false, url, error: `${url} did not answer with a kubeha state (${e instanceof Error ? e.message : String(e)}): is that kubeha's admin address? [KUBEHA_ERR_ADMIN_UNREACHABLE]` };
  }
}

/**
 * For commands that start by asking a daemon for its state: resolves the address and fetches it.
 * On failure writes why to `err` and returns exit code 2.
 */
export async function askDaemon(sel: AdminSelector, err: NodeJS.WritableStream): Promise<{ target: AdminTarget; state: NodeState } | number> {
  const target = await resolveAdmin(sel);
  if (typeof target === 'string') {
    err.write(`${target}\n`);
    return 2;
  }
  const fetched = await fetchNodeState(target);
  if (!fetched.ok) {
    err.write(`${fetched.error}\n`);
    return 2;
  }
  return { target, state: fetched.state };
}
