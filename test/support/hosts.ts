// Debian hosts for the apply tier: each a real systemd (PID 1) with a real sshd, booted by
// systemd-nspawn from the root scripts/host-rootfs.sh builds (its folder comes in KUBEHA_HOST_ROOTFS
// from scripts/test.mjs). All hosts of a test file share one read-only root through an overlay, each
// with its own upper dir, and sit on one bridge in this machine's namespace whose address the test
// process uses to reach them over SSH.
//
// How nspawn is run here, and why (systemd 252, on a machine whose PID 1 is not systemd):
//   sh -c 'move self into the host's cgroups; exec "$@"' -- setpriv --pdeathsig SIGKILL --
//     unshare --pid --fork --kill-child=SIGKILL -- systemd-nspawn -D ROOT --overlay=ROOT:UPPER:/
//     --boot --network-bridge=BR --register=no --keep-unit -M NAME --console=read-only
// - --register=no and --keep-unit: both are needed. Without either, nspawn fails at start with
//   "Failed to open system bus: No such file or directory": it would register with
//   systemd-machined, or ask the host's systemd for a transient scope unit, and there is no system
//   bus nor systemd here. --keep-unit makes it stay in the cgroup it was started in.
// - --console=read-only: stdin is no tty; the boot log is relayed to our pipe (kept for errors).
// - unshare --pid --fork makes nspawn PID 1 of a PID namespace of its own, which the container's
//   namespace is nested in. Measured: SIGKILL to nspawn alone leaves the container running, with
//   PID 1 of this machine as its parent (no death signal reaches the container's init). As the init
//   of the outer namespace, nspawn's death takes every process of the container with it, so a test
//   file killed by the runner (setpriv's death signal → unshare's --kill-child → nspawn) leaves no
//   host behind; the overlay mount lives in the container's mount namespace and goes with it.
// - a cgroup per host: with --keep-unit nspawn puts the container in <its own cgroup>/payload, so
//   nspawns started from one cgroup would give all their hosts one cgroup tree (seen here: two
//   hosts' ssh.service both in /payload/system.slice/ssh.service, "Failed to kill control group
//   ... Input/output error", a host now and then "degraded"). Each nspawn is moved into a cgroup of
//   its own first (in every writable hierarchy: name=systemd and the unified one on this hybrid
//   machine, or the one cgroup2 tree), which the bed removes afterwards.
// - harmless noise at a host's halt: "Failed to open parent network namespace" (nspawn, as PID 1
//   of its namespace, has no parent to look up; the veth goes with the host's network namespace)
//   and nspawn's exit status 1; nspawn also refuses to remove /run/systemd/nspawn/propagate/NAME
//   when /run is not a tmpfs, so the bed does.
// - the address: a .network file for systemd-networkd (enabled in the root), written into the host's
//   upper dir before boot, so the host configures it itself, at every boot, like a real host.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIE_WITH_TEST } from './etcd.js';
import type { TestContextLike } from './tcp.js';

/** The cached Debian 12 root (scripts/host-rootfs.sh). */
export const HOST_ROOTFS = process.env.KUBEHA_HOST_ROOTFS ?? '/var/cache/kubeha-hosts/bookworm';

/**
 * TEST-NET-2, cut into eight /27 slots, one per bed (test file) running at once. Not TEST-NET-1:
 * this machine's own eth0 may sit in 192.0.2.0/24 (it does on the CI VMs).
 */
const NET = '198.51.100';
const PREFIX_LEN = 27;
const SLOTS = 8;
/** Where beds claim their slot: one file per slot, holding the owner's pid and what to clean up. */
const SLOT_DIR = '/run/kubeha-hosts';
/**
 * nspawn's per-machine folder for --bind propagation. nspawn removes it at exit only when /run is a
 * tmpfs (it refuses an rm -rf on a disk file system: "Attempted to remove disk file system"), and
 * never when killed; /run is ext4 on the CI VMs, so the bed removes its hosts' folders itself.
 */
const NSPAWN_PROPAGATE = '/run/systemd/nspawn/propagate';

/** The cgroup hierarchies a container's systemd writes to: v1 name=systemd and cgroup2 (hybrid: unified/). */
function cgroupRoots(): string[] {
  const roots = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'].filter((r) => existsSync(join(r, 'cgroup.procs')));
  return roots.length > 0 ? roots : existsSync('/sys/fs/cgroup/cgroup.procs') ? ['/sys/fs/cgroup'] : [];
}

/** Where host `name` runs, in each hierarchy. */
const hostCgroups = (name: string) => cgroupRoots().map((r) => join(r, 'kubeha-hosts', name));

/** Removes a cgroup and the ones its host's systemd made in it (rmdir, deepest first: cgroupfs has no rm -r). */
function removeCgroup(dir: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return; // gone
  }
  for (const e of entries) removeCgroup(join(dir, e));
  try {
    rmdirSync(dir);
  } catch {
    // still has a process (a host that would not die): left for the next bed's sweep
  }
}

/** Removes nspawn's leftovers for the hosts of bed `id` (machine names kh<id><i>). */
function removeNspawnLeftovers(id: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(NSPAWN_PROPAGATE);
  } catch {
    // nspawn never ran
  }
  for (const name of names) if (name.startsWith(`kh${id}`)) rmSync(join(NSPAWN_PROPAGATE, name), { recursive: true, force: true });
  for (const root of cgroupRoots()) {
    let groups: string[] = [];
    try {
      groups = readdirSync(join(root, 'kubeha-hosts'));
    } catch {
      continue;
    }
    for (const g of groups) if (g.startsWith(`kh${id}`)) removeCgroup(join(root, 'kubeha-hosts', g));
  }
}

/** What a command run on a host returned. */
export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One booted host. */
export interface Host {
  /** Machine and host name (≤ 12 characters: nspawn names the bridge port vb-NAME). */
  name: string;
  /** Its address on the bridge. */
  ip: string;
  /** The host's public host keys (`type base64`), read from the booted host: one per key type. */
  hostKeys: string[];
  /** PID (in this machine's namespace) of the host's systemd. */
  leaderPid: number;
  /** Milliseconds from spawning nspawn to the SSH banner. */
  bootMs: number;
  /** Runs `cmd` (a shell command line) as root through the real OpenSSH client, the bed's key and known_hosts. */
  exec(cmd: string, timeoutMs?: number): Promise<ExecResult>;
  /** Runs `args` inside the host with nsenter (all its namespaces): test plumbing, not what apply uses. */
  enter(args: string[], timeoutMs?: number): Promise<ExecResult>;
  /** The boot console output so far. */
  console(): string;
}

/** The hosts of one test file, their bridge and the SSH material to reach them. */
export interface HostBed {
  hosts: Host[];
  bridge: string;
  /** The bridge's own address (this machine's side), the hosts' prefix length and the network. */
  bridgeIp: string;
  prefixLen: number;
  network: string;
  /** An address in the hosts' subnet that no host uses (for a VIP). */
  spareIp: string;
  /** The per-file client key (ed25519, no passphrase) that every host's root accepts, and its `.pub`. */
  keyFile: string;
  publicKey: string;
  /** A known_hosts file with every host's keys (`IP type base64`). */
  knownHosts: string;
  /** ssh options that use the bed's key and known_hosts, host keys checked strictly, no agent, no config. */
  sshOptions: string[];
  dir: string;
}

/** Options of {@link bootHosts}. */
export interface BootOptions {
  /** Bound on spawn-to-SSH-banner per host (default 60 s: two cores booting several hosts at once). */
  bootTimeoutMs?: number;
  /** Host paths bound read-only into every host at the same place (the node binary, a checkout). */
  bindReadOnly?: string[];
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** The start time of `pid` (field 22 of /proc/PID/stat), or undefined when it is gone: tells a pid from its reuse. */
function startTime(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[19];
  } catch {
    return undefined;
  }
}

/** What a slot file records. */
interface SlotRecord {
  pid: number;
  start: string;
  bridge: string;
  dir: string;
}

/**
 * Claims a free /27 slot for a bed, under a lock folder held for the few milliseconds the claim
 * takes. Slots whose owner is gone (a test file killed before its cleanup ran) are cleaned up
 * first: their bridge deleted, their folder removed (their hosts died with their nspawn, see the
 * top of this file). A slot with any route on this machine is never taken.
 */
async function claimSlot(bridge: string, dir: string): Promise<{ slot: number; release: () => void }> {
  mkdirSync(SLOT_DIR, { recursive: true });
  const lock = join(SLOT_DIR, '.lock');
  for (const end = Date.now() + 10_000; ;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // held by another test file; a lock older than 10 s is left over from a killed one
      try {
        if (Date.now() - statSync(lock).mtimeMs > 10_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      if (Date.now() > end) throw new Error(`${lock} held for 10 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  try {
    for (let slot = 0; slot < SLOTS; slot++) {
      const file = join(SLOT_DIR, `slot-${slot}.json`);
      if (!existsSync(file)) continue;
      let rec: SlotRecord | undefined;
      try {
        rec = JSON.parse(readFileSync(file, 'utf8')) as SlotRecord;
      } catch {
        rec = undefined; // a claim interrupted mid-write: its owner is gone
      }
      if (rec && startTime(rec.pid) === rec.start) continue; // owner alive
      if (rec) {
        try {
          ip('link', 'del', rec.bridge);
        } catch {
          // already gone
        }
        if (rec.dir.startsWith(join(tmpdir(), 'kubeha-hosts-'))) rmSync(rec.dir, { recursive: true, force: true });
        if (rec.bridge.startsWith('khb')) removeNspawnLeftovers(rec.bridge.slice(3));
      }
      rmSync(file, { force: true });
    }
    const free = [...Array(SLOTS).keys()].filter((slot) => !existsSync(join(SLOT_DIR, `slot-${slot}.json`))
      && ip('-4', '-o', 'route', 'show', 'root', `${NET}.${slot * 32}/${PREFIX_LEN}`).trim() === '');
    const slot = free[Math.floor(Math.random() * free.length)];
    if (slot === undefined) throw new Error(`no free ${NET}.0/24 slot for a host bed (all ${SLOTS} in ${SLOT_DIR} taken or routed)`);
    const file = join(SLOT_DIR, `slot-${slot}.json`);
    const me: SlotRecord = { pid: process.pid, start: startTime(process.pid) ?? '', bridge, dir };
    writeFileSync(file, JSON.stringify(me));
    return { slot, release: () => rmSync(file, { force: true }) };
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Resolves once `address`:22 sends an SSH banner; polls (a refused or silent connect) until `deadline`. */
async function waitSshBanner(address: string, deadline: number, alive: () => boolean, what: () => string): Promise<void> {
  for (;;) {
    const banner = await new Promise<string>((resolve) => {
      const s = connect({ host: address, port: 22, timeout: 1000 });
      let buf = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        buf += d;
        if (buf.includes('\n')) s.destroy();
      });
      s.on('timeout', () => s.destroy());
      s.on('error', () => {});
      s.on('close', () => resolve(buf));
    });
    if (banner.startsWith('SSH-2.0-')) return;
    if (!alive()) throw new Error(`host ${address} exited before sshd answered; console:\n${what().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`no SSH banner from ${address}:22 in time; console:\n${what().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The first child of `pid` (from /proc/PID/task/PID/children), polled until `deadline`. */
async function childOf(pid: number, deadline: number, pred: (child: number) => boolean = () => true): Promise<number | undefined> {
  while (Date.now() < deadline) {
    try {
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      const hit = kids.find(pred);
      if (hit) return hit;
    } catch {
      return undefined; // pid gone
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

/** Whether `pid` is PID 1 of a namespace nested two deep (the container's systemd under our unshare). */
function isContainerInit(pid: number): boolean {
  try {
    const ns = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/);
    return ns?.length === 3 && ns[2] === '1';
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let beds = 0;

/**
 * Boots `n` hosts (n ≤ 28) on a new bridge and resolves once every sshd answers. Needs root,
 * systemd-nspawn, ssh and the cached root. `t.after` halts the hosts (SIGTERM to nspawn, which halts
 * the container's systemd), kills what did not stop within 10 s, and removes the bridge, the upper
 * dirs and the keys.
 */
export async function bootHosts(t: TestContextLike, n: number, opts: BootOptions = {}): Promise<HostBed> {
  if (!existsSync(join(HOST_ROOTFS, '.kubeha-host-rootfs'))) throw new Error(`no host root at ${HOST_ROOTFS}: run scripts/host-rootfs.sh (as root)`);
  if (n < 1 || n > 28) throw new Error(`bootHosts: ${n} hosts (1..28 fit a /27 slot)`);
  // pid in base 36 (≤ 5 characters: pid_max ≤ 4 M), the bed counter and a random tail: unique
  // among concurrent test files, and short enough that vb-NAME (nspawn's port name) fits IFNAMSIZ.
  const id = `${process.pid.toString(36)}${(beds++).toString(36)}${randomBytes(2).toString('hex').slice(0, 3)}`;
  const bridge = `khb${id}`;
  const dir = mkdtempSync(join(tmpdir(), `kubeha-hosts-${id}-`));
  const { slot, release } = await claimSlot(bridge, dir).catch((e: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const base = slot * 32;
  const network = `${NET}.${base}`;
  const bridgeIp = `${NET}.${base + 1}`;
  const children: { child: ChildProcess; exited: Promise<void>; nspawnPid?: number }[] = [];

  t.after(async () => {
    const stopped = (c: (typeof children)[number]) => c.child.exitCode !== null || c.child.signalCode !== null;
    const signal = (pid: number | undefined, sig: NodeJS.Signals) => {
      try {
        if (pid) process.kill(pid, sig);
      } catch {
        // exited meanwhile
      }
    };
    for (const c of children) if (!stopped(c)) signal(c.nspawnPid, 'SIGTERM');
    const all = Promise.all(children.map((c) => c.exited));
    const timer = new Promise<void>((r) => setTimeout(r, 10_000).unref());
    await Promise.race([all, timer]);
    // unshare's --kill-child SIGKILLs nspawn, and nspawn's PID namespace goes with it.
    for (const c of children) if (!stopped(c)) signal(c.child.pid, 'SIGKILL');
    await all;
    try {
      ip('link', 'del', bridge);
    } catch {
      // never created
    }
    rmSync(dir, { recursive: true, force: true });
    removeNspawnLeftovers(id);
    release();
  });

  ip('link', 'add', bridge, 'type', 'bridge');
  // No IPv6 on the bridge's own side: nothing of ours leaves it but the test's IPv4.
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`, '1');
  } catch {
    // IPv6 disabled on this machine
  }
  ip('addr', 'add', `${bridgeIp}/${PREFIX_LEN}`, 'dev', bridge);
  ip('link', 'set', bridge, 'up');

  const keyFile = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `kubeha-test-${id}`, '-f', keyFile]);
  const publicKey = readFileSync(`${keyFile}.pub`, 'utf8');
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, '');
  const sshOptions = ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-i', keyFile, '-o', 'ConnectTimeout=5', '-l', 'root'];

  const deadline = Date.now() + (opts.bootTimeoutMs ?? 60_000);
  const boot = async (i: number): Promise<Host> => {
    const name = `kh${id}${i.toString(36)}`;
    const hostIp = `${NET}.${base + 2 + i}`;
    const upper = join(dir, name, 'upper');
    const f = (p: string, content: string, mode = 0o644) => {
      const file = join(upper, p);
      writeFileSync(file, content);
      chmodSync(file, mode);
    };
    // The upper dir's folders shadow the root's attributes (overlayfs takes a merged folder's mode
    // from the upper one): give each the mode it has in the root; /root must stay 0700 for sshd.
    for (const [d, mode] of [['etc', 0o755], ['etc/systemd', 0o755], ['etc/systemd/network', 0o755], ['root', 0o700], ['root/.ssh', 0o700]] as const) {
      mkdirSync(join(upper, d), { recursive: true });
      chmodSync(join(upper, d), mode);
    }
    f('etc/hostname', `${name}\n`);
    f('etc/hosts', `127.0.0.1 localhost\n127.0.1.1 ${name}\n`);
    f('etc/machine-id', `${randomBytes(16).toString('hex')}\n`, 0o444);
    f('etc/systemd/network/10-host0.network', `[Match]\nName=host0\n\n[Network]\nAddress=${hostIp}/${PREFIX_LEN}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`);
    f('root/.ssh/authorized_keys', publicKey, 0o600);

    const cgroups = hostCgroups(name);
    for (const cg of cgroups) mkdirSync(cg, { recursive: true });
    const started = Date.now();
    // sh moves itself into the host's cgroups, then becomes setpriv → unshare → nspawn.
    const enterCgroups = `for f in ${cgroups.map((_, k) => `"$${k + 1}"`).join(' ')}; do echo $$ > "$f/cgroup.procs" || exit 1; done; shift ${cgroups.length}; exec "$@"`;
    const child = spawn('sh', ['-c', enterCgroups, 'sh', ...cgroups, 'setpriv', ...DIE_WITH_TEST, 'unshare', '--pid', '--fork', '--kill-child=SIGKILL', '--',
      'systemd-nspawn', '-D', HOST_ROOTFS, `--overlay=${HOST_ROOTFS}:${upper}:/`, '--boot', `--network-bridge=${bridge}`,
      '--register=no', '--keep-unit', '-M', name, '--console=read-only', ...(opts.bindReadOnly ?? []).map((p) => `--bind-ro=${p}`)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: string) => {
      out = (out + d).slice(-64_000);
    };
    child.stdout?.setEncoding('utf8').on('data', keep);
    child.stderr?.setEncoding('utf8').on('data', keep);
    const entry: (typeof children)[number] = { child, exited: new Promise((r) => child.once('close', () => r())) };
    children.push(entry);
    const alive = () => child.exitCode === null && child.signalCode === null;

    entry.nspawnPid = await childOf(child.pid!, deadline);
    const leaderPid = entry.nspawnPid === undefined ? undefined : await childOf(entry.nspawnPid, deadline, isContainerInit);
    if (!leaderPid) throw new Error(`${name}: no container init under nspawn; output:\n${out.slice(-4000)}`);
    await waitSshBanner(hostIp, deadline, alive, () => out);
    const bootMs = Date.now() - started;
    // The keys this host generated at its first boot (ssh.service's ExecStartPre runs ssh-keygen -A
    // before sshd listens), read from its upper dir: the root has none.
    const sshDir = join(upper, 'etc/ssh');
    const hostKeys = readdirSync(sshDir).filter((k) => /^ssh_host_.*_key\.pub$/.test(k)).sort()
      .map((k) => readFileSync(join(sshDir, k), 'utf8').trim().split(/\s+/).slice(0, 2).join(' '));
    return {
      name, ip: hostIp, hostKeys, leaderPid, bootMs,
      exec: (cmd, timeoutMs = 60_000) => run('ssh', [...sshOptions, hostIp, '--', cmd], timeoutMs),
      enter: (args, timeoutMs = 60_000) => run('nsenter', ['-t', String(leaderPid), '-a', '--', ...args], timeoutMs),
      console: () => out,
    };
  };
  const hosts = await Promise.all([...Array(n).keys()].map(boot));
  writeFileSync(knownHosts, hosts.flatMap((h) => h.hostKeys.map((k) => `${h.ip} ${k}\n`)).join(''));
  return {
    hosts, bridge, bridgeIp, prefixLen: PREFIX_LEN, network, spareIp: `${NET}.${base + 30}`,
    keyFile, publicKey, knownHosts, sshOptions, dir,
  };
}
