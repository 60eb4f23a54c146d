// `kubeha elect` processes against a real 3-member etcd: crash takeover, fencing of a cut-off
// leader, a leader frozen past its lease (SIGSTOP), and an etcd leader change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort, startEtcd } from '../support/etcd.js';
import { faultProxy } from '../support/fault-proxy.js';
import { spawnKubeha, type JsonProcess } from '../support/processes.js';
import { until, type TestContextLike } from '../support/tcp.js';

const CHILD = fileURLToPath(new URL('../support/elect-child.js', import.meta.url));
const FAST = ['--ttl', '2s', '--margin', '500ms', '--kill-grace', '200ms'];

type Line = Record<string, unknown> & { event?: string; at?: number; epoch?: string; pid?: number; status?: number };

function elect(t: TestContextLike, endpoints: string, name: string, id: string, env: Record<string, string> = {}, extra: string[] = []): JsonProcess {
  for (const [k, v] of Object.entries(env)) process.env[k] = v; // inherited by kubeha and then its child
  const p = spawnKubeha(['elect', '--etcd', endpoints, '--name', name, '--identity', id, ...FAST, ...extra, '--', process.execPath, CHILD], t);
  // A crashed node takes its children with it; here the child would outlive a SIGKILLed kubeha.
  t.after(() => {
    for (const l of p.lines as Line[]) if (l.event === 'start' && l.pid) try { process.kill(l.pid, 'SIGKILL'); } catch { /* gone */ }
  });
  return p;
}

/**
 * Resolves once `n` candidates have their key in election `name` (asked of etcd): the point a fixed
 * sleep after starting them only hoped to reach.
 */
async function candidates(endpoint: string, name: string, n: number): Promise<void> {
  const b64 = (x: string) => Buffer.from(x).toString('base64');
  const body = JSON.stringify({ key: b64(`/kubeha/election/${name}/`), range_end: b64(`/kubeha/election/${name}0`), count_only: true });
  const deadline = Date.now() + 15_000;
  for (;;) {
    let count = 0;
    try {
      const r = await fetch(`${endpoint}/v3/kv/range`, { method: 'POST', body, signal: AbortSignal.timeout(1000) });
      count = Number(((await r.json()) as { count?: string }).count ?? 0);
    } catch {
      // etcd busy: ask again
    }
    if (count >= n) return;
    if (Date.now() > deadline) throw new Error(`not ${n} candidates in election ${name} after 15 s (${count})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const started = (p: JsonProcess) => p.waitFor((l) => l.event === 'start', 15_000, 'the child to start') as Promise<Line>;

/** Whichever of `procs` starts its child first. */
async function firstLeader(procs: JsonProcess[]): Promise<{ p: JsonProcess; line: Line }> {
  return Promise.race(procs.map((p) => started(p).then((line) => ({ p, line }))));
}

test('kubeha elect: a SIGKILLed leader is replaced once its lease expires; the child gets the epoch; epochs increase', async (t) => {
  const etcd = await startEtcd(t);
  const eps = etcd.endpoints.join(',');
  const procs = [elect(t, eps, 'crash', 'a'), elect(t, eps, 'crash', 'b')];
  const first = await firstLeader(procs);
  const other = procs.find((p) => p !== first.p)!;
  await candidates(etcd.endpoints[0]!, 'crash', 2);
  assert.ok(!other.lines.some((l) => l.event === 'start'), 'only one child runs');
  const killedAt = Date.now();
  first.p.child.kill('SIGKILL');
  process.kill(first.line.pid!, 'SIGKILL');
  const next = await started(other);
  const took = next.at! - killedAt;
  t.diagnostic(`leader SIGKILLed → new leader's child started after ${took} ms (TTL 2 s)`);
  // The figure itself is measured in bench/election (median 1.8 s, max 2.6 s at TTL 2 s:
  // docs/benchmarks.md): etcd expires a lease up to 500 ms late, and the child is a node process
  // starting on a busy machine (2.4 s seen here). TTL + 1 s was within that spread; 2.5 TTLs is a
  // sanity bound, which still fails on a takeover that waits for much more than the one lease.
  assert.ok(took < 5000, `took ${took} ms`);
  assert.ok(BigInt(next.epoch!) > BigInt(first.line.epoch!), 'the epoch grew');
});

test('kubeha elect: a leader cut off from etcd stops its child before the new leader starts one', async (t) => {
  const etcd = await startEtcd(t);
  const proxy = await faultProxy(t, Number(new URL(etcd.endpoints[0]!).port));
  const a = elect(t, proxy.url, 'cut', 'a');
  const aStart = await started(a);
  const b = elect(t, etcd.endpoints.join(','), 'cut', 'b');
  await candidates(etcd.endpoints[0]!, 'cut', 2);
  proxy.cut();
  const aStop = (await a.waitFor((l) => l.event === 'stop', 5000, 'the cut-off child to stop')) as Line;
  const bStart = await started(b);
  t.diagnostic(`cut-off leader's child stopped ${bStart.at! - aStop.at!} ms before the new leader's child started`);
  assert.ok(aStop.at! < bStart.at!, 'SIGTERM to the old child came first');
  assert.ok(BigInt(bStart.epoch!) > BigInt(aStart.epoch!));
});

test('kubeha elect: a leader frozen past its lease (SIGSTOP) stops its child at once when resumed; the epoch fences its stale writes', async (t) => {
  const etcd = await startEtcd(t);
  // The fenced resource: remembers the highest epoch written and refuses lower ones.
  let highest = 0n;
  const writes: { epoch: bigint; ok: boolean; at: number }[] = [];
  const fence = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const epoch = BigInt(body || '0');
      const ok = epoch >= highest;
      if (ok) highest = epoch;
      writes.push({ epoch, ok, at: Date.now() });
      res.writeHead(ok ? 200 : 409).end();
    });
  });
  await new Promise<void>((r) => fence.listen(0, '127.0.0.1', r));
  t.after(() => fence.close());
  const env = { FENCE_URL: `http://127.0.0.1:${(fence.address() as { port: number }).port}/` };
  const eps = etcd.endpoints.join(',');
  const a = elect(t, eps, 'freeze', 'a', env);
  const aStart = await started(a);
  const b = elect(t, eps, 'freeze', 'b', env);
  await candidates(etcd.endpoints[0]!, 'freeze', 2);
  a.child.kill('SIGSTOP'); // kubeha is frozen; its child is not, and goes on writing with the old epoch
  const bStart = await started(b);
  // A few of the stale child's writes after the new leader's first (what fencing is for), counted
  // rather than given a fixed time.
  const staleWrites = () => {
    const first = writes.find((w) => w.epoch === BigInt(bStart.epoch!) && w.ok);
    return first ? writes.filter((w) => w.epoch === BigInt(aStart.epoch!) && w.at >= first.at).length : 0;
  };
  await until(() => staleWrites() >= 3, 10_000, 'stale writes after the new leader\'s first');
  const resumedAt = Date.now();
  a.child.kill('SIGCONT');
  const aStop = (await a.waitFor((l) => l.event === 'stop', 3000, 'the stale child to stop')) as Line;
  t.diagnostic(`resumed leader stopped its child ${aStop.at! - resumedAt} ms after SIGCONT`);
  assert.ok(aStop.at! - resumedAt < 500, 'noticed at once that its term was over');
  const old = BigInt(aStart.epoch!);
  const newer = BigInt(bStart.epoch!);
  assert.ok(newer > old);
  const firstNew = writes.find((w) => w.epoch === newer && w.ok);
  assert.ok(firstNew, 'the new leader wrote');
  const staleAfter = writes.filter((w) => w.epoch === old && w.at >= firstNew.at);
  assert.ok(staleAfter.length > 0, 'the stale child did try to write after the new leader (why fencing is needed)');
  assert.ok(staleAfter.every((w) => !w.ok), 'and every such write was refused by the epoch');
  t.diagnostic(`${staleAfter.length} stale writes refused by epoch ${newer} > ${old}`);
});

test('kubeha elect: killing the etcd leader member never gives two leaders at once', async (t) => {
  const etcd = await startEtcd(t);
  const eps = etcd.endpoints.join(',');
  const procs = ['a', 'b', 'c'].map((id) => elect(t, eps, 'etcd-leader', id));
  await firstLeader(procs);
  await candidates(etcd.endpoints[0]!, 'etcd-leader', 3);
  const victim = await etcd.leader();
  await victim.kill();
  await new Promise((r) => setTimeout(r, 6000));
  victim.start();
  await new Promise((r) => setTimeout(r, 2000));
  // Every child's [start, stop) interval; the running ones end now.
  const intervals = procs.flatMap((p) => {
    const ls = p.lines as Line[];
    const out: [number, number, string][] = [];
    for (const s of ls.filter((l) => l.event === 'start')) {
      const stop = ls.find((l) => l.event === 'stop' && l.pid === s.pid);
      out.push([s.at!, stop?.at ?? Date.now(), s.epoch!]);
    }
    return out;
  }).sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < intervals.length; i++) {
    assert.ok(intervals[i]![0] >= intervals[i - 1]![1], `overlap: ${JSON.stringify(intervals)}`);
    assert.ok(BigInt(intervals[i]![2]) > BigInt(intervals[i - 1]![2]), 'epochs strictly increase');
  }
  t.diagnostic(`leaders across an etcd leader kill: ${intervals.length} (epochs ${intervals.map((x) => x[2]).join(', ')})`);
});

test('kubeha elect --metrics: is_leader, epoch, transitions and keepalive latency', async (t) => {
  const etcd = await startEtcd(t);
  const port = await freePort();
  const p = elect(t, etcd.endpoints.join(','), 'metrics', 'm', {}, ['--metrics', `127.0.0.1:${port}`]);
  const child = await started(p);
  // Until a keepalive has been acknowledged (one every TTL / 3), not a fixed wait for it.
  let text = '';
  const keepalives = /kubeha_election_keepalive_latency_seconds_count\{election="metrics"\} [1-9]/;
  for (const deadline = Date.now() + 10_000; !keepalives.test(text) && Date.now() < deadline;) {
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(); // the histogram's count only grows
    if (!keepalives.test(text)) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(text, /kubeha_election_is_leader\{election="metrics"\} 1/);
  assert.match(text, new RegExp(`kubeha_election_epoch\\{election="metrics"\\} ${child.epoch}`));
  assert.match(text, /kubeha_election_transitions_total\{election="metrics"\} 1/);
  assert.match(text, /kubeha_election_keepalive_latency_seconds_count\{election="metrics"\} [1-9]/);
  assert.match(text, /kubeha_election_acquire_seconds\{election="metrics"\} \d/);
});
