// The outer half of the full-stack demo: works out whether this machine lets it make a private user
// and network namespace (no root needed where user namespaces are allowed), starts the stage
// (stage.ts) inside one through util-linux `unshare`, and relays 127.0.0.1 ports to the stage's Unix
// sockets so that a browser, curl and `kubeha status` reach the dashboard, the VIP and both nodes.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ListenOptions, NetConnectOpts } from 'node:net';
import { fileURLToPath } from 'node:url';
import { portOf, relay } from './relay.js';
import { STAGE } from './stage-plan.js';
import type { StageOptions } from './stage.js';

const KUBEHA_BIN = fileURLToPath(new URL('../../../bin/kubeha.js', import.meta.url));
/** The environment variable that tells `kubeha demo` it is the stage, inside the namespaces. */
export const STAGE_ENV = 'KUBEHA_DEMO_STAGE';
/** The environment variable of a relay the stage runs in an LB node's namespace (its admin API listens on loopback there). */
export const RELAY_ENV = 'KUBEHA_DEMO_RELAY';

/** A relay process: `from` to `to` until its stdin ends (the stage gone). */
export async function runRelay(spec: string): Promise<number> {
  const { from, to } = JSON.parse(spec) as { from: ListenOptions; to: NetConnectOpts };
  const server = await relay(from, to);
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve).on('error', resolve).resume();
  });
  server.close();
  return 0;
}

const onPath = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const sysctl = (path: string) => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/**
 * The `unshare` arguments that give the stage its own user (unless root), network, mount and PID
 * namespaces, or why this machine cannot: the one line the demo prints before it falls back to the
 * single load balancer on loopback.
 */
export function stageNamespaces(): { ok: true; args: string[] } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces are Linux only' };
  const packages: Record<string, string> = { unshare: 'util-linux', ip: 'iproute2', mount: 'mount', openssl: 'openssl' };
  const missing = Object.keys(packages).filter((c) => !onPath(c));
  if (missing.length > 0) return { ok: false, reason: `${missing.map((c) => `${c} (Debian package ${packages[c]})`).join(', ')} not found` };
  const rest = ['--net', '--mount', '--pid', '--fork', '--kill-child', '--mount-proc'];
  const tryIt = (args: string[]) => spawnSync('unshare', [...args, 'true'], { encoding: 'utf8', timeout: 10_000 });
  const user = tryIt(['--user', '--map-root-user', ...rest]);
  if (user.status === 0) return { ok: true, args: ['--user', '--map-root-user', ...rest] };
  if (process.getuid?.() === 0 && tryIt(rest).status === 0) return { ok: true, args: rest };
  const refusal = userNamespaceRefusal((name) => sysctl(`/proc/sys/${name.replace(/\./g, '/')}`));
  if (refusal) return { ok: false, reason: refusal };
  return { ok: false, reason: `unshare could not make a user and network namespace: ${(user.stderr || user.error?.message || '').trim().split('\n')[0]}` };
}

/**
 * Which sysctl refuses user namespaces, read through `get` (a sysctl's name, dotted): the limit
 * to none, Debian's switch for unprivileged ones, Ubuntu's AppArmor restriction. Undefined: none.
 */
export function userNamespaceRefusal(get: (name: string) => string | undefined): string | undefined {
  if (get('user.max_user_namespaces') === '0') return 'user namespaces are disabled here (sysctl user.max_user_namespaces = 0)';
  if (get('kernel.unprivileged_userns_clone') === '0') return 'unprivileged user namespaces are disabled here (sysctl kernel.unprivileged_userns_clone = 0)';
  if (get('kernel.apparmor_restrict_unprivileged_userns') === '1') return 'AppArmor refuses unprivileged user namespaces here (sysctl kernel.apparmor_restrict_unprivileged_userns = 1)';
  return undefined;
}

/** Options of the full-stack demo, as the CLI parsed them. */
export interface FullStackOptions {
  lbPort: number;
  chaos: boolean;
  chaosIntervalMs: number;
  chaosRounds?: number;
  forMs?: number;
  quiet: boolean;
}

/** Runs the stage inside its namespaces until it ends (Ctrl-C, --for, the chaos rounds); its exit code. */
export async function fullStackDemo(o: FullStackOptions, unshareArgs: string[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-demo-'));
  const relays = [];
  try {
    const vip = await relay({ host: '127.0.0.1', port: o.lbPort }, { path: join(dir, 'vip.sock') });
    const dashboard = await relay({ host: '127.0.0.1', port: 0 }, { path: join(dir, 'dashboard.sock') });
    const admin = await Promise.all(STAGE.lbs.map((lb) => relay({ host: '127.0.0.1', port: 0 }, { path: join(dir, `${lb.name}-admin.sock`) })));
    relays.push(vip, dashboard, ...admin);
    const stage: StageOptions = {
      dir, ports: { vip: portOf(vip), dashboard: portOf(dashboard), admin: admin.map(portOf) },
      chaos: o.chaos, chaosIntervalMs: o.chaosIntervalMs, quiet: o.quiet,
      ...(o.chaosRounds !== undefined ? { chaosRounds: o.chaosRounds } : {}), ...(o.forMs !== undefined ? { forMs: o.forMs } : {}),
    };
    const child = spawn('unshare', [...unshareArgs, '--', process.execPath, KUBEHA_BIN, 'demo'], {
      stdio: ['pipe', 'inherit', 'inherit'],
      env: { ...process.env, [STAGE_ENV]: JSON.stringify(stage) },
    });
    // The stage stops when its stdin ends: on our SIGTERM, or when we are gone. Ctrl-C reaches it directly.
    const end = () => child.stdin.end();
    const keepWaiting = () => undefined;
    process.on('SIGTERM', end);
    process.on('SIGINT', keepWaiting);
    const code = await new Promise<number>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
    process.off('SIGTERM', end);
    process.off('SIGINT', keepWaiting);
    return code;
  } finally {
    for (const r of relays) r.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
