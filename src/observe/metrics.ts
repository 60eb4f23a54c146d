import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Listener } from '../proxy/listener.js';
import type { Server } from '../proxy/server.js';
import type { ServerPool } from '../proxy/server-pool.js';
import type { VrrpStatus } from '../vrrp/vrrp-engine.js';
import type { VipElection } from '../election/vip-election.js';
import { VERSION } from '../version.js';
import type { DiscoveryStats } from '../discovery/server-list.js';
import { registerElectionMetrics } from './election-metrics.js';
import { scrapedMetric, type Row } from './scraped-metric.js';
import type { FrontendState } from './node-state.js';
import type { KernelPlaneStats } from '../kernel/kernel-plane.js';
import type { ConntrackSyncStats } from '../kernel/conntrackd.js';
import type { BgpStatus } from '../bgp/speaker.js';
import type { PeerStatus } from '../bgp/bgp-peer.js';

/** What the metrics read at scrape time (the daemon implements it). */
export interface MetricsSource {
  listeners(): Iterable<Listener>;
  pools(): Iterable<ServerPool>;
  /** Converts a time on the daemon's monotonic clock to Unix milliseconds. */
  toWallMs(monotonicMs: number): number;
  /** The VRRP instances as the VRRP thread last reported them. */
  vrrp(): VrrpStatus[];
  /** The VIP election, when configured. */
  election(): VipElection | undefined;
  /** The backends whose servers come from the Kubernetes API. */
  discoveries(): Iterable<{ backend: string; stats: DiscoveryStats }>;
  /** The frontends with dataPlane: kernel (counters as last read), and the plane's stats while there are any. */
  kernel(): { frontends: FrontendState[]; stats: KernelPlaneStats | undefined; sync?: ConntrackSyncStats | undefined };
  /** The BGP speaker's status as its thread last reported it; null without `bgp:`. */
  bgp?(): BgpStatus | null;
}

const DISCOVERY_SOURCES = ['bootstrap', 'state-file', 'endpointslices', 'endpoints'] as const;

const VRRP_STATES = ['initialize', 'backup', 'master', 'fault'] as const;

type ServerLabels = 'backend' | 'server';
const ADMIN_STATE_VALUE = { ready: 0, drain: 1, maint: 2 } as const;

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

  constructor(source: MetricsSource) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });

    const scraped = <L extends string>(name: string, help: string, kind: 'counter' | 'gauge', labelNames: L[], rows: () => Iterable<Row<L>>) =>
      scrapedMetric(r, name, help, kind, labelNames, rows);
    const perListener = (name: string, help: string, kind: 'counter' | 'gauge', read: (l: Listener) => number) =>
      scraped(name, help, kind, ['frontend'], function* () {
        for (const l of source.listeners()) yield [{ frontend: l.name }, read(l)];
      });
    const perPool = (name: string, help: string, read: (p: ServerPool) => number) =>
      scraped(name, help, 'gauge', ['backend'], function* () {
        for (const p of source.pools()) yield [{ backend: p.name }, read(p)];
      });
    const perServer = (name: string, help: string, kind: 'counter' | 'gauge', read: (s: Server) => number) =>
      scraped<ServerLabels>(name, help, kind, ['backend', 'server'], function* () {
        for (const p of source.pools()) for (const s of [...p.servers, ...p.retired]) yield [{ backend: p.name, server: s.id }, read(s)];
      });

    const buildInfo = new Gauge({ name: 'kubeha_build_info', help: 'Always 1; the labels say which kubeha and Node.js run (a fleet mid-upgrade shows both versions).', labelNames: ['version', 'node'], registers: [r] });
    buildInfo.set({ version: VERSION, node: process.version }, 1);

    perListener('kubeha_frontend_connections_total', 'Connections accepted by the frontend.', 'counter', (l) => l.accepted);
    perListener('kubeha_frontend_active_connections', 'Sessions open on the frontend now.', 'gauge', (l) => l.active);
    scraped('kubeha_frontend_rejected_connections_total', 'Connections refused before reaching a server, by reason (maxconn, queue-full, queue-timeout, no-server).', 'counter', ['frontend', 'reason'], function* () {
      for (const l of source.listeners()) for (const [reason, n] of Object.entries(l.rejected)) yield [{ frontend: l.name, reason }, n];
    });
    perListener('kubeha_frontend_listening', '1 while the frontend socket is bound, 0 while it waits for its address.', 'gauge', (l) => (l.listening ? 1 : 0));

    perPool('kubeha_backend_queue_length', 'Sessions waiting for a server slot.', (p) => p.queue.length);
    perPool('kubeha_backend_servers_up', 'Servers of the backend that are up and take new sessions.', (p) => p.servers.filter((s) => p.usable(s)).length);

    perServer('kubeha_server_up', '1 when the server passes its health checks, else 0.', 'gauge', (s) => (s.health.up ? 1 : 0));
    perServer('kubeha_server_weight', 'Effective weight now (slow start and drain applied).', 'gauge', (s) => s.effectiveWeight);
    perServer('kubeha_server_active_sessions', 'Sessions open on the server now.', 'gauge', (s) => s.active);
    perServer('kubeha_server_sessions_total', 'Sessions sent to the server.', 'counter', (s) => s.sessionsTotal);
    perServer('kubeha_server_bytes_in_total', 'Bytes received from clients and sent to the server.', 'counter', (s) => s.bytesIn);
    perServer('kubeha_server_bytes_out_total', 'Bytes received from the server and sent to clients.', 'counter', (s) => s.bytesOut);
    perServer('kubeha_server_connection_errors_total', 'Failed connect attempts to the server.', 'counter', (s) => s.connectErrors);
    perServer('kubeha_server_retries_total', 'Connect retries after a failure on the server.', 'counter', (s) => s.retries);
    perServer('kubeha_server_state_transitions_total', 'Up/down changes of the server.', 'counter', (s) => s.health.transitions);
    perServer('kubeha_server_admin_state', 'Operator state: 0 ready, 1 drain, 2 maint.', 'gauge', (s) => ADMIN_STATE_VALUE[s.adminState]);
    perServer('kubeha_server_last_state_change_timestamp_seconds', 'Unix time of the last up/down change (0 when none since start).', 'gauge', (s) =>
      s.health.transitions === 0 ? 0 : source.toWallMs(s.health.changedAtMs) / 1000);

    perServer('kubeha_server_latency_tier', 'RTT tier of the server for balance: latency (0 fastest), -1 until a check measured it.', 'gauge', (s) => s.latencyTier ?? -1);

    const perDiscovery = (name: string, help: string, kind: 'counter' | 'gauge', read: (d: DiscoveryStats) => number) =>
      scraped(name, help, kind, ['backend'], function* () {
        for (const d of source.discoveries()) yield [{ backend: d.backend }, read(d.stats)];
      });
    scraped('kubeha_discovery_source', 'Where the backend\'s servers come from now: 1 for the current source (bootstrap, state-file, endpointslices, endpoints), 0 for the others.', 'gauge', ['backend', 'source'], function* () {
      for (const d of source.discoveries()) for (const src of DISCOVERY_SOURCES) yield [{ backend: d.backend, source: src }, d.stats.source === src ? 1 : 0];
    });
    perDiscovery('kubeha_discovery_servers', 'Servers in the discovered list in force.', 'gauge', (d) => d.servers);
    perDiscovery('kubeha_discovery_generation', 'Server lists applied from discovery since start.', 'gauge', (d) => d.generation);
    perDiscovery('kubeha_discovery_errors_total', 'Failed lists and watches of the Kubernetes API (each one retried on the next apiserver).', 'counter', (d) => d.errors);
    perDiscovery('kubeha_discovery_empty_lists_ignored_total', 'Answers listing no ready apiserver, ignored so the backend keeps its servers.', 'counter', (d) => d.emptyIgnored);
    perDiscovery('kubeha_discovery_last_sync_timestamp_seconds', 'Unix time of the last list or watch event from the API (0 before the first).', 'gauge', (d) =>
      d.lastSyncMs === null ? 0 : source.toWallMs(d.lastSyncMs) / 1000);

    const perInstance = (name: string, help: string, kind: 'counter' | 'gauge', read: (v: VrrpStatus) => number) =>
      scraped(name, help, kind, ['vrrp_instance'], function* () {
        for (const v of source.vrrp()) yield [{ vrrp_instance: v.name }, read(v)];
      });
    scraped('kubeha_vrrp_state', 'VRRP state of the instance: 1 for the current state, 0 for the others.', 'gauge', ['vrrp_instance', 'state'], function* () {
      for (const v of source.vrrp()) for (const st of VRRP_STATES) yield [{ vrrp_instance: v.name, state: st }, v.state === st ? 1 : 0];
    });
    perInstance('kubeha_vrrp_priority', 'Configured VRRP priority.', 'gauge', (v) => v.priority);
    perInstance('kubeha_vrrp_maintenance', '1 while the instance is in maintenance (out of the election through the admin API), else 0.', 'gauge', (v) => (v.maintenance ? 1 : 0));
    perInstance('kubeha_vrrp_effective_priority', 'Advertised VRRP priority: configured plus track weights.', 'gauge', (v) => v.effectivePriority);
    perInstance('kubeha_vrrp_transitions_total', 'VRRP state changes of the instance.', 'counter', (v) => v.transitions);
    perInstance('kubeha_vrrp_adverts_sent_total', 'VRRP advertisements sent.', 'counter', (v) => v.adverts.sent);
    perInstance('kubeha_vrrp_adverts_received_total', 'Valid VRRP advertisements received for the instance\'s VRID.', 'counter', (v) => v.adverts.received);
    perInstance('kubeha_vrrp_advert_send_errors_total', 'VRRP advertisements the kernel refused to send.', 'counter', (v) => v.adverts.sendErrors);
    scraped('kubeha_vrrp_adverts_dropped_total', 'VRRP packets dropped, by reason (checksum, ttl, auth, interval, version, length, truncated, unknown_peer, second_master, ...); their senders are in the state API.', 'counter', ['vrrp_instance', 'reason'], function* () {
      for (const v of source.vrrp()) for (const [reason, n] of Object.entries(v.adverts.dropped)) yield [{ vrrp_instance: v.name, reason }, n ?? 0];
    });
    perInstance('kubeha_vrrp_garps_sent_total', 'Gratuitous ARPs sent for the instance\'s VIPs.', 'counter', (v) => v.garpsSent);
    perInstance('kubeha_vrrp_duplicate_vip_events_total', 'Times another host claimed a VIP or VRID of the instance (ARP or advert).', 'counter', (v) => v.duplicateVip.events);
    perInstance('kubeha_vrrp_second_master_events_total', 'Times a router worse than the live master kept advertising as master for the VRID (its adverts ignored; the sender is in the log and the state API).', 'counter', (v) => v.secondMaster.events);
    perInstance('kubeha_vrrp_advert_gap_max_seconds', 'Longest gap between two adverts of one master, as this backup heard them.', 'gauge', (v) => v.adverts.maxGapMs / 1000);

    const perKernelServer = (name: string, help: string, kind: 'counter' | 'gauge', read: (s: NonNullable<FrontendState['kernel']>['servers'][number]) => number) =>
      scraped(name, help, kind, ['frontend', 'server'], function* () {
        for (const f of source.kernel().frontends) for (const s of f.kernel?.servers ?? []) yield [{ frontend: f.name, server: s.name }, read(s)];
      });
    scraped('kubeha_kernel_frontend_programmed', '1 while the dataPlane: kernel frontend is in the nftables table this process wrote, else 0.', 'gauge', ['frontend'], function* () {
      for (const f of source.kernel().frontends) yield [{ frontend: f.name }, f.kernel?.programmed ? 1 : 0];
    });
    perKernelServer('kubeha_kernel_server_packets_total', 'Packets of the kernel frontend\'s flows to and from the server (nftables counter, both directions).', 'counter', (s) => s.packets);
    perKernelServer('kubeha_kernel_server_bytes_total', 'Bytes of the kernel frontend\'s flows to and from the server (nftables counter, both directions).', 'counter', (s) => s.bytes);
    perKernelServer('kubeha_kernel_server_flows', 'Conntrack entries of the kernel frontend\'s flows to the server (every TCP state).', 'gauge', (s) => s.flows);
    perKernelServer('kubeha_kernel_server_established_flows', 'Conntrack entries of the kernel frontend\'s flows to the server that are established.', 'gauge', (s) => s.established);
    const kernelPlane = (name: string, help: string, read: (k: KernelPlaneStats) => number) =>
      scraped(name, help, 'counter', [], function* () {
        const k = source.kernel().stats;
        if (k) yield [{}, read(k)];
      });
    kernelPlane('kubeha_kernel_updates_total', 'Transactions applied to the nftables table (whole tables and slot updates).', (k) => k.updates);
    kernelPlane('kubeha_kernel_update_failures_total', 'Table updates nftables refused (each retried; the kernel keeps the last table).', (k) => k.failures);
    kernelPlane('kubeha_kernel_flows_deleted_total', 'Conntrack entries deleted for servers marked down with onMarkedDown: shutdown.', (k) => k.flowsDeleted);
    scraped('kubeha_conntrack_sync_up', '1 while the conntrackd replicating the kernel frontends\' flows to the peer answers, else 0 (absent without conntrackSync).', 'gauge', ['peer'], function* () {
      const sync = source.kernel().sync;
      if (sync) yield [{ peer: sync.peer }, sync.running ? 1 : 0];
    });
    scraped('kubeha_conntrack_sync_starts_total', 'conntrackd starts by this process (more than one: it stopped answering and was started again).', 'counter', ['peer'], function* () {
      const sync = source.kernel().sync;
      if (sync) yield [{ peer: sync.peer }, sync.starts];
    });
    const perPeer = (name: string, help: string, kind: 'counter' | 'gauge', read: (p: PeerStatus) => number | undefined) =>
      scraped(name, help, kind, ['peer'], function* () {
        for (const p of source.bgp?.()?.peers ?? []) {
          const v = read(p);
          if (v !== undefined) yield [{ peer: p.address }, v];
        }
      });
    perPeer('kubeha_bgp_session_up', '1 while the BGP session with the peer is Established, else 0.', 'gauge', (p) => (p.state === 'established' ? 1 : 0));
    perPeer('kubeha_bgp_session_uptime_seconds', 'Seconds since the BGP session with the peer reached Established (absent while it is not).', 'gauge', (p) => p.uptimeS ?? undefined);
    perPeer('kubeha_bgp_sessions_established_total', 'Times the BGP session with the peer reached Established (more than one: it flapped).', 'counter', (p) => p.counters.established);
    scraped('kubeha_bgp_messages_total', 'BGP messages exchanged with the peer, by direction (in, out) and type (update, notification, other).', 'counter', ['peer', 'direction', 'type'], function* () {
      for (const p of source.bgp?.()?.peers ?? []) {
        const c = p.counters;
        yield [{ peer: p.address, direction: 'in', type: 'update' }, c.updatesIn];
        yield [{ peer: p.address, direction: 'in', type: 'notification' }, c.notificationsIn];
        yield [{ peer: p.address, direction: 'in', type: 'other' }, c.messagesIn - c.updatesIn - c.notificationsIn];
        yield [{ peer: p.address, direction: 'out', type: 'update' }, c.updatesOut];
        yield [{ peer: p.address, direction: 'out', type: 'notification' }, c.notificationsOut];
        yield [{ peer: p.address, direction: 'out', type: 'other' }, c.messagesOut - c.updatesOut - c.notificationsOut];
      }
    });
    perPeer('kubeha_bgp_treat_as_withdraw_total', 'UPDATEs from the peer with faulty attributes, handled as withdrawals (RFC 7606) and ignored.', 'counter', (p) => p.counters.treatAsWithdraw);
    perPeer('kubeha_bfd_session_up', '1 while the BFD session with the peer is Up, else 0 (absent without bfd for the peer).', 'gauge', (p) => (p.bfd ? (p.bfd.state === 'up' ? 1 : 0) : undefined));
    scraped('kubeha_bgp_vip_announced', '1 while this node announces the VIP to its peers (tracked backends serve, not in maintenance), else 0.', 'gauge', ['vip'], function* () {
      for (const a of source.bgp?.()?.announcements ?? []) yield [{ vip: a.vip }, a.announced ? 1 : 0];
    });
    scraped('kubeha_bfd_packets_dropped_total', 'BFD packets dropped by reason (RFC 5880 §6.8.6: version, length, discriminator, unknown_session, ...).', 'counter', ['reason'], function* () {
      for (const [reason, n] of Object.entries(source.bgp?.()?.bfdDropped ?? {})) yield [{ reason }, n];
    });

    registerElectionMetrics(r, () => source.election()?.stats);

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

  /** Records a reload attempt at wall-clock time `wallMs`. */
  observeReload(ok: boolean, wallMs: number): void {
    const result = ok ? 'success' : 'failure';
    this.reloads.inc({ result });
    this.lastReload.set({ result }, wallMs / 1000);
  }
}
