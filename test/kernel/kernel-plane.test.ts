// The in-kernel data plane's decisions with a fake nftables and a fake clock: what is written when a
// pool changes (one transaction per change, folded while one is in flight), shutdown's flow
// deletion after the map update, failure and retry, adoption of an earlier table, reloads, stats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FakeClock } from '../../src/clock.js';
import { backendSchema } from '../../src/config/schema.js';
import { ServerPool } from '../../src/proxy/server-pool.js';
import { ADOPT_HOLD_MS, KernelPlane, RETRY_MS, STATS_TTL_MS, type KernelDriver } from '../../src/kernel/kernel-plane.js';
import type { FlowCount, ServerCounter } from '../../src/kernel/nft.js';

const log = pino({ level: 'silent' });
const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

/** Records every call; `failNext` makes the next apply fail, `gate` holds applies until released. */
class FakeDriver implements KernelDriver {
  calls: string[] = [];
  scripts: string[] = [];
  table = false;
  failNext = 0;
  gate: Promise<void> | undefined;
  counterReads = 0;
  problems: string[] = [];
  lastPreconditions: { forwards: boolean; localnet?: boolean } | undefined;
  async apply(script: string): Promise<void> {
    this.calls.push('apply');
    await this.gate;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('nft -f -: Error: Could not process rule: No such file or directory');
    }
    this.scripts.push(script);
    this.table = true;
  }
  async tableExists(): Promise<boolean> {
    return this.table;
  }
  async counters(): Promise<Map<string, ServerCounter>> {
    this.counterReads++;
    return new Map([['srv_api_m1', { packets: 10, bytes: 1000 }]]);
  }
  async flows(): Promise<Map<string, FlowCount>> {
    return new Map([['10.0.0.1:6443', { total: 3, established: 2 }]]);
  }
  async deleteFlows(vip: string, port: number, s: { ip: string; port: number }): Promise<number> {
    this.calls.push(`delete ${vip}:${port} ${s.ip}:${s.port}`);
    return 2;
  }
  async removeTable(): Promise<void> {
    this.calls.push('remove');
    this.table = false;
  }
  async preconditions(o: { forwards: boolean; localnet?: boolean }): Promise<string[]> {
    this.lastPreconditions = o;
    return this.problems;
  }
}

function setup(backend: Record<string, unknown> = {}, vip = '10.8.4.55') {
  const clock = new FakeClock();
  const cfg = backendSchema.parse({
    name: 'be', healthCheck: { fall: 1, rise: 1 },
    servers: [{ name: 'm1', address: '10.0.0.1:6443' }, { name: 'm2', address: '10.0.0.2:6443' }, { name: 'm3', address: '10.0.0.3:6443' }],
    ...backend,
  });
  const pool = new ServerPool(cfg, clock);
  const driver = new FakeDriver();
  let written = 0;
  const plane = new KernelPlane(driver, log, clock, () => written++);
  const spec = { name: 'api', vip, port: 6443, pool };
  const check = (name: string, ok: boolean) => pool.recordCheck(pool.servers.find((s) => s.id === name)!, { ok, latencyMs: 1, detail: ok ? 'ok' : 'refused', atMs: clock.now() });
  return { clock, cfg, pool, driver, plane, spec, check, written: () => written };
}

/** The servers in a script's slot elements, with how many slots each has. */
function slots(script: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of script.matchAll(/\d+ : (10\.0\.0\.\d+) \. 6443/g)) out[m[1]!] = (out[m[1]!] ?? 0) + 1;
  return out;
}

test('kernel plane: the whole table first, then one slot update per change; a server marked down leaves the slots, and with shutdown its flows go after the update', async () => {
  const { pool, driver, plane, spec, check, written } = setup({ onMarkedDown: 'shutdown' });
  assert.deepEqual(await plane.prepare([{ ...spec, servers: [] }]), []);
  assert.deepEqual(driver.lastPreconditions, { forwards: true, localnet: false }, 'a VIP is forwarded (prerouting): ip_forward is checked');
  assert.equal(plane.serving(pool), false);
  plane.commit([spec]);
  await plane.settled();
  assert.equal(driver.scripts.length, 1);
  assert.match(driver.scripts[0]!, /^add table inet kubeha\ndelete table inet kubeha\n/);
  assert.match(driver.scripts[0]!, /ip daddr 10\.8\.4\.55 tcp dport 6443 dnat ip to numgen inc mod 256 map @fe_api/);
  assert.deepEqual(slots(driver.scripts[0]!), { '10.0.0.1': 86, '10.0.0.2': 85, '10.0.0.3': 85 });
  assert.equal(plane.serving(pool), true, 'programmed: counts as listening for VRRP tracking');
  assert.equal(written(), 1);

  // a passed first check changes nothing that is written
  check('m1', true);
  await plane.settled();
  assert.equal(driver.scripts.length, 1, 'no write for a change that leaves the slots as they are');

  check('m3', false);
  await plane.settled();
  assert.equal(driver.scripts.length, 2);
  assert.match(driver.scripts[1]!, /^flush map inet kubeha fe_api\nadd element inet kubeha fe_api \{/, 'a health change is one map update');
  assert.deepEqual(slots(driver.scripts[1]!), { '10.0.0.1': 128, '10.0.0.2': 128 });
  assert.deepEqual(driver.calls.slice(-2), ['apply', 'delete 10.8.4.55:6443 10.0.0.3:6443'], 'flows deleted after the map stopped sending new ones');
  assert.equal(plane.stats.flowsDeleted, 2);

  // drain: out of the slots, but its flows stay (drain lets sessions finish)
  pool.setServer(pool.servers[1]!, { state: 'drain' });
  await plane.settled();
  assert.deepEqual(slots(driver.scripts.at(-1)!), { '10.0.0.1': 256 });
  assert.equal(driver.calls.filter((c) => c.startsWith('delete')).length, 1, 'a drained server keeps its flows');

  // no server left: an empty map (the DNAT finds nothing, the VIP refuses)
  check('m1', false);
  await plane.settled();
  assert.equal(driver.scripts.at(-1), 'flush map inet kubeha fe_api\n');
  await plane.stop();
});

test('kernel plane: keep leaves the flows; changes during an update fold into one next update', async () => {
  const { driver, plane, spec, check } = setup({ onMarkedDown: 'keep' });
  plane.commit([spec]);
  await plane.settled();
  let release!: () => void;
  driver.gate = new Promise((r) => (release = r));
  check('m1', false);
  await flush();
  check('m2', false);
  check('m3', false);
  await flush();
  assert.equal(driver.calls.filter((c) => c === 'apply').length, 2, 'one update in flight, the others wait');
  release();
  await plane.settled();
  assert.equal(driver.scripts.length, 3, 'the three changes took two updates');
  assert.equal(driver.scripts.at(-1), 'flush map inet kubeha fe_api\n', 'the last one has the latest state');
  assert.equal(driver.calls.filter((c) => c.startsWith('delete')).length, 0, 'onMarkedDown: keep leaves the flows');
});

test('kernel plane: slow start ramps the weights in the map; a failed update is logged, counted and retried with the latest state', async () => {
  const { clock, driver, plane, spec, check } = setup({ slowStart: '10s' });
  plane.commit([spec]);
  await plane.settled();
  check('m1', false);
  await plane.settled();
  check('m1', true);
  await plane.settled();
  const first = slots(driver.scripts.at(-1)!)['10.0.0.1'] ?? 0;
  assert.ok(first > 0 && first < 10, `a server back from down starts with a small share: ${first} slots`);
  clock.advance(5000);
  await plane.settled();
  const half = slots(driver.scripts.at(-1)!)['10.0.0.1'] ?? 0;
  assert.ok(half > first && half < 86, `half way: ${half} slots`);
  clock.advance(5000);
  await plane.settled();
  assert.deepEqual(slots(driver.scripts.at(-1)!), { '10.0.0.1': 86, '10.0.0.2': 85, '10.0.0.3': 85 }, 'full weight at the end');

  driver.failNext = 1;
  check('m2', false);
  await plane.settled();
  assert.equal(plane.stats.failures, 1);
  assert.match(plane.stats.lastError ?? '', /No such file/);
  check('m3', false);
  await plane.settled();
  assert.deepEqual(slots(driver.scripts.at(-1)!), { '10.0.0.1': 256 }, 'the failed update (m2 out) was retried with the next change (m3 out)');
  driver.failNext = 1;
  check('m1', false);
  await plane.settled();
  const applied = driver.scripts.length;
  clock.advance(RETRY_MS);
  await plane.settled();
  assert.equal(driver.scripts.length, applied + 1, 'retried after RETRY_MS without a new change');
  assert.equal(plane.stats.lastError, null);
});

test('kernel plane: an earlier table is adopted and kept until every server was checked, then replaced with its counters carried over', async () => {
  const { clock, driver, plane, spec, check } = setup();
  driver.table = true;
  assert.deepEqual(await plane.prepare([{ ...spec, servers: [] }]), []);
  assert.equal(plane.stats.adopted, true);
  plane.commit([spec]);
  await plane.settled();
  assert.equal(driver.scripts.length, 0, 'the adopted table forwards as it is');
  assert.equal(plane.stats.holding, true);
  check('m1', true);
  check('m2', false);
  await plane.settled();
  assert.equal(driver.scripts.length, 0, 'm3 not checked yet');
  check('m3', true);
  await plane.settled();
  assert.equal(driver.scripts.length, 1);
  assert.match(driver.scripts[0]!, /counter srv_api_m1 \{ packets 10 bytes 1000 \}/, 'the counters carried over');
  assert.deepEqual(slots(driver.scripts[0]!), { '10.0.0.1': 128, '10.0.0.3': 128 });

  // a server whose check never ends keeps the hold only for ADOPT_HOLD_MS
  const other = setup();
  other.driver.table = true;
  await other.plane.prepare([{ ...other.spec, servers: [] }]);
  other.plane.commit([other.spec]);
  await other.plane.settled();
  assert.equal(other.driver.scripts.length, 0);
  other.clock.advance(ADOPT_HOLD_MS);
  await other.plane.settled();
  assert.equal(other.driver.scripts.length, 1, 'written when the hold ran out');
  void clock;
});

test('kernel plane: a reload changing the servers or frontends replaces the table; none left removes it; a stale table goes at a start without any', async () => {
  const { cfg, pool, driver, plane, spec } = setup({ balance: 'source' });
  plane.commit([spec]);
  await plane.settled();
  assert.match(driver.scripts[0]!, /dnat ip to jhash ip saddr mod 256 map @fe_api/, 'balance: source hashes the client address');
  pool.reconcile({ ...cfg, servers: [...cfg.servers, { name: 'm4', address: '10.0.0.4:6443', weight: 1, state: 'ready' }] });
  await plane.settled();
  assert.match(driver.scripts.at(-1)!, /^add table inet kubeha\n/, 'a new server is a new counter: the whole table');
  assert.match(driver.scripts.at(-1)!, /counter srv_api_m4/);
  plane.commit([spec, { ...spec, name: 'local', vip: '127.0.0.1', port: 7443 }]);
  await plane.settled();
  assert.match(driver.scripts.at(-1)!, /chain output \{[^}]*ip daddr 127\.0\.0\.1 tcp dport 7443 dnat/);
  plane.commit([]);
  await plane.settled();
  assert.equal(driver.calls.at(-1), 'remove');
  assert.equal(plane.serving(pool), false);

  const fresh = setup();
  fresh.driver.table = true;
  await fresh.plane.removeStale();
  assert.deepEqual(fresh.driver.calls, ['remove']);
});

test('kernel plane: preconditions and names refused with the code; latency balance sends to the fastest tier only; counters and flows read at most once a TTL', async () => {
  const { clock, driver, plane, spec, pool } = setup({ balance: 'latency' }, '127.0.0.1');
  driver.problems = ['net.ipv4.conf.all.route_localnet is not 1'];
  assert.deepEqual(await plane.prepare([{ ...spec, servers: [] }]), ['net.ipv4.conf.all.route_localnet is not 1 [KUBEHA_ERR_KERNEL]']);
  assert.deepEqual(driver.lastPreconditions, { forwards: false, localnet: true });
  driver.problems = [];
  const collide = await plane.prepare([{ ...spec, servers: [] }, { ...spec, name: 'api', vip: '127.0.0.2' }].map((f) => ({ ...f, servers: [] })));
  assert.match(collide.join('\n'), /both fe_api in nftables.*\[KUBEHA_ERR_KERNEL\]/);

  const [m1, m2, m3] = pool.servers as [typeof pool.servers[number], typeof pool.servers[number], typeof pool.servers[number]];
  pool.recordCheck(m1, { ok: true, latencyMs: 0.5, detail: 'ok', atMs: 0 });
  pool.recordCheck(m2, { ok: true, latencyMs: 0.4, detail: 'ok', atMs: 0 });
  pool.recordCheck(m3, { ok: true, latencyMs: 20, detail: 'ok', atMs: 0 });
  plane.commit([spec]);
  await plane.settled();
  assert.deepEqual(slots(driver.scripts[0]!), { '10.0.0.1': 128, '10.0.0.2': 128 }, 'the far server waits as a hot spare');

  await Promise.all([plane.refreshStats(), plane.refreshStats()]);
  await plane.refreshStats();
  assert.equal(driver.counterReads, 1, 'one reading for callers within the TTL');
  assert.deepEqual(plane.serverStats('api', m1), { packets: 10, bytes: 1000, flows: 3, established: 2 });
  assert.deepEqual(plane.serverStats('api', m2), { packets: 0, bytes: 0, flows: 0, established: 0 });
  clock.advance(STATS_TTL_MS);
  await plane.refreshStats();
  assert.equal(driver.counterReads, 2);
});
