// The SSH side of `kubeha apply`: one connection per host (through a jump host when asked), host
// keys verified against known_hosts or a pinned key before anything is sent, commands on a bounded
// number of channels (OpenSSH's MaxSessions is 10 by default), with sudo and a deadline. ssh2 is the
// maintained SSH library for Node; it verifies nothing itself (known-hosts.ts does).
import { readFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { fingerprint, knownHostName, knownHostsLine, parseKnownHosts, verifyHostKey, type HostKeyVerdict } from './known-hosts.js';
import { shellQuote } from './shell-quote.js';

const { Client } = ssh2;
type SshClient = InstanceType<typeof Client>;

/** Where and how to reach one host (the inventory's ssh settings, resolved). */
export interface SshTarget {
  name: string;
  host: string;
  port: number;
  user: string;
  /** A private key file; without one the SSH agent ($SSH_AUTH_SOCK) is asked. */
  identityFile?: string;
  /** The text of the known_hosts file (read by the caller), or a pinned `TYPE BASE64` key. */
  knownHosts: string;
  hostKey?: string;
  /** Accept a host that is not in known_hosts (never a changed key); the line to append is reported. */
  acceptNewHostKeys: boolean;
  sudo: boolean;
  /** `user@host[:port]` of a bastion, reached and verified the same way. */
  jumpHost?: string;
  connectTimeoutMs?: number;
  /** Tries before a connection that failed on the way (refused, reset, timed out) is given up: 3 unless set. */
  connectAttempts?: number;
}

/** A refused host key: what was offered, what the file says, and what to do. */
export class HostKeyRefused extends Error {
  constructor(
    readonly target: string,
    readonly verdict: HostKeyVerdict,
    readonly offered: string,
  ) {
    super(hostKeyMessage(target, verdict, offered));
    this.name = 'HostKeyRefused';
  }
}

function hostKeyMessage(target: string, v: HostKeyVerdict, offered: string): string {
  return `${hostKeyReason(target, v, offered)} [KUBEHA_ERR_SSH_HOST_KEY]`;
}

function hostKeyReason(target: string, v: HostKeyVerdict, offered: string): string {
  if (v.kind === 'changed') return `${target}: the host key CHANGED: it offers ${offered}, known_hosts line ${v.line} has ${v.expected}; someone may be in the middle, or the host was reinstalled: check it out of band, then remove the old line (ssh-keygen -R) — --accept-new-host-keys never replaces a changed key`;
  if (v.kind === 'revoked') return `${target}: the host key ${offered} is @revoked in known_hosts (line ${v.line})`;
  return `${target}: unknown host key ${offered}; check it on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run again with --accept-new-host-keys, or pin it as ssh.hostKey`;
}

/** The key type a host key blob names (its first SSH string). */
function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** One command's outcome. */
export interface ExecResult {
  code: number | null;
  signal: string | undefined;
  stdout: string;
  stderr: string;
}

/** A connected host. */
export interface SshSession {
  readonly target: SshTarget;
  /** The known_hosts line to append when a new host key was accepted. */
  readonly acceptedKeyLine: string | undefined;
  /** Runs `command` (through `sudo -n` when the target says so), with `stdin` written and closed. */
  exec(command: string, o?: { stdin?: string | Buffer; timeoutMs?: number }): Promise<ExecResult>;
  close(): void;
}

/** At most this many channels at once on one connection (OpenSSH's MaxSessions default is 10). */
const MAX_CHANNELS = 4;

/** The wait before try `n` (1-based) of a connection again: 1 s, 2 s, 4 s, ... */
const retryDelayMs = (n: number) => 1000 * 2 ** (n - 2);

/**
 * Whether a failed connection is worth another try: the network or a busy sshd (refused, reset,
 * timed out before the handshake) may answer a second later; a refused host key, a refused login or
 * a malformed jump host never will.
 */
function isTransient(err: unknown): boolean {
  if (err instanceof HostKeyRefused) return false;
  const text = err instanceof Error ? err.message : String(err);
  return !/authentication methods failed|is not user@host|ENOENT|EACCES/i.test(text);
}

/**
 * Opens a verified connection to `target`; rejects with HostKeyRefused before authenticating to a
 * host it should not trust. A connection that fails on the way is tried again (connectAttempts).
 */
export async function connect(target: SshTarget): Promise<SshSession> {
  const attempts = Math.max(1, target.connectAttempts ?? 3);
  for (let n = 1; ; n++) {
    try {
      return await connectOnce(target);
    } catch (err) {
      if (n >= attempts || !isTransient(err)) {
        if (n > 1 && err instanceof Error) err.message = err.message.replace(/( \[KUBEHA_ERR_\w+\])?$/, ` (after ${n} tries)$1`);
        throw err;
      }
      await new Promise((r) => setTimeout(r, retryDelayMs(n + 1)));
    }
  }
}

async function connectOnce(target: SshTarget): Promise<SshSession> {
  const privateKey = target.identityFile ? await readFile(target.identityFile) : undefined;
  let sock: NodeJS.ReadableStream | undefined;
  let jumpClose: (() => void) | undefined;
  if (target.jumpHost) {
    const m = /^([^@]+)@([^:]+)(?::(\d+))?$/.exec(target.jumpHost);
    if (!m) throw new Error(`${target.name}: jump host ${target.jumpHost} is not user@host[:port]`);
    const j = await open({ ...target, name: `${target.name} (jump host ${target.jumpHost})`, user: m[1]!, host: m[2]!, port: Number(m[3] ?? 22), hostKey: undefined, jumpHost: undefined }, privateKey, undefined);

    jumpClose = j.close;
    sock = await new Promise<ClientChannel>((resolve, reject) => j.client.forwardOut('127.0.0.1', 0, target.host, target.port, (err, stream) => (err ? reject(err) : resolve(stream)))).catch((err: unknown) => {
      j.close();
      throw err;
    });
  }
  const { client, accepted, close } = await open(target, privateKey, sock).catch((err: unknown) => {
    jumpClose?.();
    throw err;
  });
  let running = 0;
  const waiting: (() => void)[] = [];
  const slot = async () => {
    while (running >= MAX_CHANNELS) await new Promise<void>((r) => waiting.push(r));
    running++;
  };
  const free = () => {
    running--;
    waiting.shift()?.();
  };
  return {
    target,
    acceptedKeyLine: accepted,
    async exec(command, o = {}) {
      await slot();
      try {
        return await run(client, target.sudo ? `sudo -n -- sh -c ${shellQuote(command)}` : command, o.stdin, o.timeoutMs ?? 60_000);
      } finally {
        free();
      }
    },
    close() {
      close();
      jumpClose?.();
    },
  };
}

/** Connects one client, verifying the host key first. */
/**
 * How long a closed connection may wait for the host's goodbye before its socket is destroyed: ssh2's
 * end() only half-closes, and a host that is gone (halted, unplugged) never answers, which would keep
 * the socket — and the process — alive for as long as the kernel retries.
 */
const CLOSE_GRACE_MS = 2000;

function open(target: SshTarget, privateKey: Buffer | undefined, sock: NodeJS.ReadableStream | undefined): Promise<{ client: SshClient; accepted: string | undefined; close: () => void }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    // our own TCP socket when not tunnelled, so that close() can destroy it
    const raw = sock ? undefined : netConnect({ host: target.host, port: target.port });
    const close = () => {
      client.end();
      if (raw) setTimeout(() => raw.destroy(), CLOSE_GRACE_MS).unref();
    };
    let refused: HostKeyRefused | undefined;
    let accepted: string | undefined;
    const hostVerifier = (blob: Buffer): boolean => {
      const type = keyTypeOf(blob);
      const key = blob.toString('base64');
      // A pinned key is a known_hosts of one line.
      const knownHosts = target.hostKey ? `${knownHostName(target.host, target.port)} ${target.hostKey}\n` : target.knownHosts;
      const verdict: HostKeyVerdict = verifyHostKey(parseKnownHosts(knownHosts), target.host, target.port, type, key);
      if (verdict.kind === 'known') return true;
      if (verdict.kind === 'unknown' && target.acceptNewHostKeys && !target.hostKey) {
        accepted = knownHostsLine(target.host, target.port, type, key);
        return true;
      }
      refused = new HostKeyRefused(target.name, verdict, `${type} ${fingerprint(key)}`);
      return false;
    };
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      ...(privateKey ? { privateKey } : { agent: process.env.SSH_AUTH_SOCK }),
      hostVerifier,
      readyTimeout: target.connectTimeoutMs ?? 15_000,
      // a pinned key is asked for by its type, so the host cannot answer with another of its keys
      ...(target.hostKey ? { algorithms: { serverHostKey: [target.hostKey.split(/\s+/)[0] as ServerHostKeyAlgorithm] } } : {}),
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      sock: (sock ?? raw) as ConnectConfig['sock'],
    };
    client.once('ready', () => resolve({ client, accepted, close }));
    client.once('error', (err) => {
      close();
      reject(refused ?? new Error(`${target.name} (${target.user}@${target.host}:${target.port}): ${err.message} [KUBEHA_ERR_SSH_CONNECT]`));
    });
    client.connect(config);
  });
}

function run(client: SshClient, command: string, stdin: string | Buffer | undefined, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        stream.close();
        reject(new Error(`timed out after ${timeoutMs} ms: ${command}`));
      }, timeoutMs);
      stream.on('data', (d: Buffer) => (stdout += d.toString()));
      stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      stream.on('close', (code: number | null, signal: string | undefined) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
      if (stdin !== undefined) stream.end(stdin);
      else stream.end();
    });
  });
}
