// examples/prometheus/kubeha-rules.yaml through Debian's promtool: the rules parse, every metric they name
// is one kubeha exports, and the alerts fire on the series of the failures they are for (and stay
// quiet on a healthy pair).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { parse, stringify } from 'yaml';
import { Daemon } from '../../src/daemon.js';

const RULES = fileURLToPath(new URL('../../../examples/prometheus/kubeha-rules.yaml', import.meta.url));

const promtool = (...args: string[]) => spawnSync('promtool', args, { encoding: 'utf8' });

interface Rule {
  alert: string;
  expr: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

test('promtool check rules passes; every kubeha metric the rules use is one the daemon exports', async () => {
  const r = promtool('check', 'rules', RULES);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  const registry = new Daemon({ log: pino({ level: 'silent' }) }).metrics.registry;
  const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
  const used = new Set(rules.flatMap((x) => x.expr.match(/kubeha_[a-z_]+/g) ?? []));
  assert.ok(used.size >= 8);
  assert.deepEqual([...used].filter((m) => !exported.has(m)), []);
});

const node = (n: number) => ({ instance: `lb${n}:9000`, job: 'kubeha' });
const series = (name: string, labels: Record<string, string>, values: string) =>
  ({ series: `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(', ')}}`, values });
/** The alert as promtool should report it: the rule's own labels plus `labels`, its annotations templated. */
function expect(alert: string, labels: Record<string, string>, annotate: (a: string) => string = (a) => a) {
  const rule = rules.find((x) => x.alert === alert)!;
  return { exp_labels: { ...rule.labels, ...labels }, exp_annotations: Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, annotate(v)])) };
}
const fill = (vars: Record<string, string>) => (s: string) => s.replace(/\{\{ \$(labels\.(\w+)|value) \}\}/g, (_, __, label: string | undefined) => (label ? vars[label]! : vars.$value!));

test('promtool test rules: split brain, no master, FAULT, no usable server, a refused reload, dropped adverts, a second master, a BGP peer down and a VIP nobody announces fire; a healthy pair is quiet', () => {
  const vi = { vrrp_instance: 'VI_1' };
  const state = (n: number, st: string, values: string) => series('kubeha_vrrp_state', { ...node(n), ...vi, state: st }, values);
  const tests = [
    {
      // A healthy pair: lb1 master, lb2 backup; servers up.
      interval: '5s',
      input_series: [state(1, 'master', '1x30'), state(2, 'master', '0x30'), state(2, 'backup', '1x30'), state(1, 'fault', '0x30'), state(2, 'fault', '0x30'),
        series('kubeha_backend_servers_up', { ...node(1), backend: 'apiservers' }, '3x30')],
      alert_rule_test: ['KubehaVipSplitBrain', 'KubehaVipNoMaster', 'KubehaVrrpFault', 'KubehaBackendNoServers'].map((alertname) => ({ eval_time: '2m', alertname, exp_alerts: [] })),
    },
    {
      // Partitioned: both master from 15 s on; later both lose it.
      interval: '5s',
      input_series: [state(1, 'master', '1x12 0x12'), state(2, 'master', '0 0 0 1x9 0x12')],
      alert_rule_test: [
        { eval_time: '40s', alertname: 'KubehaVipSplitBrain', exp_alerts: [expect('KubehaVipSplitBrain', vi, fill({ ...vi, $value: '2' }))] },
        { eval_time: '2m', alertname: 'KubehaVipNoMaster', exp_alerts: [expect('KubehaVipNoMaster', vi, fill(vi))] },
      ],
    },
    {
      // lb2 in FAULT for a minute (lb3 too, but in maintenance: asked for, no alert); lb1's backend loses every server.
      interval: '5s',
      input_series: [state(2, 'fault', '1x12'), series('kubeha_vrrp_maintenance', { ...node(2), ...vi }, '0x12'),
        state(3, 'fault', '1x12'), series('kubeha_vrrp_maintenance', { ...node(3), ...vi }, '1x12'),
        series('kubeha_backend_servers_up', { ...node(1), backend: 'apiservers' }, '0x12')],
      alert_rule_test: [
        { eval_time: '1m', alertname: 'KubehaVrrpFault', exp_alerts: [expect('KubehaVrrpFault', { ...node(2), ...vi, state: 'fault' }, fill({ ...node(2), ...vi }))] },
        { eval_time: '1m', alertname: 'KubehaBackendNoServers', exp_alerts: [expect('KubehaBackendNoServers', { ...node(1), backend: 'apiservers' }, fill({ ...node(1), backend: 'apiservers' }))] },
      ],
    },
    {
      // A refused reload; adverts dropped for a wrong password, steadily.
      interval: '1m',
      input_series: [
        series('kubeha_config_reloads_total', { ...node(1), result: 'failure' }, '0 0 1 1 1'),
        series('kubeha_vrrp_adverts_dropped_total', { ...node(2), ...vi, reason: 'auth' }, '0+600x20'),
        series('kubeha_vrrp_second_master_events_total', { ...node(2), ...vi }, '0 0 1 1 1'),
      ],
      alert_rule_test: [
        { eval_time: '3m', alertname: 'KubehaReloadRefused', exp_alerts: [expect('KubehaReloadRefused', { ...node(1), result: 'failure' }, fill(node(1)))] },
        { eval_time: '3m', alertname: 'KubehaVrrpSecondMaster', exp_alerts: [expect('KubehaVrrpSecondMaster', { ...node(2), ...vi }, fill({ ...node(2), ...vi }))] },
        { eval_time: '15m', alertname: 'KubehaVrrpAdvertsDropped', exp_alerts: [expect('KubehaVrrpAdvertsDropped', { instance: node(2).instance, ...vi, reason: 'auth' }, fill({ ...node(2), ...vi, reason: 'auth' }))] }, // summed by instance: no job
      ],
    },
    {
      // BGP: lb1's session to the router drops for good; the VIP is announced by lb2 until it withdraws too
      interval: '5s',
      input_series: [
        series('kubeha_bgp_session_up', { ...node(1), peer: '10.8.4.1' }, '1x3 0x20'),
        series('kubeha_bgp_session_up', { ...node(2), peer: '10.8.4.1' }, '1x23'),
        series('kubeha_bgp_vip_announced', { ...node(1), vip: '10.8.4.55/32' }, '0x23'),
        series('kubeha_bgp_vip_announced', { ...node(2), vip: '10.8.4.55/32' }, '1x12 0x11'),
      ],
      alert_rule_test: [
        { eval_time: '50s', alertname: 'KubehaBgpVipNotAnnounced', exp_alerts: [] },
        { eval_time: '1m50s', alertname: 'KubehaBgpPeerDown', exp_alerts: [expect('KubehaBgpPeerDown', { ...node(1), peer: '10.8.4.1' }, fill({ ...node(1), peer: '10.8.4.1' }))] },
        { eval_time: '1m50s', alertname: 'KubehaBgpVipNotAnnounced', exp_alerts: [expect('KubehaBgpVipNotAnnounced', { vip: '10.8.4.55/32' }, fill({ vip: '10.8.4.55/32' }))] },
      ],
    },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-rules-'));
  try {
    const file = join(dir, 'rules.test.yaml');
    writeFileSync(file, stringify({ rule_files: [RULES], evaluation_interval: '5s', tests }));
    const r = promtool('test', 'rules', file);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
