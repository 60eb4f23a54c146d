import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { once } from 'node:events';
import { SimApiserver } from '../../src/sim/apiserver.js';
import { selfSignedCert, type CertPair } from '../../src/sim/self-signed.js';
import { httpsGet } from '../support/processes.js';

let tls: CertPair;
before(async () => {
  tls = await selfSignedCert('sim-test');
});

function sim(extra: Partial<ConstructorParameters<typeof SimApiserver>[0]> = {}) {
  return new SimApiserver({ name: 'm1', host: '127.0.0.1', port: 0, tls, shutdownDelayMs: 300, watchGraceMs: 500, failReadyz: false, latencyMs: 0, blackhole: false, ...extra });
}

test('sim: health endpoints, verbose, version, HTTP/2', async (t) => {
  const s = sim();
  const port = await s.start();
  t.after(() => s.stop());
  assert.equal((await httpsGet(port, '/readyz')).status, 200);
  assert.equal((await httpsGet(port, '/livez')).status, 200);
  assert.equal((await httpsGet(port, '/healthz')).status, 200);
  s.setReadyzFailing(true);
  assert.equal((await httpsGet(port, '/readyz')).status, 500);
  assert.equal((await httpsGet(port, '/livez')).status, 200, 'unready is not dead');
  const client = h2connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  t.after(() => client.close());
  const req = client.request({ ':path': '/readyz?verbose' });
  let body = '';
  req.setEncoding('utf8').on('data', (d: string) => (body += d));
  const [headers] = await once(req, 'response');
  await once(req, 'end');
  assert.equal(headers[':status'], 500);
  assert.match(body, /\[-\]shutdown failed/);
  const v = client.request({ ':path': '/version' });
  let vb = '';
  v.setEncoding('utf8').on('data', (d: string) => (vb += d));
  await once(v, 'end');
  assert.equal((JSON.parse(vb) as { gitVersion: string }).gitVersion, 'v1.20.2-kubeha-sim');
});

test('sim: graceful shutdown timeline as a real v1.20 apiserver', async (t) => {
  // Two fresh TLS requests must land inside the shutdown delay: at 300 ms a busy 2-core machine
  // could take longer than that for them, and the second then found the listener closed.
  const DELAY = 1000;
  const GRACE = 500;
  const s = sim({ shutdownDelayMs: DELAY, watchGraceMs: GRACE });
  const port = await s.start();
  t.after(() => s.stop());
  const steps: [string, number][] = [];
  s.onTimeline = (step) => steps.push([step, Date.now()]);
  // An HTTP/2 client with an open watch, as kubelets and controllers have.
  const client = h2connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  client.on('error', () => {}); // teardown may reset it
  t.after(() => client.destroy());
  const goaway = once(client, 'goaway');
  const watch = client.request({ ':path': '/api/v1/configmaps?watch=true&intervalMs=50' });
  const events: string[] = [];
  watch.on('error', () => {});
  watch.setEncoding('utf8').on('data', (d: string) => events.push(d));
  await once(watch, 'response');
  const watchEnded = once(watch, 'close');

  const t0 = Date.now();
  const done = s.shutdown();
  const ready = await httpsGet(port, '/readyz');
  const readyAt = Date.now() - t0;
  assert.equal(ready.status, 500, '/readyz fails at once');
  // The flip itself is synchronous (the readyz-failing step comes first); the bound covers a fresh
  // TLS handshake on a busy 2-core machine and still fails on a /readyz that waits for the delay.
  assert.ok(readyAt < DELAY / 2, `at once (${readyAt} ms, including a TLS handshake)`);
  assert.equal((await httpsGet(port, '/version')).status, 200, 'requests are still served during the delay');

  await goaway;
  const goawayAt = Date.now() - t0;
  assert.ok(goawayAt >= DELAY - 20 && goawayAt < DELAY + 1000, `GOAWAY after the shutdown delay (${goawayAt} ms)`);
  const refused = await httpsGet(port, '/version');
  assert.equal(refused.ok, false, 'the listener is closed');
  const eventsAtClose = events.length;

  await watchEnded;
  const watchEndAt = Date.now() - t0;
  assert.ok(watchEndAt >= DELAY + GRACE - 50, `the watch outlived the listener by the grace period (${watchEndAt} ms)`);
  assert.ok(events.length > eventsAtClose, 'and kept streaming until then');
  await done;
  assert.deepEqual(steps.map(([name]) => name), ['readyz-failing', 'listener-closed', 'watches-ended']);
});

test('sim: --blackhole accepts and never answers; --latency delays', async (t) => {
  const hole = sim({ blackhole: true });
  const holePort = await hole.start();
  const slow = sim({ latencyMs: 200 });
  const slowPort = await slow.start();
  t.after(() => { hole.stop(); slow.stop(); });
  const r = await httpsGet(holePort, '/readyz', 300);
  assert.deepEqual([r.ok, r.error], [false, 'timeout']);
  const started = Date.now();
  assert.equal((await httpsGet(slowPort, '/readyz')).status, 200);
  assert.ok(Date.now() - started >= 190);
});
