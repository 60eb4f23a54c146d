import type { HealthCheckConfig } from '../config/schema.js';
import { httpProbe } from './http-probe.js';
import type { Probe } from './probe.js';
import { tcpProbe } from './tcp-probe.js';
import { loadCheckTls } from './tls-options.js';
import { tlsProbe } from './tls-probe.js';

/** Builds the probe a health check config asks for (the one place that maps check types to probes). */
export async function buildProbe(cfg: HealthCheckConfig): Promise<Probe> {
  switch (cfg.type) {
    case 'tcp':
      return tcpProbe;
    case 'tls':
      return tlsProbe(await loadCheckTls(cfg));
    case 'http':
    case 'https':
      return httpProbe({
        path: cfg.path,
        expectStatus: cfg.expectStatus,
        host: cfg.host,
        bearerTokenFile: cfg.bearerTokenFile,
        tls: cfg.type === 'https' ? await loadCheckTls(cfg) : undefined,
      });
  }
}
