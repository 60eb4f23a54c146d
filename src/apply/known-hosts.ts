// Host key verification for `kubeha apply`, as OpenSSH does it (sshd(8) "SSH_KNOWN_HOSTS FILE
// FORMAT"): a host is known when a line's host patterns match it and its key is the one offered;
// a match with another key of the same type is a CHANGED key (refused, never replaced), no match at
// all is an UNKNOWN host (refused unless the user accepts new keys). ssh2, the SSH library, leaves
// this to its caller (`hostVerifier` accepts anything when unset) and has no known_hosts parser.
// Pure: text in, verdicts out; the file is read and appended by the caller.
import { createHash, createHmac } from 'node:crypto';

/** One usable line of a known_hosts file. */
export interface KnownHostLine {
  line: number;
  /** `@revoked` lines refuse the key wherever it is offered; `@cert-authority` lines are not used. */
  marker: 'revoked' | 'cert-authority' | undefined;
  patterns: string;
  keyType: string;
  /** The key blob, base64 as in the file. */
  key: string;
}

/** What the file says of a host's offered key. */
export type HostKeyVerdict =
  | { kind: 'known'; line: number }
  | { kind: 'unknown' }
  | { kind: 'changed'; line: number; expected: string }
  | { kind: 'revoked'; line: number };

/** Parses a known_hosts text; comments, blank and malformed lines are skipped. */
export function parseKnownHosts(text: string): KnownHostLine[] {
  const out: KnownHostLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) return;
    let marker: KnownHostLine['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields[0] === '@revoked' ? 'revoked' : 'cert-authority';
      fields.shift();
    }
    const [patterns, keyType, key] = fields;
    if (!patterns || !keyType || !key || !/^[A-Za-z0-9+/]+=*$/.test(key)) return;
    out.push({ line: i + 1, marker, patterns, keyType, key });
  });
  return out;
}

/** How a host is written in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** OpenSSH's `ssh-keygen -l` fingerprint of a key blob: `SHA256:` and unpadded base64. */
export function fingerprint(keyBase64: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(keyBase64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/** `*` and `?` wildcards of a host pattern, as a whole-name match (case-insensitive, like OpenSSH). */
function wildcard(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

/** `|1|SALT|HASH`: HMAC-SHA1 of the name with the salt as key (ssh-keygen -H). */
function hashedMatch(entry: string, name: string): boolean {
  const [, kind, salt, hash] = entry.split('|');
  if (kind !== '1' || !salt || !hash) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}

/** Whether a line's comma-separated patterns match `name`: one positive match and no negated one. */
export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith('|')) return hashedMatch(patterns, name);
  let matched = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (wildcard(p.slice(1), name)) return false;
    } else if (wildcard(p, name)) matched = true;
  }
  return matched;
}

/**
 * The verdict on `keyType keyBase64` offered by `host:port`. Lines for other key types do not make
 * a key "changed" (a host has one key per type; the server picks the type), as in OpenSSH.
 */
export function verifyHostKey(lines: KnownHostLine[], host: string, port: number, keyType: string, keyBase64: string): HostKeyVerdict {
  const name = knownHostName(host, port);
  const revoked = lines.find((l) => l.marker === 'revoked' && l.key === keyBase64);
  if (revoked) return { kind: 'revoked', line: revoked.line };
  const mine = lines.filter((l) => l.marker === undefined && patternsMatch(l.patterns, name));
  const same = mine.find((l) => l.keyType === keyType && l.key === keyBase64);
  if (same) return { kind: 'known', line: same.line };
  const other = mine.find((l) => l.keyType === keyType);
  if (other) return { kind: 'changed', line: other.line, expected: fingerprint(other.key) };
  return { kind: 'unknown' };
}

/** The line `--accept-new-host-keys` appends for a new host (never for a changed one). */
export function knownHostsLine(host: string, port: number, keyType: string, keyBase64: string): string {
  return `${knownHostName(host, port)} ${keyType} ${keyBase64}\n`;
}
