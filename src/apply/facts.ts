// What `kubeha apply` learns of a host before it plans: OS, architecture, systemd, the clock, the
// addresses on its interfaces, the files it would change (hash and mode, never size and mtime alone)
// and the units it would touch. One remote script per host, its output parsed here (pure), so a host
// costs one round trip.
//
// A program of 100 MB is not read again on every run: the host keeps the SHA-256 of each file of
// 1 MiB or more in HASH_CACHE, keyed by what git's index keys a file by — its size, device, inode,
// mtime and ctime (ns). A write, a chmod, a rename onto it or a `cp -p` over it changes the ctime,
// which nobody can set back, so a changed file always misses. A hash is kept only when the file was
// the same before and after it was read and its ctime is more than a second old (the racy-git rule:
// a write within the same coarse clock tick as our stat would not move the ctime).
import { shellQuote } from './shell-quote.js';
import type { SshSession } from './ssh-transport.js';
import type { FileOnHost } from './change-plan.js';
import { JOURNAL, STATE_DIR } from './journal.js';

/** Where a host keeps its large files' hashes (only when apply's state folder exists: facts never create it). */
const HASH_CACHE = `${STATE_DIR}/hashes`;

/** Files at least this large have their hash kept on the host. */
const HASH_CACHE_MIN_BYTES = 1_048_576;

/**
 * `hashof PATH` prints the file's SHA-256, from HASH_CACHE when its identity is unchanged; the
 * hashes of this run's large files make the new cache (so it never holds more than one run's).
 */
function hashCacheFunctions(cache: string): string[] {
  const c = shellQuote(cache);
  // (%y and %z: full-resolution times in every coreutils, where %.9Y is recent)
  const id = `stat -L -c '%s %d:%i %y %z'`;
  return [
    `HC=${c}; HCNEW=; now=$(date +%s)`,
    `if [ -d "$(dirname "$HC")" ]; then HCNEW="$HC.new.$$"; { : > "$HCNEW"; } 2>/dev/null || HCNEW=; fi`,
    'hashof() {',
    `  id=$(${id} "$1" 2>/dev/null) || id=`,
    `  if [ -z "$id" ] || [ "\${id%% *}" -lt ${HASH_CACHE_MIN_BYTES} ]; then sha256sum < "$1" | cut -d" " -f1; return; fi`,
    // a cache line: HASH SIZE DEV:INODE MTIME CTIME PATH (times as `2026-12-04 19:17:00.123456789 +0000`)
    `  h=$(awk -v k="$id $1" '{ s = index($0, " "); if (substr($0, s + 1) == k) { print substr($0, 1, s - 1); exit } }' "$HC" 2>/dev/null)`,
    '  if [ -z "$h" ]; then',
    '    h=$(sha256sum < "$1" | cut -d" " -f1)',
    `    if [ "$(${id} "$1" 2>/dev/null)" != "$id" ] || [ "$(stat -L -c %Z "$1")" -ge $((now - 1)) ]; then echo "$h"; return; fi`,
    '  fi',
    '  if [ -n "$HCNEW" ]; then echo "$h $id $1" >> "$HCNEW"; fi',
    '  echo "$h"',
    '}',
  ];
}

/** How much of the journal is read back: enough for the last runs, never the whole history. */
const JOURNAL_TAIL = 500;

/** The facts of one host. */
export interface HostFacts {
  os: { id: string; versionId: string };
  arch: string;
  /** systemd's version, 0 when there is none (PID 1 is not systemd). */
  systemd: number;
  /** The host's clock minus ours, in ms (the round trip's midpoint; ± half of it). */
  clockSkewMs: number;
  /** IPv4 addresses by interface, with prefix (`10.8.4.91/24`). */
  addresses: Map<string, string[]>;
  files: Map<string, FileOnHost | undefined>;
  /** `systemctl is-active` of each unit asked about (`active`, `inactive`, `failed`, ...). */
  units: Map<string, string>;
  /** The last lines of apply's journal on the host (journal.ts reads them). */
  journal: string;
  /** What `kubeha version` prints on the host ('' when there is no kubeha). */
  kubeha: string;
  /** TCP ports something listens on, with the listening programs' names (`ss -ltnp`). */
  listening: Map<number, string[]>;
  /** Which of {@link PROGRAMS} the host has (on PATH or in /usr/sbin, /sbin). */
  programs: Set<string>;
}

/** Programs whose presence a plan may depend on: the kernel data plane's. */
export const PROGRAMS = ['nft', 'conntrack', 'conntrackd'] as const;

/** The script that prints the facts, one tagged line each (parsed by {@link parseFacts}). */
export function factsScript(paths: string[], units: string[], hashCache = HASH_CACHE): string {
  const lines = [
    'set -u',
    ...hashCacheFunctions(hashCache),
    '. /etc/os-release 2>/dev/null; echo "os ${ID:-unknown} ${VERSION_ID:-}"',
    'echo "arch $(uname -m)"',
    'echo "systemd $(systemctl --version 2>/dev/null | head -1 | awk \'{print $2}\')"',
    'echo "time $(date +%s%N)"',
    // "2: eth0    inet 10.8.4.91/24 brd ..." — the oneline form every iproute2 prints
    'ip -4 -o addr show 2>/dev/null | awk \'{print "addr", $2, $4}\'',
    ...paths.map((p) => `if [ -f ${shellQuote(p)} ]; then echo "file $(stat -c %a ${shellQuote(p)}) $(hashof ${shellQuote(p)}) ${p}"; else echo "nofile ${p}"; fi`),
    'if [ -n "$HCNEW" ]; then mv -f "$HCNEW" "$HC"; fi',
    ...units.map((u) => `echo "unit ${u} $(systemctl is-active ${shellQuote(u)} 2>/dev/null || true)"`),
    `tail -n ${JOURNAL_TAIL} ${JOURNAL} 2>/dev/null | sed 's/^/journal /'`,
    'echo "kubeha $(kubeha version 2>/dev/null | head -1)"',
    // "LISTEN 0 4096 0.0.0.0:16443 0.0.0.0:* users:((\"node\",pid=812,fd=21))"
    'ss -Hltnp 2>/dev/null | awk \'{print "listen", $4, $NF}\'',
    // (a non-login SSH command may have no sbin folder on PATH)
    `for p in ${PROGRAMS.join(' ')}; do if command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || [ -x "/sbin/$p" ]; then echo "program $p"; fi; done`,
    // the script's own run time (hashing the binaries takes seconds): the skew must not count it
    'echo "timeend $(date +%s%N)"',
  ];
  return `${lines.join('\n')}\n`;
}

/** Parses the script's output; `sentAtMs`/`receivedAtMs` bracket the round trip (for the skew). */
export function parseFacts(output: string, sentAtMs: number, receivedAtMs: number): HostFacts {
  let hostStartMs: number | undefined;
  let hostEndMs: number | undefined;
  const facts: HostFacts = { os: { id: 'unknown', versionId: '' }, arch: '', systemd: 0, clockSkewMs: 0, addresses: new Map(), files: new Map(), units: new Map(), journal: '', kubeha: '', listening: new Map(), programs: new Set() };
  for (const line of output.split('\n')) {
    const [tag, ...rest] = line.split(' ');
    if (tag === 'journal') {
      facts.journal += `${line.slice('journal '.length)}\n`;
      continue;
    }
    if (tag === 'os') facts.os = { id: rest[0] ?? 'unknown', versionId: rest[1] ?? '' };
    else if (tag === 'arch') facts.arch = rest[0] ?? '';
    else if (tag === 'systemd') facts.systemd = Number(rest[0]) || 0;
    else if (tag === 'time') hostStartMs = Number(rest[0]) / 1e6;
    else if (tag === 'timeend') hostEndMs = Number(rest[0]) / 1e6;
    else if (tag === 'addr' && rest[0] && rest[1]) facts.addresses.set(rest[0], [...(facts.addresses.get(rest[0]) ?? []), rest[1]]);
    else if (tag === 'file' && rest.length >= 3) facts.files.set(rest.slice(2).join(' '), { mode: parseInt(rest[0]!, 8), sha256: rest[1]! });
    else if (tag === 'nofile') facts.files.set(rest.join(' '), undefined);
    else if (tag === 'unit' && rest[0]) facts.units.set(rest[0], rest[1] || 'unknown');
    else if (tag === 'kubeha') facts.kubeha = rest.join(' ').trim();
    else if (tag === 'program' && rest[0]) facts.programs.add(rest[0]);
    else if (tag === 'listen' && rest[0]) {
      const port = Number(rest[0].slice(rest[0].lastIndexOf(':') + 1));
      const names = [...(rest[1] ?? '').matchAll(/\("([^"]+)"/g)].map((m) => m[1]!);
      if (Number.isInteger(port) && port > 0) facts.listening.set(port, [...new Set([...(facts.listening.get(port) ?? []), ...names])]);
    }
  }
  if (hostStartMs !== undefined && Number.isFinite(hostStartMs)) {
    // the round trip less the script's run time is the transport's, half of it before the script began
    const runMs = hostEndMs !== undefined && hostEndMs >= hostStartMs ? Math.min(hostEndMs - hostStartMs, receivedAtMs - sentAtMs) : 0;
    facts.clockSkewMs = Math.round(hostStartMs - (sentAtMs + (receivedAtMs - sentAtMs - runMs) / 2));
  }
  return facts;
}

/** Gathers the facts of a connected host in one round trip. */
export async function gatherFacts(session: SshSession, paths: string[], units: string[]): Promise<HostFacts> {
  const sentAtMs = Date.now();
  const r = await session.exec('sh -s', { stdin: factsScript(paths, units) });
  const receivedAtMs = Date.now();
  if (r.code !== 0) throw new Error(`${session.target.name}: gathering facts failed (exit ${r.code}): ${r.stderr.trim()}`);
  return parseFacts(r.stdout, sentAtMs, receivedAtMs);
}

/** A file read back from a host: its mode and (the first `limit` bytes of) its text; undefined when there is none. */
export type ReadBack = { mode: number; text: string } | undefined;

/** Reads several files of a host in one round trip (each base64 on one tagged line, so any byte survives). */
export async function readFiles(session: SshSession, paths: string[], limit = 262_144): Promise<Map<string, ReadBack>> {
  const out = new Map<string, ReadBack>();
  if (paths.length === 0) return out;
  const script = paths.map((p, i) => `if [ -f ${shellQuote(p)} ]; then echo "${i} $(stat -c %a ${shellQuote(p)}) $(head -c ${limit} ${shellQuote(p)} | base64 -w0)"; else echo "${i} -"; fi`).join('\n');
  const r = await session.exec('sh -s', { stdin: `${script}\n` });
  if (r.code !== 0) throw new Error(`${session.target.name}: reading ${paths.join(', ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  for (const line of r.stdout.split('\n')) {
    const [i, mode, data] = line.split(' ');
    const path = paths[Number(i)];
    if (path === undefined || mode === undefined) continue;
    out.set(path, mode === '-' ? undefined : { mode: parseInt(mode, 8), text: Buffer.from(data ?? '', 'base64').toString('utf8') });
  }
  return out;
}
