#!/usr/bin/env node
// `npm test`: installs what the tiers need (as root, from Debian), builds, and runs every tier with
// node's own test runner. Without root, tiers that need root or a missing package are skipped with
// the reason printed; under CI=true such a tier fails the run instead of skipping.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const CI = process.env.CI === 'true';
const isRoot = process.getuid?.() === 0;

/**
 * Each tier: its test folders (under dist/test), the commands it needs, the Debian packages that provide them;
 * optionally build scripts (one or a list) whose last output line (a folder) the tests get in the `buildEnv` variable(s).
 */
const TIERS = [
  { name: 'unit and loopback', dirs: ['config', 'health', 'proxy', 'observe', 'sim', 'docs', 'vrrp', 'election', 'plan', 'lint', 'doctor', 'demo', 'drill', 'discovery', 'kernel', 'bgp'], needs: [['openssl', 'openssl'], ['ssh-keygen', 'openssh-client']] },
  { name: 'e2e (processes on loopback)', dirs: ['e2e'], needs: [['openssl', 'openssl'], ['curl', 'curl']] },
  { name: 'election (real etcd)', dirs: ['election-etcd'], needs: [['etcd', 'etcd-server']] },
  {
    name: 'plan (real haproxy, nginx, keepalived, etcd)',
    dirs: ['plan-real'],
    root: true,
    needs: [['haproxy', 'haproxy'], ['nginx', 'nginx'], ['/usr/lib/nginx/modules/ngx_stream_module.so', 'libnginx-mod-stream'], ['keepalived', 'keepalived'], ['etcd', 'etcd-server'], ['ip', 'iproute2'], ['openssl', 'openssl']],
  },
  {
    name: 'kube-apiserver (real v1.20.2 built from Debian source, kubectl, kubeadm)',
    dirs: ['kube-e2e'],
    root: true,
    // (the kernel data plane's stateful failover runs here too: it needs real apiservers)
    needs: [['etcd', 'etcd-server'], ['openssl', 'openssl'], ['ip', 'iproute2'], ['nft', 'nftables'], ['conntrack', 'conntrack'], ['conntrackd', 'conntrackd']],
    // Builds (first run ~5 minutes, then cached) and passes the folder in KUBEHA_K8S_BIN.
    build: 'scripts/kube-apiserver.sh',
    buildEnv: 'KUBEHA_K8S_BIN',
  },
  {
    name: 'apply (Debian hosts booted with systemd-nspawn, real sshd, systemd, etcd and kube-apiserver)',
    dirs: ['apply'],
    root: true,
    needs: [['debootstrap', 'debootstrap'], ['systemd-nspawn', 'systemd-container'], ['ssh', 'openssh-client'], ['ssh-keygen', 'openssh-client'], ['ip', 'iproute2'],
      ['etcd', 'etcd-server'], ['etcdctl', 'etcd-client'], ['openssl', 'openssl']],
    // A Debian 12 root built with debootstrap (first run ~45 s, then cached) in KUBEHA_HOST_ROOTFS, and
    // the kube-apiserver tier's binaries (cached) in KUBEHA_K8S_BIN: the hosts run both.
    build: ['scripts/host-rootfs.sh', 'scripts/kube-apiserver.sh'],
    buildEnv: ['KUBEHA_HOST_ROOTFS', 'KUBEHA_K8S_BIN'],
  },
  {
    // not a root tier: as root the test runs the demo as user nobody (setpriv), else as the user it is
    name: 'demo without root (user and network namespaces)',
    dirs: ['demo-ns'],
    needs: [['unshare', 'util-linux'], ['setpriv', 'util-linux'], ['ip', 'iproute2'], ['openssl', 'openssl']],
  },
  // the demo's dashboard test runs the full-stack demo: user and network namespaces
  { name: 'browser (headless Chromium)', dirs: ['browser'], needs: [['openssl', 'openssl'], ['chromium', 'chromium'], ['unshare', 'util-linux'], ['ip', 'iproute2']] },
  { name: 'prometheus rules (promtool)', dirs: ['rules'], needs: [['promtool', 'prometheus']] },
  { name: 'kernel data plane (nftables in a network namespace)', dirs: ['kernel-netns'], root: true, needs: [['nft', 'nftables'], ['conntrack', 'conntrack'], ['ip', 'iproute2']] },
  {
    name: 'bgp (network namespaces, Debian BIRD 2, FRR and GoBGP as the router)',
    dirs: ['bgp-netns'],
    root: true,
    needs: [['bird', 'bird2'], ['birdc', 'bird2'], ['/usr/lib/frr/bgpd', 'frr'], ['/usr/lib/frr/zebra', 'frr'], ['gobgpd', 'gobgpd'], ['gobgp', 'gobgpd'], ['ip', 'iproute2']],
  },
  {
    name: 'vrrp and VIP election (network namespaces, Debian keepalived and etcd)',
    dirs: ['vrrp-netns'],
    root: true,
    needs: [['keepalived', 'keepalived'], ['ip', 'iproute2'], ['etcd', 'etcd-server']],
  },
];

/** A command on PATH, or (starting with /) a file that must exist. */
const have = (cmd) => (cmd.startsWith('/') ? existsSync(cmd) : spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0);

function ensurePackages() {
  const missing = [...new Set(TIERS.flatMap((t) => t.needs).filter(([cmd]) => !have(cmd)).map(([, pkg]) => pkg))];
  if (missing.length === 0) return;
  if (!isRoot) {
    console.log(`# not root: cannot install ${missing.join(' ')}; tiers that need them are skipped`);
    return;
  }
  console.log(`# installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
}

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((entry) => {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) return testFiles(p);
    return p.endsWith('.test.js') ? [p] : [];
  });
}

/**
 * Runs every build script the runnable tiers name, each once and all at the same time (the
 * kube-apiserver build is CPU-bound, debootstrap waits on the network and the disk); resolves with
 * each script's last output line (a folder), or undefined for one that failed.
 */
async function runBuilds(scripts) {
  const one = (build) => new Promise((resolve) => {
    console.log(`# building: ${build}`);
    const started = Date.now();
    const child = spawn('bash', [build], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.on('error', () => resolve([build, undefined]));
    child.on('close', (code) => {
      console.log(`# built ${build} in ${Math.round((Date.now() - started) / 1000)} s${code === 0 ? '' : `: FAILED (exit ${code})`}`);
      resolve([build, code === 0 ? out.trim().split('\n').pop() : undefined]);
    });
  });
  return new Map(await Promise.all([...new Set(scripts)].map(one)));
}

ensurePackages();
console.log('# building (tsc)');
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });

const files = [];
const skipped = [];
const runnable = [];
for (const tier of TIERS) {
  const missing = tier.needs.filter(([cmd]) => !have(cmd)).map(([cmd]) => cmd);
  if (tier.root && !isRoot) skipped.push(`${tier.name}: needs root`);
  else if (missing.length > 0) skipped.push(`${tier.name}: needs ${missing.join(', ')}`);
  else runnable.push(tier);
}
const built = await runBuilds(runnable.flatMap((t) => (t.build ? [t.build].flat() : [])));
for (const tier of runnable) {
  const builds = tier.build ? [tier.build].flat() : [];
  const failed = builds.filter((b) => built.get(b) === undefined);
  if (failed.length > 0) {
    skipped.push(`${tier.name}: ${failed.join(' and ')} failed`);
    continue;
  }
  // each build's folder, in the tier's variable for it
  builds.forEach((b, i) => (process.env[[tier.buildEnv].flat()[i]] = built.get(b)));
  files.push(...tier.dirs.flatMap((d) => testFiles(join('dist/test', d))));
}
for (const s of skipped) console.log(`# SKIPPED tier ${s}`);
if (skipped.length > 0 && CI) {
  console.error('# CI=true: a tier that cannot run is a failure');
  process.exit(1);
}
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=480000', ...files], { stdio: 'inherit' });
if (skipped.length > 0) console.log(`# ${skipped.length} tier(s) skipped: ${skipped.join('; ')}`);
process.exit(run.status ?? 1);
