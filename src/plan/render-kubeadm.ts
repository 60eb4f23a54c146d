// kubeadm's config for the first master: the control-plane endpoint on the VIP, and the VIP in the
// apiserver certificate's SANs (without it everything that talks through the VIP fails with
// "x509: certificate is valid for …", the first thing `kubeha doctor` checks).
//
// The API version follows kubernetesVersion (kubeadmApiFor): v1beta2 before v1.22, v1beta3 up to
// v1.30, v1beta4 from v1.31. The fields written here are the same in all three but for extraArgs,
// a map in v1beta2/v1beta3 and a list of {name, value} in v1beta4; the fields v1beta3 removed
// (dns.type, useHyperKubeImage) are never written.
import { stringify } from 'yaml';
import { apiserverCertSans, type KubeadmApi, type Master, type Plan } from './inventory.js';
import { SHARED_APISERVER_FLAGS } from './render-control-plane.js';

/** Extra flags in the form `api` reads: a map, or (v1beta4) a list of {name, value}. */
function extraArgs(api: KubeadmApi, flags: readonly (readonly [string, string])[]): Record<string, string> | { name: string; value: string }[] {
  return api === 'v1beta4' ? flags.map(([name, value]) => ({ name, value })) : Object.fromEntries(flags);
}

/** The `kubeadm join --control-plane` line for `ip` (tokens and the certificate key come from a running master). */
export function kubeadmJoinLine(plan: Plan, ip: string): string {
  return `kubeadm join ${plan.vipAddress}:${plan.frontendPort} --control-plane --apiserver-advertise-address ${ip} --apiserver-bind-port ${plan.inv.apiserverPort} --token … --discovery-token-ca-cert-hash sha256:… --certificate-key …`;
}

/** `kubeadm init --config` for `master` (the first founder; the others join through the VIP). */
export function renderKubeadmConfig(plan: Plan, master: Master): string {
  const inv = plan.inv;
  const api = plan.kubeadmApi;
  const pki = inv.pkiDir;
  const secure = inv.etcd.tls;
  const leaderElected = [['leader-elect', 'true'], ['bind-address', '127.0.0.1']] as const;
  const cluster = {
    apiVersion: `kubeadm.k8s.io/${api}`,
    kind: 'ClusterConfiguration',
    ...(inv.kubernetesVersion ? { kubernetesVersion: inv.kubernetesVersion } : {}),
    clusterName: inv.cluster,
    controlPlaneEndpoint: `${plan.vipAddress}:${plan.frontendPort}`,
    certificatesDir: pki,
    apiServer: {
      certSANs: apiserverCertSans(plan),
      extraArgs: extraArgs(api, SHARED_APISERVER_FLAGS),
    },
    // etcd runs from etcd.env/etcd.service (stacked) or elsewhere (external): kubeadm only connects,
    // and so issues none of etcd's certificates (it skips them in external mode).
    etcd: {
      external: {
        endpoints: plan.etcdEndpoints,
        ...(secure ? { caFile: `${pki}/etcd/ca.crt`, certFile: `${pki}/apiserver-etcd-client.crt`, keyFile: `${pki}/apiserver-etcd-client.key` } : {}),
      },
    },
    controllerManager: { extraArgs: extraArgs(api, leaderElected) },
    scheduler: { extraArgs: extraArgs(api, leaderElected) },
  };
  const init = {
    apiVersion: `kubeadm.k8s.io/${api}`,
    kind: 'InitConfiguration',
    localAPIEndpoint: { advertiseAddress: master.ip, bindPort: inv.apiserverPort },
    nodeRegistration: { name: master.name },
  };
  const readers = { v1beta2: 'kubeadm v1.15 to v1.26', v1beta3: 'kubeadm v1.22 and later', v1beta4: 'kubeadm v1.31 and later' }[api];
  const why = inv.kubernetesVersion ? `for kubernetesVersion ${inv.kubernetesVersion}` : 'kubernetesVersion is not set: the version every kubeadm from v1.22 on reads';
  return `# kubeadm init --config kubeadm-config.yaml --upload-certs on ${master.name}; the other masters:\n` +
    `#   ${kubeadmJoinLine(plan, '<its ip>')}\n` +
    `# kubeadm.k8s.io/${api} (${readers}), ${why}.\n` +
    `# Rendered by kubeha render.\n${stringify(cluster)}---\n${stringify(init)}`;
}
