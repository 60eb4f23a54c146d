// The rendered kubeadm-config.yaml through the real kubeadm (v1.20.2, built from Debian's source):
// kubeadm accepts it, the apiserver certificate it issues names the VIP and every master, and
// kubeha doctor, looking at an apiserver that serves that certificate, agrees. The masters' addresses
// live in a network namespace (kubeadm refuses loopback advertise addresses). Only kubeadm v1.20.2
// can be built here (Debian's source and Go 1.19): the v1beta2 rendering is tested with it, v1beta3
// and v1beta4 by golden files and a structural test (test/plan/render.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Finding } from '../../src/doctor/assess.js';
import { makePlan, parseInventoryText } from '../../src/plan/inventory.js';
import { renderBundle } from '../../src/plan/render-bundle.js';
import { K8S_BIN } from '../support/kube.js';
import { createBed, SUBNET, VIP, type BedHost } from '../support/netns.js';
import { KUBEHA_BIN } from '../support/processes.js';

test('kubeadm takes the rendered kubeadm-config.yaml; its apiserver certificate names the VIP; kubeha doctor agrees', async (t) => {
  const bed = createBed(t, 1);
  const [host] = bed.hosts as [BedHost];
  const masters = [`${SUBNET}.11`, `${SUBNET}.12`, `${SUBNET}.13`];
  for (const ip of masters) execFileSync('ip', ['-n', host.ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  const pki = join(bed.dir, 'pki');
  const text = `cluster: kadm\nvip: ${VIP}/24\ninterface: eth0\napiPort: 6443\nkubernetesVersion: v1.20.2\npkiDir: ${pki}\n` +
    `masters:\n${masters.map((ip, i) => `  - { name: master${i + 1}, ip: ${ip} }`).join('\n')}\nlb: { hosts: [{ name: lb1, ip: ${SUBNET}.9 }] }\n`;
  const inventoryFile = join(bed.dir, 'inventory.yaml');
  writeFileSync(inventoryFile, text);
  const parsed = parseInventoryText(text, inventoryFile);
  assert.ok(parsed.ok);
  const bundle = renderBundle(makePlan(parsed.inventory));
  assert.deepEqual([...bundle.keys()].filter((p) => p.endsWith('kubeadm-config.yaml')), ['master1/kubeadm-config.yaml'], 'one, for the master that runs kubeadm init');
  const config = join(bed.dir, 'kubeadm-config.yaml');
  writeFileSync(config, bundle.get('master1/kubeadm-config.yaml')!.content);
  assert.match(bundle.get('master1/kubeadm-config.yaml')!.content, /^apiVersion: kubeadm\.k8s\.io\/v1beta2$/m, 'v1.20.2 reads v1beta2');

  const kubeadm = (...args: string[]) => execFileSync(join(K8S_BIN, 'kubeadm'), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  kubeadm('init', 'phase', 'certs', 'ca', '--config', config);
  const out = kubeadm('init', 'phase', 'certs', 'apiserver', '--config', config);
  assert.match(out, /apiserver serving cert is signed for/);
  const cert = new X509Certificate(readFileSync(join(pki, 'apiserver.crt')));
  const sans = (cert.subjectAltName ?? '').split(', ');
  for (const ip of [VIP, ...masters]) assert.ok(sans.includes(`IP Address:${ip}`), `${ip} in ${cert.subjectAltName}`);
  assert.ok(sans.includes('DNS:master1'));

  // master1 serves kubeadm's certificate; the doctor, on the same host, judges it with kubeadm's CA.
  const sim = host.spawn(process.execPath, [KUBEHA_BIN, 'sim', 'apiserver', '--host', masters[0]!, '--port', '6443', '--name', 'master1', '--cert', join(pki, 'apiserver.crt'), '--key', join(pki, 'apiserver.key')]);
  await sim.waitLine(/listening|6443/, 10_000);
  const doctor = spawnSync('ip', ['netns', 'exec', host.ns, process.execPath, KUBEHA_BIN, 'doctor', '--inventory', inventoryFile, '--samples', '1', '--timeout', '2s', '--cacert', join(pki, 'ca.crt'), '--no-etcd', '--json'], { encoding: 'utf8' });
  const master1 = (JSON.parse(doctor.stdout) as { findings: Finding[] }).findings.filter((f) => f.target === 'master1');
  assert.deepEqual(master1.map((f) => `${f.verdict} ${f.check}`), ['ok apiserver-ready', 'ok apiserver-cert-vip', 'ok apiserver-cert-expiry', 'ok apiserver-cert-chain', 'ok clock-skew']);
});

test('kubeadm v1.20.2 and a growing cluster: certSANs name the joining masters; kubeadm issues no etcd certificate (external etcd); v1beta3 is not its API', (t) => {
  const bed = createBed(t, 1);
  const [host] = bed.hosts as [BedHost];
  const masters = [`${SUBNET}.11`, `${SUBNET}.12`, `${SUBNET}.13`, `${SUBNET}.14`, `${SUBNET}.15`];
  execFileSync('ip', ['-n', host.ns, 'addr', 'add', `${masters[0]}/24`, 'dev', 'eth0']);
  const pki = join(bed.dir, 'pki');
  const inventory = (version: string) => `cluster: kadm\nvip: ${VIP}/24\ninterface: eth0\nkubernetesVersion: ${version}\npkiDir: ${pki}\n` +
    `masters:\n${masters.map((ip, i) => `  - { name: master${i + 1}, ip: ${ip}${i >= 3 ? ', join: true' : ''} }`).join('\n')}\nlb: { hosts: [{ name: lb1, ip: ${SUBNET}.9 }] }\n`;
  const render = (version: string) => {
    const parsed = parseInventoryText(inventory(version), 'inventory.yaml');
    assert.ok(parsed.ok);
    const file = join(bed.dir, `kubeadm-config-${version}.yaml`);
    writeFileSync(file, renderBundle(makePlan(parsed.inventory)).get('master1/kubeadm-config.yaml')!.content);
    return file;
  };
  const kubeadm = (...args: string[]) => spawnSync('ip', ['netns', 'exec', host.ns, join(K8S_BIN, 'kubeadm'), ...args], { encoding: 'utf8' });
  const config = render('v1.20.2');
  const all = kubeadm('init', 'phase', 'certs', 'all', '--config', config);
  assert.equal(all.status, 0, all.stderr);
  for (const skipped of ['etcd/ca certificate authority', 'etcd/server certificate', 'etcd/peer certificate', 'etcd/healthcheck-client certificate', 'apiserver-etcd-client certificate']) {
    assert.match(all.stdout, new RegExp(`External etcd mode: Skipping ${skipped} generation`), skipped);
  }
  assert.equal(existsSync(join(pki, 'etcd')), false, 'no etcd folder: the etcd certificates are the operator\'s');
  assert.equal(existsSync(join(pki, 'apiserver-etcd-client.crt')), false);
  const sans = (new X509Certificate(readFileSync(join(pki, 'apiserver.crt'))).subjectAltName ?? '').split(', ');
  for (const ip of [VIP, ...masters]) assert.ok(sans.includes(`IP Address:${ip}`), `${ip} (master4 and master5 join) in ${sans.join(', ')}`);
  // The same inventory for v1.22: v1beta3, which this kubeadm does not know — the version must follow kubernetesVersion.
  const refused = kubeadm('init', 'phase', 'certs', 'ca', '--config', render('v1.22.0'));
  assert.notEqual(refused.status, 0, refused.stdout);
  assert.match(refused.stderr, /no kind "(Cluster|Init)Configuration" is registered for version "kubeadm\.k8s\.io\/v1beta3"/, refused.stderr);
});
