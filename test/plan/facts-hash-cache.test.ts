// The facts script's hash cache, run by this machine's own sh on real files: a large file's hash
// comes from the cache only while its identity (size, device, inode, mtime, ctime) is unchanged; a
// file changed a moment ago is hashed but not kept; small files are never cached; without the
// state folder nothing is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { factsScript, parseFacts } from '../../src/apply/facts.js';

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('facts: a large file\'s hash is kept on the host by its identity and used while that is unchanged; a fresh, a changed or a small file is read', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-facts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cache = join(dir, 'state', 'hashes');
  // a large file whose ctime is long past: node itself (read only); one written just now; a small one
  const old = realpathSync(process.execPath);
  const oldSha = sha(old);
  const fresh = join(dir, 'fresh.bin');
  writeFileSync(fresh, Buffer.alloc(2 * 1_048_576, 7));
  const small = join(dir, 'small.conf');
  writeFileSync(small, 'a: 1\n');
  // the script's clock in whole seconds (`date +%s`), set by the test: the settled rule never races the real one
  const bin = join(dir, 'bin');
  execFileSync('mkdir', [bin]);
  const realDate = execFileSync('sh', ['-c', 'command -v date'], { encoding: 'utf8' }).trim();
  writeFileSync(join(bin, 'date'), `#!/bin/sh\nif [ "$1" = "+%s" ]; then echo "$FACTS_NOW"; else exec ${realDate} "$@"; fi\n`, { mode: 0o755 });
  const ctimeOf = (path: string) => Number(execFileSync('stat', ['-L', '-c', '%Z', path], { encoding: 'utf8' }));
  const facts = (nowS: number) => parseFacts(execFileSync('sh', ['-s'], {
    input: factsScript([old, fresh, small, join(dir, 'none')], [], cache), encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, FACTS_NOW: String(nowS) },
  }), 0, 0).files;
  const cached = () => readFileSync(cache, 'utf8').trim().split('\n').filter(Boolean);
  const keptPaths = () => cached().map((l) => l.split(' ').pop());

  // no state folder: right hashes, nothing written
  const first = facts(ctimeOf(fresh));
  assert.deepEqual([first.get(old)?.sha256, first.get(fresh)?.sha256, first.get(small)?.sha256, first.get(join(dir, 'none'))], [oldSha, sha(fresh), sha(small), undefined]);
  assert.equal(existsSync(join(dir, 'state')), false, 'facts never create the state folder');

  // with it, at the second the fresh file was written: the old large file is kept; the fresh one is
  // not (a write within the same clock tick may not move its ctime); the small one never is
  execFileSync('mkdir', [join(dir, 'state')]);
  assert.equal(facts(ctimeOf(fresh)).get(old)?.sha256, oldSha);
  assert.deepEqual(keptPaths(), [old], cached().join('\n'));
  assert.match(cached()[0]!, new RegExp(`^${oldSha} \\d+ \\d+:\\d+ (\\S+ \\S+\\.\\d{9} \\S+ ){2}${old.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));

  // the kept hash is what the next run reports (a made-up one proves the file is not read again)
  const madeUp = 'f'.repeat(64);
  writeFileSync(cache, `${cached()[0]!.replace(/^\S+/, madeUp)}\n`);
  assert.equal(facts(ctimeOf(fresh)).get(old)?.sha256, madeUp, 'the cache answers for an unchanged file');
  assert.equal(facts(ctimeOf(fresh)).get(old)?.sha256, madeUp, 'and is carried into the next cache');

  // an entry whose identity no longer matches is not used: the file changed (size, mtime, ctime)
  const stale = `${madeUp} ${readFileSync(fresh).length} 1:1 2001-01-01 00:00:00.000000000 +0000 2001-01-01 00:00:00.000000000 +0000 ${fresh}`;
  writeFileSync(cache, `${stale}\n`);
  appendFileSync(fresh, 'x');
  assert.equal(facts(ctimeOf(fresh)).get(fresh)?.sha256, sha(fresh), 'a changed file is read');
  assert.deepEqual(keptPaths(), [old], 'and, changed this second, not kept: the new cache holds this run\'s settled large files only');

  // two seconds on, the fresh file is settled: kept with its real hash
  assert.equal(facts(ctimeOf(fresh) + 2).get(fresh)?.sha256, sha(fresh));
  assert.deepEqual(keptPaths().sort(), [old, fresh].sort());
  assert.ok(cached().some((l) => l.startsWith(`${sha(fresh)} `) && l.endsWith(` ${fresh}`)), cached().join('\n'));
});
