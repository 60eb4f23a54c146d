import type { Clock } from '../clock.js';
import { isLoopbackHost, parseHostPort, type HostPort } from '../config/address.js';
import type { BackendConfig, ServerConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import type { DiscoveredServer, DiscoverySource } from './endpoint-list.js';
import { KubeDiscovery } from './kube-watch.js';
import { readKubeconfig } from './kubeconfig.js';
import { DiscoveredList, type DiscoveryStats } from './server-list.js';
import { loadSavedServers, saveServers } from './state-file.js';

/** What a discovered backend needs from the daemon. */
export interface DiscoveredBackendHooks {
  /** Addresses to reach the API through, best first. */
  candidates(): string[];
  /** A new server list, to reconcile the pool with. */
  apply(servers: ServerConfig[]): void;
}

/**
 * A backend whose servers come from the Kubernetes API (`discovery.kubernetes`): the list in force,
 * the watch that updates it, and the state file that keeps the last good one across restarts.
 */
export class DiscoveredBackend {
  private readonly watch: KubeDiscovery;
  readonly list: DiscoveredList;
  /** {@link DiscoveredBackend.keyOf} of the config it was made from. */
  readonly key: string;

  private constructor(
    private readonly cfg: BackendConfig,
    /** The servers to start from and to fall back on. */
    bootstrap: DiscoveredServer[],
    initial: DiscoveredServer[],
    source: DiscoverySource,
    clock: Clock,
    private readonly log: Logger,
    hooks: DiscoveredBackendHooks,
  ) {
    const d = cfg.discovery!.kubernetes;
    this.key = DiscoveredBackend.keyOf(cfg);
    this.list = new DiscoveredList(initial, source, d.debounce, clock, (servers, from) => {
      this.save(servers);
      log.info({ event: 'discovery-update', backend: cfg.name, source: from, servers: servers.map((s) => s.address), generation: this.list.stats.generation }, `backend ${cfg.name}: ${servers.length} apiservers from ${from}: ${servers.map((s) => s.address).join(', ')}`);
      hooks.apply(this.serverConfigs());
    });
    this.watch = new KubeDiscovery({ backend: cfg.name, kubeconfig: d.kubeconfig, port: d.port, list: this.list, bootstrap, candidates: hooks.candidates, clock, log });
  }

  /** What a reload compares: a backend whose discovery settings and bootstrap list are unchanged keeps its watch and list. */
  static keyOf(cfg: BackendConfig): string {
    return JSON.stringify({ discovery: cfg.discovery, servers: cfg.servers });
  }

  /**
   * Sets one up: the saved list when there is one, else the bootstrap `servers:`, else the
   * kubeconfig's server (k3s' `--server`: a first address, replaced once the API answers), unless
   * that is one of `ownBinds` (the frontends: a kubelet.conf pointed at this LB). Throws when none
   * of those gives an address to start from.
   */
  static async create(cfg: BackendConfig, ownBinds: HostPort[], clock: Clock, log: Logger, hooks: DiscoveredBackendHooks): Promise<DiscoveredBackend> {
    const d = cfg.discovery!.kubernetes;
    let bootstrap: DiscoveredServer[] = cfg.servers.map((s) => ({ name: s.name, address: s.address }));
    let saved: DiscoveredServer[] = [];
    if (d.stateFile) {
      try {
        saved = loadSavedServers(d.stateFile)?.servers ?? [];
      } catch (err) {
        log.error({ event: 'discovery-state-unreadable', backend: cfg.name, path: d.stateFile, err }, `backend ${cfg.name}: cannot use the saved apiserver list ${d.stateFile} (${err instanceof Error ? err.message : String(err)}): starting from the bootstrap list; fix or remove the file [KUBEHA_ERR_STATE_FILE]`);
      }
    }
    if (bootstrap.length === 0 && saved.length === 0) {
      let server: string;
      try {
        server = (await readKubeconfig(d.kubeconfig)).server;
      } catch (err) {
        throw new Error(`backend ${cfg.name}: no servers: list and no saved list to start discovery from, and ${err instanceof Error ? err.message : String(err)}; list at least one apiserver under servers: [KUBEHA_ERR_DISCOVERY]`);
      }
      const url = URL.canParse(server) ? new URL(server) : undefined;
      const address = url ? `${url.hostname}:${url.port || '443'}` : '';
      const hp = parseHostPort(address);
      const itself = typeof hp !== 'string' && ownBinds.some((b) => b.port === hp.port && (isLoopbackHost(hp.host) || b.host === hp.host || b.host === '0.0.0.0' || b.host === '::'));
      if (typeof hp === 'string' || itself) {
        throw new Error(`backend ${cfg.name}: no servers: list and no saved list to start discovery from, and the kubeconfig ${d.kubeconfig} points at ${server}${itself ? ' (this node-local LB itself: a frontend binds it)' : ''}; list at least one apiserver under servers: [KUBEHA_ERR_DISCOVERY]`);
      }
      bootstrap = [{ name: 'kubeconfig-server', address }];
    }
    const [initial, source]: [DiscoveredServer[], DiscoverySource] = saved.length > 0 ? [saved, 'state-file'] : [bootstrap, 'bootstrap'];
    if (source === 'state-file') log.info({ event: 'discovery-restored', backend: cfg.name, path: d.stateFile, servers: saved.map((s) => s.address) }, `backend ${cfg.name}: starting from the ${saved.length} apiservers saved in ${d.stateFile}`);
    return new DiscoveredBackend(cfg, bootstrap, initial, source, clock, log, hooks);
  }

  /** The list in force as server configs: a bootstrap server keeps its weight and admin state. */
  serverConfigs(): ServerConfig[] {
    const configured = new Map(this.cfg.servers.map((s) => [s.address, s]));
    return this.list.servers.map((s) => configured.get(s.address) ?? { name: s.name, address: s.address, weight: 100, state: 'ready' as const });
  }

  get stats(): DiscoveryStats {
    return this.list.stats;
  }

  start(): void {
    this.watch.start();
  }

  stop(): Promise<void> {
    return this.watch.stop();
  }

  /** The pool marked a server down: the watch moves off it. */
  serverDown(address: string): void {
    this.watch.serverDown(address);
  }

  private save(servers: DiscoveredServer[]): void {
    const path = this.cfg.discovery!.kubernetes.stateFile;
    if (!path) return;
    try {
      saveServers(path, { servers, savedAt: new Date().toISOString() });
    } catch (err) {
      this.log.error({ event: 'discovery-state-unwritable', backend: this.cfg.name, path, err }, `backend ${this.cfg.name}: cannot save the apiserver list to ${path} (${err instanceof Error ? err.message : String(err)}): it applies now, but a restart with every apiserver down would not know it [KUBEHA_ERR_STATE_FILE]`);
    }
  }
}
