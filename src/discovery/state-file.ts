import { mkdirSync, readFileSync, renameSync, writeFileSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseHostPort } from '../config/address.js';
import type { DiscoveredServer } from './endpoint-list.js';

/** The last good server list of a discovered backend, as kept on disk. */
export interface SavedServers {
  servers: DiscoveredServer[];
  /** When discovery last produced this list (ISO time). */
  savedAt: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/**
 * Reads the state file; undefined when there is none. Throws when it exists but cannot be used
 * (the caller logs it and starts from the bootstrap list).
 */
export function loadSavedServers(path: string): SavedServers | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const doc = JSON.parse(text) as unknown;
  const servers = (doc as { servers?: unknown }).servers;
  if (!Array.isArray(servers)) throw new Error('no "servers" list');
  const out: DiscoveredServer[] = [];
  for (const s of servers) {
    const { name, address } = (s ?? {}) as { name?: unknown; address?: unknown };
    if (typeof name !== 'string' || !NAME.test(name) || typeof address !== 'string' || typeof parseHostPort(address) === 'string') {
      throw new Error(`a server entry is not {name, address}: ${JSON.stringify(s)}`);
    }
    out.push({ name, address });
  }
  const savedAt = (doc as { savedAt?: unknown }).savedAt;
  return { servers: out, savedAt: typeof savedAt === 'string' ? savedAt : '' };
}

/**
 * Writes the list atomically: a temporary file in the same folder, flushed, then renamed over the
 * old one, so a crash or a full disk leaves the previous list or the new one, never half of one.
 */
export function saveServers(path: string, saved: SavedServers): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ version: 1, ...saved }, null, 2)}\n`, { mode: 0o644 });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
