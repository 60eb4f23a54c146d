import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../src/clock.js';
import { TrackScript } from '../../src/vrrp/track-script.js';

/** Lets the next run fall due (unless it is the first) and waits for its verdict; the child process is real. */
async function nextRun(clock: FakeClock, s: TrackScript, first = false): Promise<void> {
  const before = s.runs;
  if (!first) clock.advance(s.cfg.interval);
  for (let i = 0; i < 300 && s.runs === before; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(s.runs, before + 1, 'the script ran once');
}

test('track script: keepalived rise/fall on the exit status; a hung script is killed at its timeout and fails', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-track-'));
  const flag = join(dir, 'rc');
  writeFileSync(flag, '0');
  const clock = new FakeClock(0);
  const changes: boolean[] = [];
  const cfg = { name: 'lb', command: `exit $(cat ${flag})`, interval: 1000, timeout: 2000, rise: 2, fall: 2, weight: -30 };
  const s = new TrackScript(cfg, clock, (x) => changes.push(x.ok));
  t.after(() => s.stop());
  assert.equal(s.ok, true, 'a script counts as passing until it has failed');
  s.start();
  await nextRun(clock, s, true);
  writeFileSync(flag, '1');
  await nextRun(clock, s);
  assert.equal(s.ok, true, 'one failure is not `fall` failures');
  await nextRun(clock, s);
  assert.equal(s.ok, false);
  assert.equal(s.lastExit, 1);
  writeFileSync(flag, '0');
  await nextRun(clock, s);
  assert.equal(s.ok, false, 'one pass is not `rise` passes');
  await nextRun(clock, s);
  assert.equal(s.ok, true);
  assert.deepEqual(changes, [false, true]);

  // A script whose own child hangs: the timeout (on the instance's clock) kills the whole group.
  const pidFile = join(dir, 'sleeper');
  const hung = new TrackScript({ ...cfg, name: 'hung', command: `sleep 30 & echo $! > ${pidFile}; wait`, timeout: 50, fall: 1 }, clock, () => {});
  t.after(() => hung.stop());
  hung.start();
  for (let i = 0; i < 200 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 10));
  const sleeper = Number(readFileSync(pidFile, 'utf8'));
  assert.equal(hung.lastExit, undefined, 'still running before its timeout');
  clock.advance(50);
  for (let i = 0; i < 200 && hung.lastExit === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(hung.lastExit, 'timeout');
  assert.equal(hung.ok, false);
  // Gone, or a zombie waiting for a reaper (the killed shell was its parent): state Z in /proc.
  const alive = () => {
    try {
      return readFileSync(`/proc/${sleeper}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(alive(), false, "the script's own child was killed with it");
});
