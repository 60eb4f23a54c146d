import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { rewriteKubeconfigServer } from '../../src/apply/kubeconfig-server.js';

// As kubeadm writes /etc/kubernetes/kubelet.conf (one cluster), with a comment an operator added and
// the master's address also in a field that is not the server (a sed would rewrite both).
const KUBELET_CONF = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTi
    server: https://10.8.4.91:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: system:node:node1
  name: system:node:node1@kubernetes
current-context: system:node:node1@kubernetes
kind: Config
preferences: {}
users:
- name: system:node:node1
  user:
    # rotated by the kubelet; see https://10.8.4.91:6443 docs
    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem
    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem
`;

test('kubeconfig server rewrite: only clusters[].cluster.server changes; comments, order and credentials stay; idempotent', () => {
  const r = rewriteKubeconfigServer(KUBELET_CONF, 'https://10.8.4.55:6443');
  assert.ok(r.ok);
  assert.deepEqual(r.changed, [{ cluster: 'kubernetes', from: 'https://10.8.4.91:6443', to: 'https://10.8.4.55:6443' }]);
  const before = KUBELET_CONF.split('\n');
  const after = r.text.split('\n');
  const differing = before.map((l, i) => [l, after[i]]).filter(([x, y]) => x !== y);
  assert.deepEqual(differing, [['    server: https://10.8.4.91:6443', '    server: https://10.8.4.55:6443']], 'one line changed, the comment naming the old address kept');
  assert.equal(before.length, after.length);
  const expected = parse(KUBELET_CONF) as { clusters: { cluster: { server: string } }[] };
  expected.clusters[0]!.cluster.server = 'https://10.8.4.55:6443';
  assert.deepEqual(parse(r.text), expected, 'structurally: the server and nothing else');
  const again = rewriteKubeconfigServer(r.text, 'https://10.8.4.55:6443');
  assert.ok(again.ok);
  assert.deepEqual(again.changed, [], 'a second run changes nothing');
  assert.equal(again.text, r.text);
});

test('kubeconfig server rewrite: several clusters, only those on the old addresses; refusals for what is not a kubeconfig', () => {
  const text = `apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.8.4.91:6443\n  name: kubernetes\n- cluster:\n    server: https://other:6443\n  name: other\nkind: Config\n`;
  const r = rewriteKubeconfigServer(text, 'https://10.8.4.55:6443', ['https://10.8.4.91:6443', 'https://10.8.4.92:6443']);
  assert.ok(r.ok);
  assert.deepEqual(r.changed.map((c) => c.cluster), ['kubernetes']);
  assert.match(r.text, /server: https:\/\/other:6443/);
  const table: [string, string, RegExp][] = [
    ['not YAML', 'clusters: [', /not valid YAML/],
    ['no clusters', 'kind: Config\n', /no clusters/],
    ['a cluster without a server', 'clusters:\n- name: x\n  cluster: {}\n', /cluster x has no server/],
  ];
  for (const [what, input, re] of table) {
    const bad = rewriteKubeconfigServer(input, 'https://10.8.4.55:6443');
    assert.equal(bad.ok, false, what);
    assert.match(bad.ok ? '' : bad.error, re, what);
  }
});
