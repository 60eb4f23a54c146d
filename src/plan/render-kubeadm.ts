// kubeadm's config for the first master: the control-plane endpoint on the VIP, and the VIP in the
// apiserver certificate's SANs (without it everything that talks through the VIP fails with
// "x509: certificate is valid for …", the first thing `kubeha doctor` checks).
import { stringify } from 'yaml';
import type { Host, Plan } from './inventory.js';
import { SHARED_APISERVER_FLAGS } from './render-control-plane.js';

/** `kubeadm init --config` for `master` (the first one; the others join through the VIP). */
export function renderKubeadmConfig(plan: Plan, master: Host): string {
  const inv = plan.inv;
  const pki = inv.pkiDir.replace(/\/$/, '');
  const secure = inv.etcd.tls;
  const cluster = {
    apiVersion: 'kubeadm.k8s.io/v1beta2',
    kind: 'ClusterConfiguration',
    ...(inv.kubernetesVersion ? { kubernetesVersion: inv.kubernetesVersion } : {}),
    clusterName: inv.cluster,
    controlPlaneEndpoint: `${plan.vipAddress}:${plan.frontendPort}`,
    certificatesDir: pki,
    apiServer: {
      // kubeadm adds the endpoint's host itself; listed anyway so the certificate still names the
      // VIP and every master if the endpoint later becomes a DNS name.
      certSANs: [plan.vipAddress, ...inv.masters.map((m) => m.ip)],
      extraArgs: Object.fromEntries(SHARED_APISERVER_FLAGS),
    },
    // etcd runs from etcd.env/etcd.service (stacked) or elsewhere (external): kubeadm only connects.
    etcd: {
      external: {
        endpoints: plan.etcdEndpoints,
        ...(secure ? { caFile: `${pki}/etcd/ca.crt`, certFile: `${pki}/apiserver-etcd-client.crt`, keyFile: `${pki}/apiserver-etcd-client.key` } : {}),
      },
    },
    controllerManager: { extraArgs: { 'leader-elect': 'true', 'bind-address': '127.0.0.1' } },
    scheduler: { extraArgs: { 'leader-elect': 'true', 'bind-address': '127.0.0.1' } },
  };
  const init = {
    apiVersion: 'kubeadm.k8s.io/v1beta2',
    kind: 'InitConfiguration',
    localAPIEndpoint: { advertiseAddress: master.ip, bindPort: inv.apiserverPort },
    nodeRegistration: { name: master.name },
  };
  const join = `kubeadm join ${plan.vipAddress}:${plan.frontendPort} --control-plane --apiserver-advertise-address <its ip> --apiserver-bind-port ${inv.apiserverPort} --token … --discovery-token-ca-cert-hash … --certificate-key …`;
  return `# kubeadm init --config kubeadm-config.yaml --upload-certs on ${master.name}; the other masters:\n#   ${join}\n# Rendered by kubeha render.\n${stringify(cluster)}---\n${stringify(init)}`;
}
