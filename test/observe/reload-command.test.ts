import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { reloadCommand } from '../../src/cli/reload.js';
import { loadConfigFile } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon.js';
import { freePort } from '../support/etcd.js';
import { runWithStreams } from '../support/cli-streams.js';
import { taggedBackend } from '../support/tcp.js';

const run = (file: string) => runWithStreams((out, err) => reloadCommand(file, out, err));

test('kubeha reload: applied through the admin API; a wrong token or something else on the port is a clear refusal', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-reload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const backend = await taggedBackend('a');
  t.after(() => backend.close());
  const token = join(dir, 'token');
  await writeFile(token, 'right\n');
  const file = join(dir, 'kubeha.yaml');
  const yaml = (tokenFile: string, adminBind: string, weight = 100) => `global: { logLevel: error }
admin: { bind: '${adminBind}', tokenFile: ${tokenFile} }
frontends: [{ name: fe, bind: '127.0.0.1:0', backend: be }]
backends: [{ name: be, healthCheck: { type: tcp }, servers: [{ name: a, address: '127.0.0.1:${backend.port}', weight: ${weight} }] }]
`;
  const admin = `127.0.0.1:${await freePort()}`;
  await writeFile(file, yaml(token, admin));
  const loaded = await loadConfigFile(file);
  assert.ok(loaded.ok);
  const daemon = new Daemon({ log: pino({ level: 'silent' }), configPath: file });
  await daemon.start(loaded.config);
  t.after(() => daemon.shutdown(0));

  await writeFile(file, yaml(token, admin, 40));
  const ok = await run(file);
  assert.deepEqual([ok.code, ok.out], [0, 'reloaded\n'], ok.err);
  assert.equal(daemon.pool('be')!.servers[0]!.weight, 40, 'the new weight is live');

  // The admin address moves to a wildcard on the same port: the running socket makes room.
  const wide = `0.0.0.0:${admin.split(':')[1]}`;
  await writeFile(file, yaml(token, wide, 40));
  const moved = await run(file);
  assert.deepEqual([moved.code, moved.out], [0, 'reloaded\n'], moved.err);
  // A token file that cannot be read: refused, and the admin API keeps answering as before.
  await writeFile(file, yaml(join(dir, 'missing'), wide, 40));
  const missing = await run(file);
  assert.equal(missing.code, 1);
  const still = await fetch(`http://${admin}/healthz`, { headers: { authorization: 'Bearer right' } });
  assert.equal(still.status, 200, 'the admin API survived the refused reload');
  await writeFile(file, yaml(token, admin, 40));
  assert.equal((await run(file)).code, 0, 'and back to loopback');

  const wrong = join(dir, 'wrong');
  await writeFile(wrong, 'nope\n');
  await writeFile(file, yaml(wrong, admin));
  const denied = await run(file);
  assert.equal(denied.code, 1);
  assert.match(denied.err, /answered 401: the config's admin\.tokenFile does not hold the daemon's token/);

  const other = createServer((_, res) => res.end('<html>not kubeha</html>'));
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  t.after(() => other.close());
  await writeFile(file, yaml(token, `127.0.0.1:${(other.address() as { port: number }).port}`));
  const stranger = await run(file);
  assert.equal(stranger.code, 1);
  assert.match(stranger.err, /answered HTTP 200 without JSON: is that kubeha's admin address\?/);
});
