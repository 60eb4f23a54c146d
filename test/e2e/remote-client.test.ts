// The drill's client loop for another host (drill/remote-client.ts): its shell script, run here by
// sh against a stand-in apiserver on loopback, writes one line per request that the parser reads
// back on this machine's clock — answers, refusals and timeouts told apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRemoteSample, remoteLoopScript, stopFile } from '../../src/drill/remote-client.js';
import { SimApiserver } from '../../src/sim/apiserver.js';
import { selfSignedCert } from '../../src/sim/self-signed.js';

test('remote client loop: the script\'s lines parse into samples; a refused port and a silent one fail as such', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-remote-loop-'));
  const sim = new SimApiserver({ name: 'm1', host: '127.0.0.1', port: 0, tls: await selfSignedCert('m1'), shutdownDelayMs: 0, watchGraceMs: 0, failReadyz: false, latencyMs: 0, blackhole: false });
  // a port that accepts and never answers, and one that refuses (a closed listener's)
  const silent = createServer(() => undefined);
  // one hook, the servers first: a failing step must not leave them holding the process open
  t.after(async () => {
    silent.close();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = await sim.start();
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const refusedPort = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));

  const lines = async (url: string) => {
    const file = join(dir, `once-${Math.random().toString(36).slice(2)}.log`);
    const child = spawn('sh', ['-c', remoteLoopScript(file, url, 50, 500, 60)], { stdio: 'ignore' });
    let text = '';
    for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      if (text.split('\n').filter(Boolean).length >= 5) break;
    }
    writeFileSync(stopFile(file), '');
    assert.equal(await new Promise((r) => child.once('exit', r)), 0, 'the loop ends once its stop file is there');
    return text.split('\n').filter(Boolean).slice(0, 5);
  };
  const ok = (await lines(`https://127.0.0.1:${port}/version`)).map((l) => parseRemoteSample(l, 0)!);
  assert.equal(ok.length, 5);
  for (const s of ok) {
    assert.equal(s.ok, true, JSON.stringify(s));
    assert.ok(s.endMs >= s.startMs && Math.abs(s.startMs - Date.now()) < 60_000, 'times in ms on this clock');
  }
  const refused = (await lines(`https://127.0.0.1:${refusedPort}/version`)).map((l) => parseRemoteSample(l, 0)!);
  assert.deepEqual([...new Set(refused.map((s) => s.error))], ['ECONNREFUSED']);
  const hung = (await lines(`https://127.0.0.1:${(silent.address() as { port: number }).port}/version`)).map((l) => parseRemoteSample(l, 0)!);
  assert.deepEqual([...new Set(hung.map((s) => s.error))], ['TIMEOUT']);
  for (const s of hung) assert.ok(s.endMs - s.startMs < 1500, 'curl\'s --max-time holds the deadline');
});

test('remote client loop: a line on the host\'s clock is moved onto ours; anything else is not a sample', () => {
  // the requests in flight (background subshells) end before the loop does: nothing writes the file after it exited
  assert.match(remoteLoopScript('/tmp/f', 'https://x/version', 50, 500, 60), /\ndone\nwait$/);
  assert.deepEqual(parseRemoteSample('1000500 1000520 200 0', 500), { startMs: 1000000, endMs: 1000020, ok: true });
  assert.deepEqual(parseRemoteSample('1000500 1000520 503 0', 0), { startMs: 1000500, endMs: 1000520, ok: false, error: 'HTTP 503' });
  assert.deepEqual(parseRemoteSample('1000500 1000520 000 56', 0), { startMs: 1000500, endMs: 1000520, ok: false, error: 'ECONNRESET' });
  assert.equal(parseRemoteSample('1000500 1000520 000 99', 0)!.error, 'curl exit 99');
  assert.equal(parseRemoteSample('1000500 10005', 0), undefined, 'a half-written line');
  assert.equal(parseRemoteSample('', 0), undefined);
});
