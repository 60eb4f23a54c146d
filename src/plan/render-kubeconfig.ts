// kubelet and kube-proxy kubeconfigs whose server is the VIP (or the node-local LB).
import { stringify } from 'yaml';
import type { Plan } from './inventory.js';

/** A kubeconfig for `user`, authenticating with the certificate files given. */
export function renderKubeconfig(plan: Plan, server: string, user: string, certFile: string, keyFile: string): string {
  const cluster = plan.inv.cluster;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server, 'certificate-authority': `${plan.inv.pkiDir}/ca.crt` } }],
    users: [{ name: user, user: { 'client-certificate': certFile, 'client-key': keyFile } }],
    contexts: [{ name: `${user}@${cluster}`, context: { cluster, user } }],
    'current-context': `${user}@${cluster}`,
  };
  return `# ${user} → ${server}. Rendered by kubeha render.\n${stringify(doc)}`;
}
