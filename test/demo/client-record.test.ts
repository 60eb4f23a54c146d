// The demo's (and the drill's) judgement of a window of the client's record, and the stage's plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import { ClientRecord, clientWindow, type ClientSample } from '../../src/demo/client-record.js';
import { lbConfig, networkCommands, STAGE } from '../../src/demo/stage-plan.js';
import { userNamespaceRefusal } from '../../src/demo/full-stack.js';

/** A loop of one request every 20 ms from 0 to `untilMs`, each answered 5 ms later unless `down(start)`. */
function loop(untilMs: number, down: (startMs: number) => 'fail' | 'slow' | undefined = () => undefined): ClientSample[] {
  const out: ClientSample[] = [];
  for (let t = 0; t < untilMs; t += 20) {
    const d = down(t);
    if (d === 'fail') out.push({ startMs: t, endMs: t + 2, ok: false, error: 'ECONNREFUSED' });
    else if (d === 'slow') out.push({ startMs: t, endMs: t + 1000, ok: true });
    else out.push({ startMs: t, endMs: t + 5, ok: true });
  }
  return out.sort((a, b) => a.endMs - b.endMs);
}

test('client window: no failure and the loop\'s own spacing is no outage', () => {
  assert.deepEqual(clientWindow(loop(2000), 500, 1500, 20), { total: 50, failed: 0, outageMs: 0 });
});

test('client window: refused requests for 300 ms are counted, and the outage is the gap between answers less one period', () => {
  const w = clientWindow(loop(3000, (t) => (t >= 1000 && t < 1300 ? 'fail' : undefined)), 900, 2500, 20);
  assert.equal(w.failed, 15);
  assert.equal(w.total, 80);
  // last answer 985 (started 980), next 1305 (started 1300): 320 ms without an answer, less the 20 ms period
  assert.equal(w.outageMs, 300);
  assert.equal(w.firstError, 'ECONNREFUSED');
});

test('client window: requests that hang (a SYN retransmitted) but succeed leave no failure, yet an outage', () => {
  const w = clientWindow(loop(4000, (t) => (t >= 1000 && t < 1400 ? 'slow' : undefined)), 900, 3500, 20);
  assert.equal(w.failed, 0);
  // answers at 985, then the slow ones from 2000 on, but 1405 (the first after the hang) comes first
  assert.equal(w.outageMs, 1405 - 985 - 20);
});

test('client window: a window that ends while nothing answers counts to its end; an outage before the window is not its own', () => {
  const samples = loop(3000, (t) => (t >= 1000 ? 'fail' : undefined));
  assert.equal(clientWindow(samples, 1500, 2000, 20).outageMs, 500, 'only the window\'s own share (one period before it at most)');
  assert.equal(clientWindow(samples, 1500, 2000, 20).failed, 25);
  assert.deepEqual(clientWindow([], 0, 1000, 20), { total: 0, failed: 0, outageMs: 0 });
});

test('client record: keeps a bounded time, counts failures by error, answers per second', () => {
  const r = new ClientRecord(1000);
  for (const s of loop(3000, (t) => (t % 200 === 0 ? 'fail' : undefined))) r.add(s);
  assert.equal(r.ok + r.failed, 150);
  assert.deepEqual([...r.errors], [['ECONNREFUSED', 15]]);
  assert.ok(r.samples[0]!.endMs >= 3000 - 20 - 1000, 'older samples dropped');
  assert.equal(r.rate(3000), 45, 'answered in the last second');
});

test('stage plan: every LB node config loads as kubeha would load it; the network has each node on the bridge', () => {
  for (const lb of STAGE.lbs) {
    const r = parseConfigText(stringify(lbConfig(STAGE, lb, '/tmp/state')), `${lb.name}.yaml`);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  }
  const cmds = networkCommands(STAGE).map((c) => c.join(' '));
  for (const [i, lb] of STAGE.lbs.entries()) {
    assert.ok(cmds.includes(`netns add ${lb.name}`));
    assert.ok(cmds.indexOf(`link set veth${i} master br0 up`) > cmds.indexOf('link add br0 type bridge'));
    assert.ok(cmds.includes(`-n ${lb.name} addr add ${lb.ip}/24 dev eth0`));
  }
  for (const m of STAGE.masters) assert.ok(cmds.includes(`addr add ${m.ip}/24 dev br0`), m.name);
});

test('user namespaces refused: the sysctl that does it is named in the demo\'s one line', () => {
  const refusal = (values: Record<string, string>) => userNamespaceRefusal((n) => values[n]);
  assert.equal(refusal({ 'user.max_user_namespaces': '63000', 'kernel.unprivileged_userns_clone': '1' }), undefined);
  assert.match(refusal({ 'user.max_user_namespaces': '0' })!, /sysctl user\.max_user_namespaces = 0/);
  assert.match(refusal({ 'user.max_user_namespaces': '100', 'kernel.unprivileged_userns_clone': '0' })!, /^unprivileged user namespaces are disabled here \(sysctl kernel\.unprivileged_userns_clone = 0\)$/);
  assert.match(refusal({ 'kernel.apparmor_restrict_unprivileged_userns': '1' })!, /AppArmor/);
});

test('client window: a request on the wire when the fault came is the fault\'s; one over before it is not', () => {
  const samples: ClientSample[] = [
    { startMs: 900, endMs: 905, ok: true },
    { startMs: 990, endMs: 1010, ok: false, error: 'ECONNRESET' }, // connected before, reset by the VIP move
    { startMs: 1020, endMs: 1025, ok: true },
  ];
  assert.deepEqual(clientWindow(samples, 1000, 2000, 20), { total: 2, failed: 1, outageMs: 25, firstError: 'ECONNRESET' });
  assert.equal(clientWindow(samples, 1011, 2000, 20).failed, 0);
});
