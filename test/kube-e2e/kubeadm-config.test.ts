// The rendered kubeadm-config.yaml through the real kubeadm (v1.20.2, built from Debian's source):
// kubeadm accepts it, the apiserver certificate it issues names the VIP and every master, and
// kubeha doctor, looking at an apiserver that serves that certificate, agrees. The masters' addresses
// live in a network namespace (kubeadm refuses loopback advertise addresses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
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
