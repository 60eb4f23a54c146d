import type { BgpStatus } from '../bgp/speaker.js';
// The shape of GET /api/v1/state: what the daemon serves, and what `kubeha status` and the
// dashboard read. Types only; the daemon fills it (Daemon.state), the readers never trust it
// blindly (it comes over the network from whichever version of the daemon is running).
import type { ConntrackSyncStats } from '../kernel/conntrackd.js';
import type { AdminState } from '../proxy/server.js';
import type { HealthCause } from '../health/health-state.js';
import type { ElectionStatsJson } from '../election/election-stats.js';
import type { RejectReason } from '../proxy/listener.js';
import type { VrrpStatus } from '../vrrp/vrrp-engine.js';

export interface ServerState {
  name: string;
  address: string;
  state: 'up' | 'down';
  adminState: AdminState;
  /** Removed by a reload; still listed while it carries sessions. */
  removed: boolean;
  health: { value: number; rise: number; fall: number; passiveFailures: number };
  weight: number;
  effectiveWeight: number;
  sessions: { active: number; total: number };
  bytesIn: number;
  bytesOut: number;
  connectErrors: number;
  retries: number;
  /** The RTT tier of `balance: latency` (0 fastest), null until a check measured it; absent from older daemons. */
  latencyTier?: number | null;
  lastCheck: { ok: boolean; latencyMs: number; detail: string; at: string } | null;
  lastChange: { at: string; cause: HealthCause };
  transitions: number;
  checkHistory: { latencyMs: number; ok: boolean }[];
}

/** Where a discovered backend's servers come from (`discovery.kubernetes`). */
export interface DiscoveryState {
  source: 'bootstrap' | 'state-file' | 'endpointslices' | 'endpoints';
  /** The API read: discovery.k8s.io/v1, discovery.k8s.io/v1beta1 or v1 endpoints; null before it answered. */
  api: string | null;
  servers: number;
  generation: number;
  lastSync: string | null;
  lastChange: string | null;
  errors: number;
  lastError: string | null;
  emptyIgnored: number;
  via: string | null;
  resourceVersion: string | null;
}

export interface BackendState {
  name: string;
  balance: string;
  /** Null for a backend with a fixed list; absent from older daemons. */
  discovery?: DiscoveryState | null;
  queue: { length: number; max: number; overflows: number; timeouts: number };
  servers: ServerState[];
}

export interface FrontendState {
  name: string;
  bind: string;
  port: number | null;
  /** The addresses listened on (a frontend on `localhost` has 127.0.0.1 and ::1); absent from older daemons. */
  addresses?: string[];
  listening: boolean;
  backend: string;
  accepted: number;
  active: number;
  rejected: Record<RejectReason, number>;
  /** userspace: kubeha proxies the sessions; kernel: nftables forwards (absent from older daemons: userspace). */
  dataPlane?: 'userspace' | 'kernel';
  /** A kernel frontend's table entry: `listening` is whether it is programmed; `active` its established flows. */
  kernel?: KernelFrontendState;
}

/** A kernel frontend's servers as nftables and conntrack count them. */
export interface KernelFrontendState {
  programmed: boolean;
  servers: { name: string; packets: number; bytes: number; flows: number; established: number }[];
}

/** The in-kernel data plane of the node. */
export interface KernelPlaneState {
  updates: number;
  failures: number;
  lastError: string | null;
  lastUpdate: string | null;
  /** This process took over the table an earlier one left. */
  adopted: boolean;
  /** The adopted table is kept as it is until the first health checks are in. */
  holding: boolean;
  flowsDeleted: number;
}

/** conntrackd replicating the kernel frontends' flows to the other LB node (conntrackSync). */
export type ConntrackSyncState = ConntrackSyncStats;

export type VipElectionState = ElectionStatsJson & { vips: string[] };

export interface NodeState {
  startedAt: string;
  configPath: string | null;
  reloads: { success: number; failure: number; lastErrors: string[] };
  events: { at: string; backend: string; server: string; up: boolean; cause: string; detail: string }[];
  vrrp: VrrpStatus[];
  eventLoopDelayMs: { p99: number; max: number };
  vrrpThread: { loopDelayMs: { p99: number; max: number } } | null;
  vipElection: VipElectionState | null;
  /** Null when no frontend has dataPlane: kernel (absent from older daemons). */
  kernel?: KernelPlaneState | null;
  /** Null without conntrackSync (absent from older daemons). */
  conntrackSync?: ConntrackSyncState | null;
  /** The BGP speaker: peers, BFD and announcements; null without `bgp:` or before its first status (absent from older daemons). */
  bgp?: BgpStatus | null;
  frontends: FrontendState[];
  backends: BackendState[];
  /** What `kubeha status` would say (the dashboard's banner); absent from daemons before it existed. */
  health?: NodeHealth;
}

/** What stops the node from serving (problems) and what is degraded (warnings). */
export interface NodeHealth {
  problems: string[];
  warnings: string[];
}
