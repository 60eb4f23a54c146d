// conntrackSync, pure: the settings from the config or the VRRP instance, and the conntrackd.conf
// kubeha writes (run against real conntrackd by test/kube-e2e/kernel-failover.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conntrackdPaths, renderConntrackdConf, resolveConntrackSync } from '../../src/kernel/conntrack-sync.js';
import { configSchema } from '../../src/config/schema.js';

const config = (yaml: Record<string, unknown>) => configSchema.parse(yaml);
const vrrp = (over: Record<string, unknown> = {}) => ({ instances: [{ name: 'VI_1', interface: 'eth1', virtualRouterId: 51, vips: ['10.8.4.55/24'], unicastSrcIp: '10.8.4.21', unicastPeers: ['10.8.4.22'], ...over }] });

test('conntrackSync: peer, address and interface from the VRRP instance unless written; missing ones named', () => {
  const c = config({ vrrp: vrrp(), conntrackSync: {} });
  assert.deepEqual(resolveConntrackSync(c, c.conntrackSync!), { peer: '10.8.4.22', localAddress: '10.8.4.21', interface: 'eth1', port: 3780, conntrackd: '/usr/sbin/conntrackd', runDir: '/run/kubeha/conntrackd' });
  const written = config({ vrrp: vrrp(), conntrackSync: { peer: '192.168.9.2', localAddress: '192.168.9.1', interface: 'sync0', port: 3790 } });
  assert.deepEqual(resolveConntrackSync(written, written.conntrackSync!), { peer: '192.168.9.2', localAddress: '192.168.9.1', interface: 'sync0', port: 3790, conntrackd: '/usr/sbin/conntrackd', runDir: '/run/kubeha/conntrackd' });
  // two unicast peers (three LB nodes): which one is the sync peer is not guessed
  const three = config({ vrrp: vrrp({ unicastPeers: ['10.8.4.22', '10.8.4.23'] }), conntrackSync: {} });
  assert.match(String(resolveConntrackSync(three, three.conntrackSync!)), /^conntrackSync needs peer: write it, or give the first VRRP instance exactly one unicastPeers entry/);
  const none = config({ conntrackSync: {} });
  assert.match(String(resolveConntrackSync(none, none.conntrackSync!)), /needs peer, localAddress, interface: write them/);
});

test('conntrackd.conf: FTFW over unicast UDP to the peer, entries injected into the kernel, TCP only, the nodes\' own flows not replicated, files in the run folder', () => {
  const text = renderConntrackdConf({ peer: '10.8.4.22', localAddress: '10.8.4.21', interface: 'eth1', port: 3780, conntrackd: '/usr/sbin/conntrackd', runDir: '/run/x' });
  assert.match(text, /Mode FTFW \{\n\s+DisableExternalCache on\n/);
  assert.match(text, /UDP \{\n\s+IPv4_address 10\.8\.4\.21\n\s+IPv4_Destination_Address 10\.8\.4\.22\n\s+Port 3780\n\s+Interface eth1\n/);
  assert.match(text, /Protocol Accept \{\n\s+TCP\n\s+\}/);
  const ignored = [...text.matchAll(/IPv4_address (\S+)\n/g)].map((m) => m[1]).slice(1);
  assert.deepEqual(ignored, ['127.0.0.1', '10.8.4.21', '10.8.4.22'], 'loopback, this node and its peer');
  const paths = conntrackdPaths('/run/x');
  for (const p of [paths.lock, paths.socket, paths.log]) assert.ok(text.includes(p), p);
});
