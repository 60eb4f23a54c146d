#!/usr/bin/env node
// `npm run package`: the release artifact for hosts without Node.js — one self-contained tarball,
// extracted at / on the host:
//   opt/kubeha/VERSION-ARCH/   node (this machine's runtime), bin/, dist/src/, package.json,
//                              node_modules/ (production dependencies only), RELEASE
//   opt/kubeha/current         → VERSION-ARCH (apply and upgrades switch this one link)
//   usr/bin/kubeha             sh wrapper: the bundled node runs the bundled kubeha
// RELEASE holds the line `kubeha version` prints from this artifact: apply compares it with the
// host's to decide whether to upload. Prints the tarball's path (last line).
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const arch = { x64: 'x64', arm64: 'arm64' }[process.arch] ?? process.arch;
const name = `${pkg.version}-${arch}`;
const out = join(root, 'dist-release');
const stage = join(out, 'stage');
const app = join(stage, 'opt/kubeha', name);
const run = (cmd, args, o = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...o });

rmSync(stage, { recursive: true, force: true });
mkdirSync(app, { recursive: true });
if (!existsSync(join(root, 'dist/src/cli/main.js'))) run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')]);
for (const p of ['bin', 'dist/src', 'package.json', 'package-lock.json']) cpSync(join(root, p), join(app, p), { recursive: true });
// The production dependencies alone, from the lock file; from npm's cache when it has them. No
// install scripts: koffi ships its native builds, ssh2's optional native parts stay unbuilt.
run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, stdio: ['ignore', 'ignore', 'inherit'] });
rmSync(join(app, 'package-lock.json'));
cpSync(process.execPath, join(app, 'node'));
const release = `kubeha ${pkg.version} (node ${process.version})`;
writeFileSync(join(app, 'RELEASE'), `${release}\n`);
symlinkSync(name, join(stage, 'opt/kubeha/current'));
mkdirSync(join(stage, 'usr/bin'), { recursive: true });
writeFileSync(join(stage, 'usr/bin/kubeha'), [
  '#!/bin/sh',
  '# kubeha from its release tarball, with its own Node runtime (scripts/package.mjs).',
  '# KUBEHA_RUNTIME: the runtime a restart without a gap (SIGUSR2) forks the successor with.',
  'KUBEHA_RUNTIME=/opt/kubeha/current/node exec /opt/kubeha/current/node /opt/kubeha/current/bin/kubeha.js "$@"',
  '',
].join('\n'));
chmodSync(join(stage, 'usr/bin/kubeha'), 0o755);
const tarball = join(out, `kubeha-${pkg.version}-linux-${arch}.tar.gz`);
// Reproducible: sorted, owned by root, one fixed mtime.
run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=2026-01-01 00:00:00Z', '-czf', tarball, '-C', stage, 'opt', 'usr']);
rmSync(stage, { recursive: true, force: true });
console.log(`# ${release}: ${tarball}`);
console.log(tarball);
