// `kubeha drill` on the classic flavor: haproxy and keepalived on each of three booted Debian
// masters (real etcd and kube-apiserver), put there by `kubeha apply` from the same inventory with
// lb.flavor haproxy — keepalived stopped for the handover, haproxy stopped for the track script to
// demote its node, keepalived SIGKILLed; each step checked against the client loop's own record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drillAndCheck, drillBed } from '../support/drill.js';

test('drill (haproxy + keepalived): keepalived stopped, haproxy stopped, each apiserver restarted, keepalived SIGKILLed, each judged by what the client saw', async (t) => {
  const { k, drill } = await drillBed(t, 'haproxy', 72);
  const dry = await drill({ dryRun: true, kill: true });
  assert.match(dry.out, /^a\. graceful VIP handover \(keepalived stopped on the VIP holder\)/m);
  assert.match(dry.out, /^b\. the VIP holder's haproxy stopped \(keepalived's track script demotes it\)/m);
  // keepalived's track script (the guides' interval 2, fall 2) takes up to ~5 s to demote a node whose
  // haproxy stopped: the fault lasts 8 s, so that the VIP does move (the drill reports the outage)
  const steps = await drillAndCheck(k, drill, '8s');
  t.diagnostic(steps.map((s) => `${s.step}: ${s.failed}/${s.total} failed, outage ${s.outageMs} ms`).join('; '));
});
