import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { selfSignedCert, type CertPair } from '../../src/sim/self-signed.js';
import { buildProbe } from '../../src/health/probes.js';
import { freePort } from '../support/etcd.js';
import { healthCheckSchema } from '../../src/config/schema.js';
import type { ProbeOutcome } from '../../src/health/probe.js';

let tls: CertPair;
let dir = '';
before(async () => {
  tls = await selfSignedCert('probe-test');
  dir = await mkdtemp(join(tmpdir(), 'kubeha-probe-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function probe(check: Record<string, unknown>, port: number, timeoutMs = 2000): Promise<ProbeOutcome> {
  const p = await buildProbe(healthCheckSchema.parse(check));
  return p({ host: '127.0.0.1', port }, AbortSignal.timeout(timeoutMs));
}

test('https probe: status, expected status, bearer token, CA verification, timeout', async (t) => {
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 's3cret\n');
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, tls.cert);
  let ready = true;
  const server = createHttpsServer(tls, (req, res) => {
    if (req.url === '/slow') return; // never answers
    if (req.headers.authorization !== undefined && req.headers.authorization !== 'Bearer s3cret') return void res.writeHead(403).end();
    if (req.url === '/auth' && !req.headers.authorization) return void res.writeHead(401).end();
    res.writeHead(ready ? 200 : 500).end(ready ? 'ok' : '[-]etcd failed');
  });
  const port = await listen(server as unknown as Server);
  t.after(() => { server.closeAllConnections(); server.close(); });
  const table: [string, Record<string, unknown>, boolean, RegExp][] = [
    ['200 passes', { type: 'https', path: '/readyz' }, true, /HTTP 200/],
    ['401 without a token fails', { type: 'https', path: '/auth' }, false, /HTTP 401 \(expected 200\)/],
    ['401 is accepted when expected', { type: 'https', path: '/auth', expectStatus: [200, 401] }, true, /HTTP 401/],
    ['the bearer token is sent', { type: 'https', path: '/auth', bearerTokenFile: tokenFile }, true, /HTTP 200/],
    ['a missing token file fails the check, not the daemon', { type: 'https', path: '/auth', bearerTokenFile: join(dir, 'none') }, false, /bearerTokenFile/],
    ['the CA verifies the certificate', { type: 'https', path: '/readyz', caFile, serverName: 'localhost' }, true, /HTTP 200/],
    ['plain http against TLS fails', { type: 'http', path: '/readyz' }, false, /http:/],
  ];
  for (const [name, check, ok, detail] of table) {
    const r = await probe(check, port);
    assert.equal(r.ok, ok, `${name}: ${r.detail}`);
    assert.match(r.detail, detail, name);
  }
  ready = false;
  assert.deepEqual(await probe({ type: 'https' }, port), { ok: false, detail: 'HTTP 500 (expected 200)' });
  const started = Date.now();
  const slow = await probe({ type: 'https', path: '/slow' }, port, 200);
  assert.deepEqual(slow, { ok: false, detail: 'timeout' });
  assert.ok(Date.now() - started < 1000, 'the abort ends the check promptly');
});

test('https probe with a CA that did not sign the certificate fails', async (t) => {
  const other = await selfSignedCert('someone-else');
  const caFile = join(dir, 'other-ca.pem');
  await writeFile(caFile, other.cert);
  const server = createHttpsServer(tls, (_req, res) => res.end('ok'));
  const port = await listen(server as unknown as Server);
  t.after(() => { server.closeAllConnections(); server.close(); });
  const r = await probe({ type: 'https', caFile }, port);
  assert.equal(r.ok, false);
  assert.match(r.detail, /https: .*(self.signed|certificate)/i);
});

test('tls and tcp probes', async (t) => {
  const tlsServer = createHttpsServer(tls, (_req, res) => res.end());
  const tlsPort = await listen(tlsServer as unknown as Server);
  const plain = createTcpServer((s) => s.end());
  const plainPort = await listen(plain);
  t.after(() => { tlsServer.close(); plain.close(); });
  assert.equal((await probe({ type: 'tls' }, tlsPort)).ok, true);
  assert.equal((await probe({ type: 'tls' }, plainPort)).ok, false, 'a plain TCP server fails the handshake');
  assert.equal((await probe({ type: 'tcp' }, plainPort)).ok, true);
  // Free and outside the ephemeral range (support/etcd.ts): nothing of a test file running
  // alongside can be listening there (a port from listen(0), once closed, could be handed out again).
  const r = await probe({ type: 'tcp' }, await freePort());
  assert.equal(r.ok, false);
  assert.match(r.detail, /ECONNREFUSED/);
});
