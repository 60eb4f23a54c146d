import type { HealthCheckConfig } from '../config/schema.js';
import { httpProbe } from './http-probe.js';
import type { Probe } from './probe.js';
import { tcpProbe } from './tcp-probe.js';
import { kubeconfigCredentials, loadCheckTls } from './tls-options.js';
import { tlsProbe } from './tls-probe.js';

/**
 * The kubeconfig a check takes its CA, client certificate and token from: its own `kubeconfig`, or
 * for a tls/https check that names no TLS material of its own, the backend's discovery kubeconfig
 * (a node-local LB checks /readyz with the credentials it reads the API with).
 */
export function checkKubeconfig(cfg: HealthCheckConfig, discoveryKubeconfig: string | undefined): string | undefined {
  if (cfg.kubeconfig) return cfg.kubeconfig;
  if (cfg.type === 'tcp' || cfg.type === 'http') return undefined;
  const ownMaterial = cfg.caFile ?? cfg.certFile ?? cfg.keyFile ?? cfg.bearerTokenFile;
  return ownMaterial === undefined ? discoveryKubeconfig : undefined;
}

/** Builds the probe a health check config asks for (the one place that maps check types to probes). */
export async function buildProbe(cfg: HealthCheckConfig, discoveryKubeconfig?: string): Promise<Probe> {
  const kubeconfig = checkKubeconfig(cfg, discoveryKubeconfig);
  const credentials = kubeconfig && (cfg.type === 'https' || cfg.type === 'tls') ? kubeconfigCredentials(kubeconfig, cfg.serverName) : undefined;
  switch (cfg.type) {
    case 'tcp':
      return tcpProbe;
    case 'tls':
      return tlsProbe(credentials ? { rejectUnauthorized: true } : await loadCheckTls(cfg), credentials);
    case 'http':
    case 'https':
      return httpProbe({
        path: cfg.path,
        expectStatus: cfg.expectStatus,
        host: cfg.host,
        bearerTokenFile: cfg.bearerTokenFile,
        tls: cfg.type === 'https' && !credentials ? await loadCheckTls(cfg) : undefined,
        credentials,
      });
  }
}
