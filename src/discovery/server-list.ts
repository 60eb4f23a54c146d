import type { Clock, Timer } from '../clock.js';
import { sameServers, type DiscoveredServer, type DiscoverySource } from './endpoint-list.js';

/** What /api/v1/state, metrics and `kubeha status` show of a discovered backend. */
export interface DiscoveryStats {
  source: DiscoverySource;
  /** The API the watch reads: `endpointslices` (discovery.k8s.io v1 or v1beta1) or `endpoints`; null before the first answer. */
  api: string | null;
  servers: number;
  /** Bumped every time a new list is applied to the pool. */
  generation: number;
  /** Last list or watch event received (monotonic ms), or null. */
  lastSyncMs: number | null;
  /** Last time the list applied changed (monotonic ms), or null. */
  lastChangeMs: number | null;
  errors: number;
  lastError: string | null;
  /** Lists that would have emptied the backend, ignored. */
  emptyIgnored: number;
  /** The apiserver the watch runs through now, or null. */
  via: string | null;
  resourceVersion: string | null;
}

/**
 * The server list of a discovered backend, and the rules for changing it: it starts from the state
 * file (the last good list) or the bootstrap `servers:`; a list from the API replaces it after the
 * debounce (a burst of events, such as a rolling restart, is applied once); an empty list never
 * replaces a non-empty one (an apiserver that answers with no endpoints, say during an etcd
 * restore, must not leave the node with no server at all). Pure apart from the clock.
 */
export class DiscoveredList {
  private current: DiscoveredServer[];
  private pending: { servers: DiscoveredServer[]; source: DiscoverySource } | undefined;
  private timer: Timer | undefined;
  readonly stats: DiscoveryStats;

  constructor(
    initial: DiscoveredServer[],
    source: DiscoverySource,
    private readonly debounceMs: number,
    private readonly clock: Clock,
    /** Called with every list that is applied (after the debounce). */
    private readonly onApply: (servers: DiscoveredServer[], source: DiscoverySource) => void,
  ) {
    this.current = initial;
    this.stats = { source, api: null, servers: initial.length, generation: 0, lastSyncMs: null, lastChangeMs: null, errors: 0, lastError: null, emptyIgnored: 0, via: null, resourceVersion: null };
  }

  /** The list in force. */
  get servers(): DiscoveredServer[] {
    return this.current;
  }

  /**
   * What the API says now (after a list, or a watch event that changed something). Returns whether
   * it was taken: false for an empty list, which is ignored while the backend has servers.
   */
  offer(servers: DiscoveredServer[], source: DiscoverySource): boolean {
    this.stats.lastSyncMs = this.clock.now();
    if (servers.length === 0 && this.current.length > 0) {
      this.stats.emptyIgnored++;
      this.pending = undefined;
      this.timer?.cancel();
      this.timer = undefined;
      return false;
    }
    if (sameServers(servers, this.current)) {
      this.pending = undefined;
      this.timer?.cancel();
      this.timer = undefined;
      // The API confirms the list started from (bootstrap or state file): applied at once as the
      // API's, so it is saved; otherwise a flap back inside the debounce, with nothing to do.
      if (this.stats.source !== source) {
        this.pending = { servers, source };
        this.flush();
      }
      return true;
    }
    this.pending = { servers, source };
    // The window starts at the first change and is not pushed back by later ones: a steady stream of
    // events cannot hold a change back for longer than one debounce.
    this.timer ??= this.clock.setTimeout(() => this.flush(), this.debounceMs);
    return true;
  }

  /** Applies the pending list now (the debounce ran out). */
  private flush(): void {
    this.timer = undefined;
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    this.current = p.servers;
    this.stats.source = p.source;
    this.stats.servers = p.servers.length;
    this.stats.generation++;
    this.stats.lastChangeMs = this.clock.now();
    this.onApply(p.servers, p.source);
  }

  /** Counts a failed list or watch. */
  failed(message: string): void {
    this.stats.errors++;
    this.stats.lastError = message;
  }

  /** Stops the debounce timer (the backend is going away). */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.pending = undefined;
  }
}
