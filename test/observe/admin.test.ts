import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { pino } from 'pino';
import { Daemon } from '../../src/daemon.js';
import { lbConfig, markDown, taggedBackend, until, whoAnswers, type TaggedBackend } from '../support/tcp.js';
import type { Config } from '../../src/config/schema.js';

async function withAdmin(t: { after(fn: () => unknown): void }, mutate: (c: Config) => void = () => {}) {
  const backends = await Promise.all(['a', 'b'].map((n) => taggedBackend(n)));
  t.after(() => Promise.all(backends.map((b: TaggedBackend) => b.close())));
  const cfg = lbConfig(backends);
  cfg.admin = { bind: '127.0.0.1:0' };
  mutate(cfg);
  const daemon = new Daemon({ log: pino({ level: 'silent' }) });
  await daemon.start(cfg);
  t.after(() => daemon.shutdown(0));
  const admin = `http://127.0.0.1:${daemon.adminPort}`;
  return { daemon, port: daemon.listener('fe')!.boundPort!, admin, backends };
}

/** The value of one sample in Prometheus text, e.g. `kubeha_server_sessions_total{backend="be",server="a"}`. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no sample ${series}`);
  return Number(line.slice(series.length + 1));
}

test('/metrics counters move with traffic and state', async (t) => {
  const { daemon, port, admin } = await withAdmin(t);
  const scrape = async () => (await fetch(`${admin}/metrics`)).text();
  const before = await scrape();
  assert.equal(sample(before, 'kubeha_frontend_connections_total{frontend="fe"}'), 0);
  const version = (JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  assert.equal(sample(before, `kubeha_build_info{version="${version}",node="${process.version}"}`), 1);
  for (let i = 0; i < 4; i++) await whoAnswers(port);
  await until(() => daemon.listener('fe')!.active === 0, 5000, 'sessions to end');
  const after = await scrape();
  assert.equal(sample(after, 'kubeha_frontend_connections_total{frontend="fe"}'), 4);
  assert.equal(sample(after, 'kubeha_server_sessions_total{backend="be",server="a"}'), 2);
  assert.equal(sample(after, 'kubeha_server_bytes_out_total{backend="be",server="a"}'), 4, 'two greetings of "a\\n"');
  assert.equal(sample(after, 'kubeha_server_up{backend="be",server="b"}'), 1);
  const pool = daemon.pool('be')!;
  markDown(pool, pool.servers[1]!, daemon.clock.now());
  const down = await scrape();
  assert.equal(sample(down, 'kubeha_server_up{backend="be",server="b"}'), 0);
  assert.equal(sample(down, 'kubeha_server_state_transitions_total{backend="be",server="b"}'), 1);
  assert.ok(sample(down, 'kubeha_server_last_state_change_timestamp_seconds{backend="be",server="b"}') > 1.7e9);
  assert.equal(sample(down, 'kubeha_backend_servers_up{backend="be"}'), 1);
  assert.match(down, /^process_cpu_seconds_total /m, 'process metrics');
});

test('metric names follow Prometheus conventions', async (t) => {
  const { daemon } = await withAdmin(t);
  const metrics = (await daemon.metrics.registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('kubeha_'));
  // prom-client's typings say a numeric enum, but the JSON carries the type's name.
  const types = new Set(metrics.map((m) => String(m.type)));
  assert.deepEqual([...types].sort(), ['counter', 'gauge', 'histogram']);
  for (const m of metrics) {
    const type = String(m.type);
    assert.match(m.name, /^kubeha_[a-z]+(_[a-z]+)*$/, `${m.name}: snake case under kubeha_`);
    if (type === 'counter') assert.match(m.name, /_total$/, `${m.name}: counters end in _total`);
    else assert.doesNotMatch(m.name, /_total$/, `${m.name}: only counters end in _total`);
    if (type === 'histogram') assert.match(m.name, /_(seconds|bytes)$/, `${m.name}: histograms carry a base unit`);
    assert.doesNotMatch(m.name, /_(ms|milliseconds|kb|mb)(_|$)/, `${m.name}: base units only`);
    assert.ok(m.help.length > 10, `${m.name} has help text`);
  }
});

test('runtime API: drain, weight, ready; kept across a reload that does not touch them', async (t) => {
  const { daemon, port, admin } = await withAdmin(t);
  const set = (server: string, body: unknown) => fetch(`${admin}/api/v1/backends/be/servers/${server}`, { method: 'POST', body: JSON.stringify(body) });
  const r = await set('b', { state: 'drain' });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { name: 'b', adminState: 'drain', weight: 100, effectiveWeight: 0 });
  for (let i = 0; i < 4; i++) assert.equal(await whoAnswers(port), 'a', 'a drained server takes no new sessions');
  // A reload of the same file keeps the runtime state.
  assert.deepEqual(await daemon.apply(structuredClone(daemon.currentConfig!)), { ok: true });
  assert.equal(daemon.pool('be')!.servers[1]!.adminState, 'drain');
  assert.equal((await set('b', { state: 'ready', weight: 300 })).status, 200);
  const seen: string[] = [];
  for (let i = 0; i < 8; i++) seen.push(await whoAnswers(port));
  assert.equal(seen.filter((n) => n === 'b').length, 6, 'weight 300 against 100: three of every four');
  const table: [string, unknown, number][] = [
    ['nope', { state: 'drain' }, 404],
    ['a', { state: 'sleeping' }, 400],
    ['a', { weight: 5000 }, 400],
    ['a', {}, 400],
    ['a', { state: 'maint', extra: 1 }, 400],
    ['a', { weight: 1.5 }, 400],
    ['a', { weight: '5' }, 400],
    ['a', ['drain'], 400],
  ];
  for (const [server, body, status] of table) assert.equal((await set(server, body)).status, status, JSON.stringify(body));
  const bad = await fetch(`${admin}/api/v1/backends/be/servers/a`, { method: 'POST', body: '{not json' });
  assert.equal(bad.status, 400);
  const state = (await (await fetch(`${admin}/api/v1/state`)).json()) as { backends: { servers: { name: string; adminState: string; weight: number }[] }[] };
  assert.deepEqual(state.backends[0]!.servers.map((s) => [s.name, s.adminState, s.weight]), [['a', 'ready', 100], ['b', 'ready', 300]]);
});

test('admin scopes: /healthz is open; on loopback reads need no token unless readTokenFile is set; writes need the write token, the read token gets 403', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-token-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'token');
  const readTokenFile = join(dir, 'read-token');
  await writeFile(tokenFile, 'correct-horse\n');
  await writeFile(readTokenFile, 'battery-staple\n');
  const W = 'Bearer correct-horse';
  const R = 'Bearer battery-staple';
  // [admin settings, request, authorization, expected status]
  const cases: [string, Record<string, string>, string, string | undefined, number][] = [
    ['write token only', { tokenFile }, 'GET /metrics', undefined, 200],
    ['write token only', { tokenFile }, 'GET /api/v1/state', undefined, 200],
    ['write token only', { tokenFile }, 'POST /api/v1/backends/be/servers/a', undefined, 401],
    ['write token only', { tokenFile }, 'POST /api/v1/backends/be/servers/a', 'Bearer wrong', 401],
    ['write token only', { tokenFile }, 'POST /api/v1/backends/be/servers/a', 'correct-horse', 401],
    ['write token only', { tokenFile }, 'POST /api/v1/backends/be/servers/a', W, 200],
    ['both tokens', { tokenFile, readTokenFile }, 'GET /healthz', undefined, 200],
    ['both tokens', { tokenFile, readTokenFile }, 'GET /metrics', undefined, 401],
    ['both tokens', { tokenFile, readTokenFile }, 'GET /metrics', R, 200],
    ['both tokens', { tokenFile, readTokenFile }, 'GET /api/v1/state', R, 200],
    ['both tokens', { tokenFile, readTokenFile }, 'GET /api/v1/state', W, 200],
    ['both tokens', { tokenFile, readTokenFile }, 'POST /api/v1/backends/be/servers/a', R, 403],
    ['both tokens', { tokenFile, readTokenFile }, 'POST /api/v1/reload', R, 403],
    ['both tokens', { tokenFile, readTokenFile }, 'POST /api/v1/backends/be/servers/a', W, 200],
  ];
  const admins = new Map<string, string>();
  for (const [name, settings, route, auth, status] of cases) {
    let admin = admins.get(name);
    if (!admin) {
      admin = (await withAdmin(t, (c) => (c.admin = { bind: '127.0.0.1:0', ...settings }))).admin;
      admins.set(name, admin);
    }
    const [method, path] = route.split(' ') as [string, string];
    const res = await fetch(`${admin}${path}`, { method, headers: auth ? { authorization: auth } : {}, ...(method === 'POST' ? { body: path.endsWith('reload') ? '' : '{"state":"ready"}' } : {}) });
    assert.equal(res.status, status, `${name}: ${route} with ${auth ?? 'no token'}`);
  }
});

test('kubeha version and --version print the version kubeha_build_info carries', async () => {
  const version = (JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  const bin = fileURLToPath(new URL('../../../bin/kubeha.js', import.meta.url));
  assert.equal(execFileSync(process.execPath, [bin, 'version'], { encoding: 'utf8' }), `kubeha ${version} (node ${process.version})\n`);
  assert.equal(execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }), `${version}\n`);
});
