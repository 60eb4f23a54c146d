import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startClientLoop } from '../../src/demo/client-loop.js';

test('client loop: settled(t) waits for the outcome of every request started before t, however late it comes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-client-loop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'k'), '-out', join(dir, 'c'), '-days', '1'], { stdio: 'ignore' });
  const held: ServerResponse[] = [];
  let answering = false;
  const server = createServer({ key: readFileSync(join(dir, 'k')), cert: readFileSync(join(dir, 'c')) }, (_req, res) => {
    if (answering) res.end('ok');
    else held.push(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const client = startClientLoop({ host: '127.0.0.1', port, path: '/', periodMs: 20, timeoutMs: 60_000 });
  // wait until a few requests are held by the server, none answered
  while (held.length < 3) await new Promise((r) => setImmediate(r));
  const cut = Date.now();
  let settled = false;
  const done = client.settled(cut).then(() => (settled = true));
  // requests keep starting after the cut; answering only them does not settle it
  while (held.length < 6) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'requests from before the cut are still open');
  answering = true;
  for (const res of held.splice(0)) res.end('ok');
  await done;
  await client.stop();
  const before = client.record.samples.filter((s) => s.startMs < cut);
  assert.ok(before.length >= 3 && before.every((s) => s.ok), `the record holds every request started before the cut: ${before.length}`);
  server.closeAllConnections();
});
