// The drill's steps per LB flavor, its targets and its report (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInventoryText, makePlan, type Plan } from '../../src/plan/inventory.js';
import { drillSteps, formatDrillPlan, formatDrillReport, meets, passed, type StepReport } from '../../src/drill/drill-plan.js';

function planOf(flavor: 'kubeha' | 'haproxy' | 'nginx'): Plan {
  const r = parseInventoryText([
    'cluster: prod-a', 'vip: 10.8.4.55/24', 'interface: eth0',
    'masters: [{ name: master1, ip: 10.8.4.91 }, { name: master2, ip: 10.8.4.92 }, { name: master3, ip: 10.8.4.93 }]',
    `lb: { flavor: ${flavor}, hosts: [{ name: lb1, ip: 10.8.4.11 }, { name: lb2, ip: 10.8.4.12 }] }`,
  ].join('\n'), 'inventory.yaml');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  return makePlan(r.inventory);
}

test('drill steps: kubeha hands over by maintenance, stops kubeha, restarts each apiserver, and SIGKILLs kubeha only with --kill', () => {
  const steps = drillSteps(planOf('kubeha'), { kill: false });
  assert.deepEqual(steps.map((s) => s.id), ['handover', 'lb-stopped', 'apiserver-master1', 'apiserver-master2', 'apiserver-master3']);
  assert.equal(steps[0]!.act, 'kubeha maintenance on --config /etc/kubeha/kubeha.yaml');
  assert.equal(steps[0]!.restore, 'kubeha maintenance off --config /etc/kubeha/kubeha.yaml');
  assert.equal(steps[1]!.act, 'systemctl stop kubeha');
  assert.deepEqual(steps[2]!.on, { master: 'master1' });
  assert.equal(steps[2]!.waitReady, 'master1');
  const killed = drillSteps(planOf('kubeha'), { kill: true }).at(-1)!;
  assert.equal(killed.act, 'systemctl kill --signal=SIGKILL kubeha');
  assert.deepEqual(killed.target, { kind: 'outage', maxMs: 500 });
});

test('drill steps: haproxy and nginx with keepalived — keepalived stopped for the handover, the load balancer stopped for its track script, keepalived SIGKILLed', () => {
  for (const flavor of ['haproxy', 'nginx'] as const) {
    const steps = drillSteps(planOf(flavor), { kill: true });
    assert.equal(steps[0]!.act, 'systemctl stop keepalived', flavor);
    assert.equal(steps[1]!.act, `systemctl stop ${flavor}`);
    assert.match(steps[1]!.title, /keepalived's track script/);
    assert.equal(steps.at(-1)!.act, 'systemctl kill --signal=SIGKILL keepalived');
  }
});

test('drill targets and verdicts: 0 failed, outage ≤ 500 ms; two holders or an error fail the step whatever the figures', () => {
  const [handover, lbStopped] = drillSteps(planOf('kubeha'), { kill: false }) as [ReturnType<typeof drillSteps>[0], ReturnType<typeof drillSteps>[0]];
  assert.equal(meets(handover, { total: 100, failed: 0, outageMs: 900 }), true, 'a graceful step is judged by failures');
  assert.equal(meets(handover, { total: 100, failed: 1, outageMs: 0 }), false);
  assert.equal(meets(lbStopped, { total: 100, failed: 12, outageMs: 480 }), true, 'a stop is judged by the outage');
  assert.equal(meets(lbStopped, { total: 100, failed: 0, outageMs: 501 }), false);
  const base: StepReport = { step: handover, host: 'lb1', window: { total: 300, failed: 0, outageMs: 60 }, fromMs: 0, toMs: 6000, vipBefore: ['lb1'], vipPath: ['lb1', 'lb2', 'lb1'], lbAfter: [{ host: 'lb1', holds: true }, { host: 'lb2', holds: false }], twoHolders: undefined };
  assert.equal(passed(base), true);
  assert.equal(passed({ ...base, twoHolders: ['lb1', 'lb2'] }), false);
  assert.equal(passed({ ...base, error: 'did not settle' }), false);
  assert.equal(passed({ ...base, lbAfter: [{ host: 'lb1', holds: true }, { host: 'lb2', holds: true }] }), false, 'two holders afterwards');
  const text = formatDrillReport([base, { ...base, step: lbStopped, window: { total: 300, failed: 14, outageMs: 640, firstError: 'ECONNREFUSED' } }, { ...base, twoHolders: ['lb1', 'lb2'], vipPath: ['lb1', 'lb1+lb2', 'lb1'] }]);
  const lines = text.split('\n');
  assert.match(lines[0]!, /^STEP\s+OUTAGE\s+FAILED\s+VIP WENT\s+LB HOSTS AFTER\s+TARGET\s+RESULT$/);
  assert.match(lines[1]!, /^a\s+60 ms\s+0 of 300\s+lb1 → lb2 → lb1\s+lb1 VIP, lb2 -\s+0 failed\s+ok$/);
  assert.match(lines[2]!, /^b\s+640 ms\s+14 of 300\s+.*outage ≤ 500 ms\s+MISSED$/);
  assert.match(lines[3]!, /FAILED: two VIP holders \(lb1, lb2\)$/);
  assert.match(text, /^b\. the VIP holder's kubeha stopped \(on lb1\); first error: ECONNREFUSED$/m);
  assert.match(text, /^1 of 3 steps passed$/m);
});

test('drill --dry-run: every step with its host, command and target, the doctor gate first', () => {
  const plan = planOf('haproxy');
  const text = formatDrillPlan(plan, drillSteps(plan, { kill: true }), 'this machine');
  assert.match(text, /^kubeha drill: prod-a, VIP 10\.8\.4\.55:6443, LB hosts lb1, lb2 \(haproxy\), 3 masters$/m);
  assert.match(text, /^first: kubeha doctor must find no failure/m);
  assert.match(text, /^a\. graceful VIP handover \(keepalived stopped on the VIP holder\) — target 0 failed\n {3}on the LB host holding the VIP: systemctl stop keepalived; then: systemctl start keepalived$/m);
  assert.match(text, /^c\. master1's kube-apiserver restarted — target 0 failed\n {3}on master1: systemctl restart kube-apiserver$/m);
  assert.match(text, /^f\. the VIP holder's keepalived SIGKILLed — target outage ≤ 500 ms$/m);
});
