import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { formatAccessLine } from '../../src/observe/access-log.js';
import type { SessionRecord } from '../../src/proxy/session.js';
import { Daemon } from '../../src/daemon.js';
import { lbConfig, taggedBackend, until, whoAnswers } from '../support/tcp.js';

const base: SessionRecord = {
  frontend: 'apiserver', backend: 'apiservers', clientAddress: '10.8.4.101', clientPort: 51234, server: 'master1',
  startedAtMs: 0, connectMs: 1.4, durationMs: 1234.5, bytesUp: 517, bytesDown: 2048, retries: 0, termination: 'client-closed', detail: '',
};
const END = Date.UTC(2026, 10, 22, 13, 57, 29);

test('access log text lines, table', () => {
  const table: [Partial<SessionRecord>, string][] = [
    [{}, '10.8.4.101:51234 [22/Nov/2026:13:57:29 +0000] apiserver apiservers/master1 connect=1ms duration=1235ms up=517 down=2048 retries=0 client-closed'],
    [{ termination: 'server-closed', retries: 1 }, '10.8.4.101:51234 [22/Nov/2026:13:57:29 +0000] apiserver apiservers/master1 connect=1ms duration=1235ms up=517 down=2048 retries=1 server-closed'],
    [{ termination: 'connect-failed', server: undefined, connectMs: -1, retries: 3, bytesUp: 0, bytesDown: 0 }, '10.8.4.101:51234 [22/Nov/2026:13:57:29 +0000] apiserver apiservers/- connect=- duration=1235ms up=0 down=0 retries=3 connect-failed(retries=3)'],
    [{ termination: 'idle-timeout' }, '10.8.4.101:51234 [22/Nov/2026:13:57:29 +0000] apiserver apiservers/master1 connect=1ms duration=1235ms up=517 down=2048 retries=0 idle-timeout'],
    [{ termination: 'shutdown', clientAddress: '::1' }, '[::1]:51234 [22/Nov/2026:13:57:29 +0000] apiserver apiservers/master1 connect=1ms duration=1235ms up=517 down=2048 retries=0 shutdown'],
  ];
  for (const [change, line] of table) assert.equal(formatAccessLine({ ...base, ...change }, END, 'text'), line);
});

test('access log json lines carry every field', () => {
  const line = JSON.parse(formatAccessLine({ ...base, termination: 'queue-full', server: undefined, connectMs: -1, detail: 'queue full' }, END, 'json')) as Record<string, unknown>;
  assert.deepEqual(line, {
    time: '2026-11-22T13:57:29.000Z', client: '10.8.4.101:51234', frontend: 'apiserver', backend: 'apiservers', server: null,
    connectMs: null, durationMs: 1234.5, bytesUp: 517, bytesDown: 2048, retries: 0, termination: 'queue-full', detail: 'queue full',
  });
});

test('the daemon writes one line per session to the access log file and reopens it after rotation', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-access-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const b = await taggedBackend('a');
  t.after(() => b.close());
  const path = join(dir, 'access.log');
  const cfg = lbConfig([{ name: 'a', port: b.port }]);
  cfg.accessLog = { format: 'json', path };
  const daemon = new Daemon({ log: pino({ level: 'silent' }) });
  await daemon.start(cfg);
  let stopped = false;
  t.after(() => (stopped ? undefined : daemon.shutdown(0)));
  const port = daemon.listener('fe')!.boundPort!;
  const readLines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  for (let i = 0; i < 3; i++) await whoAnswers(port);
  await until(() => daemon.listener('fe')!.active === 0, 5000, 'sessions to end');
  await rename(path, `${path}.1`);
  daemon.reopenAccessLog();
  await whoAnswers(port);
  await until(() => daemon.listener('fe')!.active === 0, 5000, 'the last session to end');
  await daemon.shutdown(0);
  stopped = true;
  const rotated = await readLines(`${path}.1`);
  const fresh = await readLines(path);
  assert.equal(rotated.length, 3, 'three sessions before the rotation');
  assert.equal(fresh.length, 1, 'one after it, in the reopened file');
  const rec = JSON.parse(fresh[0]!) as Record<string, unknown>;
  assert.equal(rec.server, 'a');
  assert.equal(rec.termination, 'client-closed');
  assert.equal(rec.bytesDown, 2, 'the greeting "a\\n"');
});
