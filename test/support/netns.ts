import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KUBEHA_BIN } from './processes.js';
import type { TestContextLike } from './tcp.js';

/** The test-bed's subnet: TEST-NET-1, only ever inside the namespaces the tests create. */
export const SUBNET = '192.0.2';
export const VIP = `${SUBNET}.200`;
/** The bed's IPv6 prefix (the documentation one, RFC 3849): host i has `${SUBNET6}${i + 1}`. */
export const SUBNET6 = '2001:db8::';
export const VIP6 = `${SUBNET6}200`;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** A process started inside a namespace, with its output collected and a time-stamped line stream. */
export interface NsProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves at the first line matching `re` (among lines from index `since` on, seen or future), with the Date.now() it arrived. */
  waitLine(re: RegExp, timeoutMs?: number, since?: number): Promise<{ line: string; atMs: number }>;
  lines: { line: string; atMs: number }[];
  exited: Promise<number | null>;
  running: () => boolean;
}

/** One host of the bed: a namespace with `eth0` on the bridge. */
export interface BedHost {
  ns: string;
  ip: string;
  /** The host's IPv6 address on eth0 (besides its link-local one). */
  ip6: string;
  /** The host-side veth end (on the bridge); set it down to cut this host off. */
  port: string;
  /** Runs a command in the namespace; killed by PID when the test ends. `keep` picks the lines that go to `lines` (default: all). */
  spawn(cmd: string, args: string[], keep?: (line: string) => boolean): NsProcess;
  /** Whether `address` is on this host's eth0 now. */
  hasAddress(address: string): boolean;
}

/** A bridge in its own namespace and `n` host namespaces on it; removed when the test ends. */
export interface Bed {
  hosts: BedHost[];
  dir: string;
  /**
   * Cuts host i off the bridge (false) or joins it again (true). The port leaves the bridge rather
   * than going down, so the host keeps its carrier: a partition, not a link failure (which FAULTs).
   */
  plug(i: number, up: boolean): void;
}

let beds = 0;

/** Creates the bed. Needs root (CAP_NET_ADMIN); everything is removed in `t.after`. */
export function createBed(t: TestContextLike, n: number): Bed {
  // The whole pid, a separator, the counter and a random tail: beds of two test files running at
  // once never share a name (pid % 10000 could, and so could pid 123 bed 45 and pid 1234 bed 5
  // without the separator), nor does a bed meet one left behind by a killed run with a reused pid.
  const id = `kh${process.pid}x${beds++}${randomBytes(2).toString('hex')}`;
  const brNs = `${id}br`;
  const dir = mkdtempSync(join(tmpdir(), `kubeha-${id}-`));
  const procs: NsProcess[] = [];
  const namespaces: string[] = [];
  t.after(async () => {
    for (const p of procs) if (p.running() && p.child.pid) process.kill(p.child.pid, 'SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    // daemons the test's processes started in the namespaces (conntrackd forks into the background)
    for (const ns of namespaces) {
      const pids = (() => {
        try {
          return ip('netns', 'pids', ns).split('\n').filter(Boolean).map(Number);
        } catch {
          return [];
        }
      })();
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
    for (const ns of namespaces) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  ip('netns', 'add', brNs);
  namespaces.push(brNs);
  ip('-n', brNs, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', brNs, 'link', 'set', 'br0', 'up');
  const hosts: BedHost[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `${id}h${i}`;
    const port = `p${i}`;
    ip('netns', 'add', ns);
    namespaces.push(ns);
    ip('-n', brNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', brNs, 'link', 'set', port, 'master', 'br0');
    ip('-n', brNs, 'link', 'set', port, 'up');
    const addr = `${SUBNET}.${i + 1}`;
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    // No duplicate address detection: the link-local address VRRP sends from is usable at link-up,
    // not a second or two later (a bed's addresses are unique by construction).
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.eth0.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    const addr6 = `${SUBNET6}${i + 1}`;
    ip('-n', ns, 'addr', 'add', `${addr6}/64`, 'dev', 'eth0', 'nodad');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    hosts.push({
      ns, ip: addr, ip6: addr6, port,
      spawn(cmd, args, keep) {
        const p = nsSpawn(ns, cmd, args, keep);
        procs.push(p);
        return p;
      },
      hasAddress: (address) => ip('-n', ns, '-o', 'addr', 'show', 'dev', 'eth0').includes(` ${address}/`),
    });
  }
  return { hosts, dir, plug: (i, up) => void ip('-n', brNs, 'link', 'set', `p${i}`, ...(up ? ['master', 'br0'] : ['nomaster'])) };
}

function nsSpawn(ns: string, cmd: string, args: string[], keep: (line: string) => boolean = () => true): NsProcess {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let partial = '';
  const lines: { line: string; atMs: number }[] = [];
  const waiters: { re: RegExp; resolve: (l: { line: string; atMs: number }) => void }[] = [];
  const onData = (d: string) => {
    const atMs = Date.now();
    out += d;
    partial += d;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const entry = { line: partial.slice(0, nl), atMs };
      partial = partial.slice(nl + 1);
      if (!keep(entry.line)) continue;
      lines.push(entry);
      for (const w of [...waiters]) if (w.re.test(entry.line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(entry);
      }
    }
  };
  child.stdout?.setEncoding('utf8').on('data', onData);
  child.stderr?.setEncoding('utf8').on('data', onData);
  let running = true;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    running = false;
    resolve(code);
  }));
  return {
    child, lines, exited, output: () => out, running: () => running,
    waitLine(re, timeoutMs = 15_000, since = 0) {
      const seen = lines.slice(since).find((l) => re.test(l.line));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${ns} ${cmd}: no line matching ${re} in ${timeoutMs} ms; output:\n${out.slice(-3000)}`)), timeoutMs);
        waiters.push({ re, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      });
    },
  };
}

/** VRRP settings shared by the kubeha and keepalived configs of one scenario. */
export interface VrrpSettings {
  version: 2 | 3;
  advertIntervalMs: number;
  vrid: number;
  authPass?: string;
  /** Unicast peers' addresses; empty = multicast. */
  peers?: string[];
  preempt?: boolean;
  /** 6: the VIP is VIP6 (/64), the peers and unicast source IPv6 (default 4). */
  family?: 4 | 6;
}

/** The VIP of a scenario, with the prefix both daemons configure. */
export const vipOf = (s: VrrpSettings) => (s.family === 6 ? `${VIP6}/64` : `${VIP}/24`);

/** Starts `kubeha run` in `host` with a VRRP-only config; resolves once it logged its first state. */
export function startKubeha(bed: Bed, host: BedHost, s: VrrpSettings, priority: number, extra: Record<string, unknown> = {}, topLevel: Record<string, unknown> = {}): NsProcess {
  const inst: Record<string, unknown> = {
    name: 'VI_1', interface: 'eth0', virtualRouterId: s.vrid, priority, version: s.version,
    advertInterval: `${s.advertIntervalMs}ms`, preempt: s.preempt ?? true, vips: [vipOf(s)],
    unicastPeers: s.peers ?? [], ...(s.authPass ? { authPass: s.authPass } : {}), ...extra,
  };
  return startKubehaConfig(bed, host, { ...topLevel, vrrp: { instances: [inst] } });
}

/** Starts `kubeha run` in `host` with `config` (a shutdownGrace of 0 unless given). */
export function startKubehaConfig(bed: Bed, host: BedHost, config: Record<string, unknown>): NsProcess {
  const file = join(bed.dir, `kubeha-${host.ns}-${configs++}.yaml`);
  writeFileSync(file, JSON.stringify({ global: { shutdownGrace: '0s' }, ...config }));
  return host.spawn(process.execPath, [KUBEHA_BIN, 'run', '--config', file]);
}

let configs = 0;

/** Starts a one-member etcd in `host`, serving clients on its eth0 address; resolves with the URL once it serves. */
export async function startEtcdIn(bed: Bed, host: BedHost): Promise<string> {
  const url = `http://${host.ip}:2379`;
  const p = host.spawn('etcd', ['--name', 'e', '--data-dir', join(bed.dir, `etcd-${host.ns}`), '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 'e=http://127.0.0.1:2380']);
  await p.waitLine(/ready to serve client requests/, 20_000);
  return url;
}

/** Starts Debian's keepalived in `host` (foreground, logging to stdout) with the same settings; `nice` lowers its CPU priority. */
export function startKeepalived(bed: Bed, host: BedHost, s: VrrpSettings, priority: number, opts: { nice?: number; quiet?: boolean } = {}): NsProcess {
  const file = join(bed.dir, `keepalived-${host.ns}.conf`);
  const interval = s.version === 2 ? String(Math.max(1, Math.round(s.advertIntervalMs / 1000))) : String(s.advertIntervalMs / 1000);
  const unicast = s.peers?.length ? `  unicast_src_ip ${s.family === 6 ? host.ip6 : host.ip}\n  unicast_peer {\n${s.peers.map((p) => `    ${p}\n`).join('')}  }\n` : '';
  const auth = s.authPass ? `  authentication {\n    auth_type PASS\n    auth_pass ${s.authPass}\n  }\n` : '';
  writeFileSync(file, `global_defs {\n  router_id ${host.ns}\n  vrrp_version ${s.version}\n}\n` +
    `vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id ${s.vrid}\n  priority ${priority}\n  advert_int ${interval}\n` +
    `${s.preempt === false ? '  nopreempt\n' : ''}${unicast}${auth}  virtual_ipaddress {\n    ${vipOf(s)}\n  }\n}\n`);
  const pid = (k: string) => join(bed.dir, `${host.ns}-${k}.pid`);
  const args = ['-n', '-l', ...(opts.quiet ? [] : ['-D']), '-f', file, '-p', pid('main'), '-r', pid('vrrp'), '-c', pid('checkers')];
  return opts.nice === undefined ? host.spawn('keepalived', args) : host.spawn('nice', ['-n', String(opts.nice), 'keepalived', ...args]);
}

/** Packets the kernel dropped on `host`'s VRRP raw sockets (protocol 112) because a receive buffer was full (/proc/net/raw). */
export function vrrpSocketDrops(host: BedHost): number {
  const rows = ip('netns', 'exec', host.ns, 'cat', '/proc/net/raw').trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  return rows.filter((f) => f[1]?.endsWith(':0070')).reduce((n, f) => n + Number(f[f.length - 1]), 0);
}

/** GETs `url` from inside the namespace (the admin API listens on the namespace's own loopback). */
export function nsFetchJson(host: BedHost, url: string): Record<string, unknown> {
  return JSON.parse(nsFetchText(host, url)) as Record<string, unknown>;
}

/** GETs `url` from inside the namespace and returns the body. */
export function nsFetchText(host: BedHost, url: string): string {
  const script = `fetch(${JSON.stringify(url)}).then((r) => r.text()).then((t) => process.stdout.write(t))`;
  return execFileSync('ip', ['netns', 'exec', host.ns, process.execPath, '-e', script]).toString();
}

/**
 * Fetches `url` from inside the namespace without blocking the test's event loop (line time stamps
 * stay true meanwhile); the body, or undefined when nothing answered.
 */
export function nsFetchTextAsync(host: BedHost, url: string, init: { method?: string; body?: string } = {}): Promise<string | undefined> {
  const script = `fetch(${JSON.stringify(url)}, ${JSON.stringify(init)}).then((r) => r.text()).then((t) => process.stdout.write(t))`;
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', host.ns, process.execPath, '-e', script], { timeout: 10_000 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

/** The part of a VRRP instance in /api/v1/state that the tests read. */
export interface VrrpView {
  state: string;
  transitions: number;
  lastTransition: { from: string; to: string; reason: string } | null;
  /** The master this instance follows (itself when master). */
  master: { address: string; priority: number } | null;
  adverts: { sent: number; received: number; maxGapMs: number };
}

/** The admin bind the netns tests give kubeha (the namespace's own loopback: no other test file shares it). */
export const NS_ADMIN = { admin: { bind: '127.0.0.1:9000' } };

/**
 * Polls the first VRRP instance of the kubeha in `host` (started with {@link NS_ADMIN}) until
 * `pred` holds, and resolves with that snapshot: an event count instead of a sleep ("wait until
 * the backup has accepted N adverts", not "wait 500 ms"). The VRRP thread sends its counters once
 * a second and at every transition; each snapshot is one moment of that thread, so its state,
 * transitions and counters agree with each other. A snapshot can be up to a second old, so a count
 * "since X" must start from a snapshot that shows X (a transition, the master followed), not from
 * one merely fetched after X.
 */
export async function untilVrrp<V extends VrrpView = VrrpView>(host: BedHost, pred: (v: V) => boolean, what: string, timeoutMs = 20_000): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  let last: V | undefined;
  for (;;) {
    const body = await nsFetchTextAsync(host, 'http://127.0.0.1:9000/api/v1/state');
    if (body) {
      last = (JSON.parse(body) as { vrrp: V[] }).vrrp[0];
      if (last && pred(last)) return last;
    }
    if (Date.now() > deadline) throw new Error(`${host.ns}: no ${what} in ${timeoutMs} ms; last VRRP state: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An `ip -o monitor address` line about eth0 (added, or `Deleted ...`). */
const ETH0_ADDRESS_LINE = /^(Deleted )?\d+: eth0\s/;

/**
 * Time-stamps every address added to or removed from `host`'s eth0 (`ip -o monitor address`);
 * resolves once the monitor is subscribed. `ip monitor` prints nothing when it is, so a readiness
 * handshake stands in for a sleep: a probe address is added to and deleted from the namespace's
 * lo (which no daemon under test looks at) until the monitor reports the deletion. Only eth0's
 * lines go to `lines`.
 */
export async function watchAddresses(host: BedHost, timeoutMs = 10_000): Promise<NsProcess> {
  const mon = host.spawn('ip', ['-o', 'monitor', 'address'], (line) => ETH0_ADDRESS_LINE.test(line));
  const probe = '198.51.100.254/32'; // TEST-NET-2, never used by the tests
  const probeDeleted = /^Deleted \d+: lo\s+inet 198\.51\.100\.254\//m;
  const seen = new Promise<void>((resolve) => {
    const check = () => {
      if (!probeDeleted.test(mon.output())) return;
      mon.child.stdout?.off('data', check);
      resolve();
    };
    mon.child.stdout?.on('data', check);
  });
  const deadline = Date.now() + timeoutMs;
  for (let ready = false; !ready;) {
    if (Date.now() > deadline || !mon.running()) throw new Error(`ip monitor in ${host.ns} did not report a probe address in ${timeoutMs} ms; output:\n${mon.output()}`);
    ip('-n', host.ns, 'addr', 'add', probe, 'dev', 'lo');
    ip('-n', host.ns, 'addr', 'del', probe, 'dev', 'lo');
    // Not subscribed yet when the probe came and went: try again.
    ready = await Promise.race([seen.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]);
  }
  return mon;
}

/** Polls until `pred` holds or `timeoutMs` passes; resolves with whether it held. */
export async function until(pred: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return pred();
}
