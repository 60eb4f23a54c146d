// A restart without a gap: `kubeha run` hands its listening sockets to a successor on SIGUSR2 (the
// rendered unit's upgrade path), under a client loop that opens a new connection per request.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sdNotify } from '../../src/systemd-notify.js';
import { C, libc } from '../../src/vrrp/libc.js';
import { httpsGet, requestLoop } from '../support/processes.js';
import { cluster, workspace, type Workspace } from '../support/cluster.js';

let ws: Workspace;
before(async () => {
  ws = await workspace();
});

const RESTARTS = 100;

test(`${RESTARTS} restarts (SIGUSR2 handover) under a client loop: no refused or failed connection, and the admin API follows`, async (t) => {
  const c = await cluster(t, ws, 'handover', { healthCheck: { type: 'https', path: '/readyz', interval: '1s', timeout: '500ms', rise: 2, fall: 2 } });
  let pid = c.lb.child.pid!;
  const alive = new Set<number>([pid]);
  t.after(() => {
    for (const p of alive) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  // bounded in count and time; the time is generous: 100 handovers take ~80 s alone, twice that on a loaded machine
  const loop = requestLoop(c.lbPort, 4, 200_000, 400_000);
  while (loop.results.length < 50) await new Promise((r) => setTimeout(r, 20));
  const takeovers = () => c.lb.lines.filter((l) => l.event === 'handover-complete');
  for (let i = 1; i <= RESTARTS; i++) {
    const before = loop.results.length;
    process.kill(pid, 'SIGUSR2');
    const done = await c.lb.waitFor(() => takeovers().length >= i, 20_000, `takeover ${i}`).catch((err: Error) => {
      throw new Error(`${err.message}\n${c.lb.lines.slice(-12).map((l) => JSON.stringify(l)).join('\n')}`);
    });
    const old = pid;
    pid = Number(takeovers()[i - 1]!.pid);
    assert.notEqual(pid, old);
    alive.add(pid);
    await c.lb.waitFor((l) => l.event === 'stopped' && l.pid === old, 20_000, `pid ${old} to drain and stop`);
    alive.delete(old);
    // a few requests through the successor before the next restart
    while (loop.results.length < before + 8) {
      if (loop.ended()) throw new Error(`the request loop ran out of time after ${i} of ${RESTARTS} restarts (${loop.results.length} requests)`);
      await new Promise((r) => setTimeout(r, 5));
    }
    void done;
  }
  const results = await loop.stop();
  const failed = results.filter((r) => !r.ok);
  t.diagnostic(`${results.length} requests, each on a new connection, across ${RESTARTS} restarts`);
  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} failed requests`);
  assert.ok(results.length > RESTARTS * 8);
  assert.equal(c.lb.lines.filter((l) => l.event === 'handover-failed').length, 0);
  // the last successor answers on the inherited admin socket, with the health it inherited
  const state = await c.state();
  assert.deepEqual(state.backends[0]!.servers.map((s) => s.state), ['up', 'up', 'up']);
});

test('a successor that cannot start (a broken config on disk) leaves the running process serving', async (t) => {
  const c = await cluster(t, ws, 'handover-broken');
  const good = await readFile(c.configFile, 'utf8');
  await writeFile(c.configFile, `${good}\nfrontends: 3\n`); // a duplicate key: not valid YAML for kubeha
  process.kill(c.lb.child.pid!, 'SIGUSR2');
  const failed = await c.lb.waitFor((l) => l.event === 'handover-failed', 20_000, 'the handover to fail');
  assert.match(String(failed.msg), /this process keeps serving/);
  const answer = await httpsGet(c.lbPort);
  assert.equal(answer.ok, true, 'still serving');
  await writeFile(c.configFile, good);
  process.kill(c.lb.child.pid!, 'SIGUSR2'); // and a later one succeeds
  const done = await c.lb.waitFor((l) => l.event === 'handover-complete', 20_000, 'the second handover');
  t.after(() => {
    try {
      process.kill(Number(done.pid), 'SIGKILL');
    } catch {
      // gone already
    }
  });
  assert.equal((await httpsGet(c.lbPort)).ok, true);
});

test('sd_notify: READY=1 and MAINPID reach $NOTIFY_SOCKET as one datagram (abstract and path sockets); nothing is sent without it', () => {
  const c = libc();
  for (const name of [`@kubeha-test-${process.pid}`, join(ws.dir, 'notify.sock')]) {
    const fd = c.socket(C.AF_UNIX, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
    assert.ok(fd >= 0);
    const path = Buffer.from(name.startsWith('@') ? `\0${name.slice(1)}` : `${name}\0`);
    const addr = Buffer.alloc(2 + path.length);
    addr.writeUInt16LE(C.AF_UNIX, 0);
    path.copy(addr, 2);
    assert.equal(c.bind(fd, addr, addr.length), 0, `bind ${name}`);
    try {
      assert.equal(sdNotify('MAINPID=4242\nREADY=1', name), true);
      const buf = Buffer.alloc(256);
      const n = c.recvfrom(fd, buf, buf.length, C.MSG_DONTWAIT, null, null);
      assert.equal(buf.subarray(0, n).toString(), 'MAINPID=4242\nREADY=1');
    } finally {
      c.close(fd);
    }
  }
  assert.equal(sdNotify('READY=1', undefined), false);
  assert.equal(sdNotify('READY=1', 'relative/path'), false);
});
