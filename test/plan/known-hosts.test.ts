// Host key verification (src/apply/known-hosts.ts) against OpenSSH's own tools: ssh-keygen writes
// the keys, hashes the file (-H), finds hosts in it (-F) and prints fingerprints (-l).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprint, knownHostsLine, parseKnownHosts, patternsMatch, verifyHostKey } from '../../src/apply/known-hosts.js';

function keyPair(dir: string, name: string, type: string): { type: string; key: string; file: string } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', file]);
  const [t, key] = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/) as [string, string];
  return { type: t, key, file: `${file}.pub` };
}

test('known_hosts: plain, [host]:port, wildcards, negation and ssh-keygen -H hashed lines; known, unknown, changed and revoked keys', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-kh-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const m1 = keyPair(dir, 'm1', 'ed25519');
  const m2 = keyPair(dir, 'm2', 'ecdsa');
  const other = keyPair(dir, 'other', 'ed25519');
  const gone = keyPair(dir, 'gone', 'ed25519');
  for (const k of [m1, m2, other]) {
    const keygen = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', k.file], { encoding: 'utf8' }).split(/\s+/)[1];
    assert.equal(fingerprint(k.key), keygen, 'the fingerprint ssh-keygen -l prints');
  }
  const text = [
    '# a comment, then a blank line',
    '',
    `10.8.4.91,master1 ${m1.type} ${m1.key}`,
    `[10.8.4.92]:2222 ${m2.type} ${m2.key}`,
    `10.8.5.*,!10.8.5.7 ${other.type} ${other.key}`,
    `@revoked * ${gone.type} ${gone.key}`,
    'garbage line',
  ].join('\n');
  const plain = join(dir, 'known_hosts');
  writeFileSync(plain, `${text}\n`);
  const hashed = join(dir, 'known_hosts_hashed');
  writeFileSync(hashed, `${text.split('\n').filter((l) => !l.includes('*') && !l.startsWith('@') && !l.startsWith('garbage')).join('\n')}\n`);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', hashed]);
  assert.match(readFileSync(hashed, 'utf8'), /^\|1\|/m, 'ssh-keygen hashed it');

  // [file, host, port, offered key, verdict]
  const cases: [string, string, number, { type: string; key: string }, string][] = [
    [plain, '10.8.4.91', 22, m1, 'known'],
    [plain, 'master1', 22, m1, 'known'],
    [plain, '10.8.4.91', 22, other, 'changed'],
    [plain, '10.8.4.91', 2222, m1, 'unknown'],
    [plain, '10.8.4.92', 2222, m2, 'known'],
    [plain, '10.8.4.92', 22, m2, 'unknown'],
    [plain, '10.8.5.3', 22, other, 'known'],
    [plain, '10.8.5.7', 22, other, 'unknown'],
    [plain, '10.8.6.1', 22, gone, 'revoked'],
    [hashed, '10.8.4.91', 22, m1, 'known'],
    [hashed, 'master1', 22, m1, 'known'],
    [hashed, 'master1', 22, other, 'changed'],
    [hashed, '10.8.4.92', 2222, m2, 'known'],
    [hashed, '10.8.4.93', 22, m1, 'unknown'],
  ];
  for (const [file, host, port, offered, expected] of cases) {
    const lines = parseKnownHosts(readFileSync(file, 'utf8'));
    const verdict = verifyHostKey(lines, host, port, offered.type, offered.key);
    assert.equal(verdict.kind, expected, `${file === plain ? 'plain' : 'hashed'} ${host}:${port}`);
    if (verdict.kind === 'changed') assert.equal(verdict.expected, fingerprint(m1.key), 'the changed verdict names the key on file');
    // OpenSSH's own lookup agrees on whether the host is in the file at all
    const name = port === 22 ? host : `[${host}]:${port}`;
    const found = spawnSync('ssh-keygen', ['-F', name, '-f', file], { encoding: 'utf8' }).stdout.split('\n').some((l) => l.trim() && !l.startsWith('#') && !l.startsWith('@revoked'));
    if (expected !== 'revoked') assert.equal(found, expected !== 'unknown', `ssh-keygen -F ${name} on the ${file === plain ? 'plain' : 'hashed'} file`);
  }
  assert.equal(parseKnownHosts(text).length, 4, 'comments, blank and garbage lines skipped');
  assert.equal(knownHostsLine('10.8.4.93', 2222, m1.type, m1.key), `[10.8.4.93]:2222 ${m1.type} ${m1.key}\n`);
});

test('known_hosts patterns: one positive match and no negated one, * and ?, case-insensitive', () => {
  const table: [string, string, boolean][] = [
    ['master1', 'MASTER1', true],
    ['master?', 'master1', true],
    ['master?', 'master10', false],
    ['*.example.org,!bad.example.org', 'good.example.org', true],
    ['*.example.org,!bad.example.org', 'bad.example.org', false],
    ['!bad.example.org', 'good.example.org', false],
    ['10.8.4.*', '10.8.4.91', true],
    ['[10.8.4.92]:2222', '[10.8.4.92]:2222', true],
    ['10.8.4.9', '10.8.4.91', false],
  ];
  for (const [patterns, name, expected] of table) assert.equal(patternsMatch(patterns, name), expected, `${patterns} ~ ${name}`);
});
