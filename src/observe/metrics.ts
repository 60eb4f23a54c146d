import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';
import type { Listener } from '../proxy/listener.js';
import type { Server } from '../proxy/server.js';
import type { ServerPool, ServerTransition } from '../proxy/server-pool.js';

/** What the metrics read at scrape time (the daemon implements it). */
export interface MetricsSource {
  listeners(): Iterable<Listener>;
  pools(): Iterable<ServerPool>;
}

type ServerLabels = 'backend' | 'server';

/**
 * The Prometheus registry of one daemon. The data plane keeps plain counters on its objects (no
 * label lookups per chunk); this module copies them into prom-client metrics when scraped. Names
 * are part of the product: docs/metrics.md lists each one, and renaming one breaks dashboards.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly checkDuration: Histogram<ServerLabels>;
  private readonly checks: Counter<ServerLabels | 'result'>;
  private readonly reloads: Counter<'result'>;
  private readonly lastReload: Gauge<'result'>;
  /** Wall-clock time of each server's last up/down change, keyed by backend and server name. */
  private readonly lastChange = new Map<string, number>();

  constructor(private readonly source: MetricsSource) {
    const r = this.registry;
    const self = this;
    collectDefaultMetrics({ register: r });

    const perListener = <L extends string>(
      name: string,
      help: string,
      kind: 'counter' | 'gauge',
      labelNames: L[],
      read: (l: Listener, set: (labels: LabelValues<L>, v: number) => void) => void,
    ) => {
      const Metric = kind === 'counter' ? Counter : Gauge;
      new Metric<L>({
        name, help, labelNames, registers: [r],
        collect(this: Counter<L> | Gauge<L>) {
          this.reset();
          for (const l of self.source.listeners()) read(l, (labels, v) => (this instanceof Counter ? this.inc(labels, v) : this.set(labels, v)));
        },
      });
    };
    perListener('kubeha_frontend_connections_total', 'Connections accepted by the frontend.', 'counter', ['frontend'], (l, set) => set({ frontend: l.name }, l.accepted));
    perListener('kubeha_frontend_active_connections', 'Sessions open on the frontend now.', 'gauge', ['frontend'], (l, set) => set({ frontend: l.name }, l.active));
    perListener('kubeha_frontend_rejected_connections_total', 'Connections refused before reaching a server, by reason (maxconn, queue-full, queue-timeout, no-server).', 'counter', ['frontend', 'reason'], (l, set) => {
      for (const [reason, n] of Object.entries(l.rejected)) set({ frontend: l.name, reason }, n);
    });
    perListener('kubeha_frontend_listening', '1 while the frontend socket is bound, 0 while it waits for its address.', 'gauge', ['frontend'], (l, set) => set({ frontend: l.name }, l.listening ? 1 : 0));

    new Gauge<'backend'>({
      name: 'kubeha_backend_queue_length', help: 'Sessions waiting for a server slot.', labelNames: ['backend'], registers: [r],
      collect() {
        this.reset();
        for (const p of self.source.pools()) this.set({ backend: p.name }, p.queue.length);
      },
    });
    new Gauge<'backend'>({
      name: 'kubeha_backend_servers_up', help: 'Servers of the backend that are up and take new sessions.', labelNames: ['backend'], registers: [r],
      collect() {
        this.reset();
        for (const p of self.source.pools()) this.set({ backend: p.name }, p.servers.filter((s) => s.health.up && s.effectiveWeight > 0).length);
      },
    });

    const perServer = (name: string, help: string, kind: 'counter' | 'gauge', read: (s: Server) => number) => {
      const Metric = kind === 'counter' ? Counter : Gauge;
      new Metric<ServerLabels>({
        name, help, labelNames: ['backend', 'server'], registers: [r],
        collect(this: Counter<ServerLabels> | Gauge<ServerLabels>) {
          this.reset();
          for (const p of self.source.pools()) {
            for (const s of [...p.servers, ...p.retired]) {
              const labels = { backend: p.name, server: s.id };
              if (this instanceof Counter) this.inc(labels, read(s));
              else this.set(labels, read(s));
            }
          }
        },
      });
    };
    perServer('kubeha_server_up', '1 when the server passes its health checks, else 0.', 'gauge', (s) => (s.health.up ? 1 : 0));
    perServer('kubeha_server_weight', 'Effective weight now (slow start and drain applied).', 'gauge', (s) => s.effectiveWeight);
    perServer('kubeha_server_active_sessions', 'Sessions open on the server now.', 'gauge', (s) => s.active);
    perServer('kubeha_server_sessions_total', 'Sessions sent to the server.', 'counter', (s) => s.sessionsTotal);
    perServer('kubeha_server_bytes_in_total', 'Bytes received from clients and sent to the server.', 'counter', (s) => s.bytesIn);
    perServer('kubeha_server_bytes_out_total', 'Bytes received from the server and sent to clients.', 'counter', (s) => s.bytesOut);
    perServer('kubeha_server_connection_errors_total', 'Failed connect attempts to the server.', 'counter', (s) => s.connectErrors);
    perServer('kubeha_server_retries_total', 'Connect retries after a failure on the server.', 'counter', (s) => s.retries);
    perServer('kubeha_server_state_transitions_total', 'Up/down changes of the server.', 'counter', (s) => s.health.transitions);
    perServer('kubeha_server_admin_state', 'Operator state: 0 ready, 1 drain, 2 maint.', 'gauge', (s) => ({ ready: 0, drain: 1, maint: 2 })[s.adminState]);
    new Gauge<ServerLabels>({
      name: 'kubeha_server_last_state_change_timestamp_seconds', help: 'Unix time of the last up/down change (0 when none since start).', labelNames: ['backend', 'server'], registers: [r],
      collect() {
        this.reset();
        for (const p of self.source.pools()) for (const s of p.servers) this.set({ backend: p.name, server: s.id }, (self.lastChange.get(`${p.name}/${s.id}`) ?? 0) / 1000);
      },
    });
    this.checkDuration = new Histogram<ServerLabels>({
      name: 'kubeha_server_check_duration_seconds', help: 'Time taken by active health checks.', labelNames: ['backend', 'server'], registers: [r],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    });
    this.checks = new Counter<ServerLabels | 'result'>({ name: 'kubeha_server_checks_total', help: 'Active health checks run, by result (pass, fail).', labelNames: ['backend', 'server', 'result'], registers: [r] });
    this.reloads = new Counter<'result'>({ name: 'kubeha_config_reloads_total', help: 'Config reloads, by result (success, failure).', labelNames: ['result'], registers: [r] });
    this.lastReload = new Gauge<'result'>({ name: 'kubeha_config_last_reload_timestamp_seconds', help: 'Unix time of the last reload, by result.', labelNames: ['result'], registers: [r] });
  }

  /** Records one active check. */
  observeCheck(pool: ServerPool, server: Server, ok: boolean, latencyMs: number): void {
    const labels = { backend: pool.name, server: server.id };
    this.checkDuration.observe(labels, latencyMs / 1000);
    this.checks.inc({ ...labels, result: ok ? 'pass' : 'fail' });
  }

  /** Records an up/down change at wall-clock time `wallMs`. */
  observeTransition(t: ServerTransition, wallMs: number): void {
    this.lastChange.set(`${t.pool.name}/${t.server.id}`, wallMs);
  }

  /** Records a reload attempt at wall-clock time `wallMs`. */
  observeReload(ok: boolean, wallMs: number): void {
    const result = ok ? 'success' : 'failure';
    this.reloads.inc({ result });
    this.lastReload.set({ result }, wallMs / 1000);
  }
}
