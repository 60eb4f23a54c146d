import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { resolveAdmin } from '../../src/cli/admin-client.js';
import { statusCommand, type StatusOptions } from '../../src/cli/status.js';
import { runWithStreams } from '../support/cli-streams.js';
import { lbConfig, markDown, startDaemon, taggedBackend } from '../support/tcp.js';

const run = (o: StatusOptions) => runWithStreams((out, err) => statusCommand(o, out, err));

test('kubeha status against a running daemon: found through its config and token, exit 1 once no server is usable, 2 without an answer', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-status-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 's3cret\n');
  const backends = await Promise.all(['a', 'b'].map((n) => taggedBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const cfg = lbConfig(backends);
  cfg.admin = { bind: '127.0.0.1:0', tokenFile, readTokenFile: tokenFile }; // reads need a token too
  const { daemon, port } = await startDaemon(cfg, t);
  const admin = `127.0.0.1:${daemon.adminPort}`;
  // Only admin: is read from the file, so a config that no longer validates still finds the daemon.
  const configFile = join(dir, 'kubeha.yaml');
  await writeFile(configFile, `admin:\n  bind: ${admin}\n  tokenFile: ${tokenFile}\nfrontends: [ {name: fe, bogus: 1} ]\n`);

  const ok = await run({ config: configFile });
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, new RegExp(`^fe\\s+127\\.0\\.0\\.1:${port}\\s+yes`, 'm'), 'the bound port, not :0');
  assert.match(ok.out, /^be\s+a\s+127\.0\.0\.1:\d+\s+up/m);
  assert.match(ok.out, /all good\n$/);

  const pool = daemon.pool('be')!;
  for (const s of pool.servers) markDown(pool, s, daemon.clock.now());
  const bad = await run({ admin, tokenFile, json: true });
  assert.equal(bad.code, 1);
  const body = JSON.parse(bad.out) as { health: { problems: string[] }; backends: { servers: { state: string }[] }[] };
  assert.deepEqual(body.health.problems, ['backend be has no usable server (2 configured)']);
  assert.deepEqual(body.backends[0]!.servers.map((s) => s.state), ['down', 'down']);

  const noToken = await run({ admin });
  assert.equal(noToken.code, 2);
  assert.match(noToken.err, /answered 401: give the admin token/);

  await daemon.shutdown(0);
  const gone = await run({ admin, tokenFile });
  assert.equal(gone.code, 2);
  assert.match(gone.err, /cannot reach the daemon at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/state: ECONNREFUSED.*\[KUBEHA_ERR_ADMIN_UNREACHABLE\]/);

  // Something else on the port: a clean refusal, not a stack trace.
  const other = createServer((_, res) => res.setHeader('content-type', 'application/json').end(req++ ? '<html>' : '{"hello":1}'));
  let req = 0;
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  t.after(() => other.close());
  const otherAt = `127.0.0.1:${(other.address() as { port: number }).port}`;
  for (const body of ['{"hello":1}', '<html>']) {
    const wrong = await run({ admin: otherAt });
    assert.equal(wrong.code, 2, body);
    assert.match(wrong.err, /did not answer with a kubeha state \(.+\): is that kubeha's admin address\?/, body);
  }

  // Neither --config nor --admin, or a config without an admin section: the implicit loopback admin.
  await writeFile(configFile, 'frontends: []\n');
  for (const sel of [{}, { config: configFile }]) {
    const target = await resolveAdmin(sel);
    assert.equal(typeof target === 'string' ? target : target.base, 'http://127.0.0.1:9000', JSON.stringify(sel));
  }
});

test('kubeha status reaches an admin.bind on a port fetch refuses (6000 is on the WHATWG bad-port list)', async (t) => {
  const backends = await Promise.all(['a'].map((n) => taggedBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const cfg = lbConfig(backends);
  const free = createServer();
  // 6000 itself may be taken on this machine; any port on the bad-port list proves the point
  let port = 0;
  for (const candidate of [6000, 6665, 6666, 6667, 6668, 6669, 6697, 10080]) {
    const ok = await new Promise<boolean>((resolve) => {
      free.once('error', () => resolve(false));
      free.listen(candidate, '127.0.0.1', () => free.close(() => resolve(true)));
    });
    if (ok) {
      port = candidate;
      break;
    }
  }
  assert.ok(port > 0, 'a free port on the bad-port list');
  await assert.rejects(fetch(`http://127.0.0.1:${port}/`), 'fetch refuses it');
  cfg.admin = { bind: `127.0.0.1:${port}` };
  await startDaemon(cfg, t);
  const res = await run({ admin: `127.0.0.1:${port}` });
  assert.equal(res.code, 0, res.err);
  assert.match(res.out, /all good\n$/);
});
