// The pure core of apiserver discovery: what the `default/kubernetes` EndpointSlices (or the
// Endpoints object, where EndpointSlices are not served) say about where the apiservers are, kept
// up to date from list and watch events, and turned into a backend's server list. No I/O here:
// the watcher (kube-watch.ts) feeds it objects, the daemon applies its output to the pool.
//
// kube-apiserver keeps these objects itself (the lease endpoint reconciler, the default): every
// apiserver that renews its lease is listed with its --advertise-address and --secure-port.

import { formatHostPort } from '../config/address.js';

/** One apiserver address as an EndpointSlice or an Endpoints subset lists it. */
export interface ApiEndpoint {
  ip: string;
  port: number;
  /** `conditions.ready` (EndpointSlice; absent means ready) or addresses vs notReadyAddresses (Endpoints). */
  ready: boolean;
}

/** A server of the backend, as the pool takes it. */
export interface DiscoveredServer {
  name: string;
  address: string;
}

/** Where a backend's server list came from. */
export type DiscoverySource = 'bootstrap' | 'state-file' | 'endpointslices' | 'endpoints';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The object's name, or undefined when it has none. */
export function objectName(o: unknown): string | undefined {
  const meta = isObj(o) ? o.metadata : undefined;
  return isObj(meta) && typeof meta.name === 'string' ? meta.name : undefined;
}

/** The object's resourceVersion, or undefined. */
export function resourceVersionOf(o: unknown): string | undefined {
  const meta = isObj(o) ? o.metadata : undefined;
  return isObj(meta) && typeof meta.resourceVersion === 'string' ? meta.resourceVersion : undefined;
}

/** The `https` port of a port list (by name), else the only port, else undefined. */
function pickPort(ports: unknown[]): number | undefined {
  const valid = ports.filter(isObj).filter((p) => typeof p.port === 'number' && (p.protocol === undefined || p.protocol === 'TCP'));
  const named = valid.find((p) => p.name === 'https') ?? (valid.length === 1 ? valid[0] : undefined);
  return named ? (named.port as number) : undefined;
}

/** The endpoints of one EndpointSlice (discovery.k8s.io v1 or v1beta1: the fields used are the same). */
export function endpointsOfSlice(slice: unknown): ApiEndpoint[] {
  if (!isObj(slice)) return [];
  const port = pickPort(list(slice.ports));
  if (port === undefined) return [];
  const out: ApiEndpoint[] = [];
  for (const e of list(slice.endpoints)) {
    if (!isObj(e)) continue;
    const cond = isObj(e.conditions) ? e.conditions : {};
    // A terminating apiserver is not ready; `serving` (1.22+) would keep it in while it drains, but
    // a node-local LB should send new connections elsewhere at once.
    const ready = cond.ready !== false && cond.terminating !== true;
    for (const ip of list(e.addresses)) if (typeof ip === 'string') out.push({ ip, port, ready });
  }
  return out;
}

/** The endpoints of an Endpoints object (`subsets[].addresses`, `notReadyAddresses`, `ports`). */
export function endpointsOfEndpoints(ep: unknown): ApiEndpoint[] {
  if (!isObj(ep)) return [];
  const out: ApiEndpoint[] = [];
  for (const subset of list(ep.subsets)) {
    if (!isObj(subset)) continue;
    const port = pickPort(list(subset.ports));
    if (port === undefined) continue;
    for (const [key, ready] of [['addresses', true], ['notReadyAddresses', false]] as const) {
      for (const a of list(subset[key])) if (isObj(a) && typeof a.ip === 'string') out.push({ ip: a.ip, port, ready });
    }
  }
  return out;
}

/** One event of a watch stream, as the apiserver sends it (one JSON object per line). */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

/** What applying a watch event asks the watcher to do next. */
export type WatchOutcome =
  | { kind: 'changed' }
  | { kind: 'unchanged' }
  /** The resourceVersion is too old (410 Gone / Expired): list again. */
  | { kind: 'relist'; reason: string }
  | { kind: 'error'; reason: string };

/**
 * The objects a watch has seen, by name (several EndpointSlices can carry the `kubernetes` label;
 * there is one Endpoints object), and the resourceVersion to resume from.
 */
export class EndpointObjects {
  private readonly objects = new Map<string, ApiEndpoint[]>();
  resourceVersion = '';

  constructor(readonly kind: 'endpointslices' | 'endpoints') {}

  /** An object's endpoints, sorted: the same set in another order is no change. */
  private endpointsOf(o: unknown): ApiEndpoint[] {
    return sortEndpoints(this.kind === 'endpointslices' ? endpointsOfSlice(o) : endpointsOfEndpoints(o));
  }

  /** Replaces everything with a list response (`{ metadata: { resourceVersion }, items }`); false when it is not one. */
  replace(listResponse: unknown): boolean {
    if (!isObj(listResponse) || !Array.isArray(listResponse.items)) return false;
    this.objects.clear();
    for (const item of listResponse.items) {
      const name = objectName(item);
      if (name !== undefined) this.objects.set(name, this.endpointsOf(item));
    }
    this.resourceVersion = resourceVersionOf(listResponse) ?? '';
    return true;
  }

  /** Applies one watch event. */
  apply(event: WatchEvent): WatchOutcome {
    if (event.type === 'ERROR') {
      const status = isObj(event.object) ? event.object : {};
      const code = typeof status.code === 'number' ? status.code : 0;
      const reason = `${code} ${typeof status.reason === 'string' ? status.reason : ''}: ${typeof status.message === 'string' ? status.message : 'watch error'}`.trim();
      return code === 410 || status.reason === 'Expired' || status.reason === 'Gone' ? { kind: 'relist', reason } : { kind: 'error', reason };
    }
    const rv = resourceVersionOf(event.object);
    if (rv !== undefined) this.resourceVersion = rv;
    if (event.type === 'BOOKMARK') return { kind: 'unchanged' };
    const name = objectName(event.object);
    if (name === undefined) return { kind: 'error', reason: `a ${event.type} event without a name` };
    const before = JSON.stringify(this.objects.get(name) ?? null);
    if (event.type === 'DELETED') this.objects.delete(name);
    else this.objects.set(name, this.endpointsOf(event.object));
    return JSON.stringify(this.objects.get(name) ?? null) === before ? { kind: 'unchanged' } : { kind: 'changed' };
  }

  /** Every ready endpoint, deduplicated and sorted (so equal lists compare equal). */
  ready(): ApiEndpoint[] {
    const seen = new Map<string, ApiEndpoint>();
    for (const eps of this.objects.values()) for (const e of eps) if (e.ready) seen.set(formatHostPort(e.ip, e.port), e);
    return sortEndpoints([...seen.values()]);
  }
}

function sortEndpoints(eps: ApiEndpoint[]): ApiEndpoint[] {
  return eps.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

/** A watch line parsed, or undefined when it is not a watch event (dropped and counted by the caller). */
export function parseWatchLine(line: string): WatchEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObj(v) || typeof v.type !== 'string' || !['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'].includes(v.type)) return undefined;
  return { type: v.type as WatchEvent['type'], object: v.object };
}

/** A server name from an address: the name rules allow letters, digits, `.`, `_` and `-`. */
function nameFor(ip: string, port: number, portOverride: boolean): string {
  const host = ip.replace(/:/g, '_');
  return portOverride || port === 6443 ? host : `${host}_${port}`;
}

/**
 * The backend's servers for the endpoints found. `port` (the config's `discovery.kubernetes.port`)
 * replaces the listed port. A server of the bootstrap list with the same address keeps its name,
 * so the pool sees the same server (health and sessions kept) when discovery takes over.
 */
export function serversFor(endpoints: readonly ApiEndpoint[], port: number | undefined, bootstrap: readonly DiscoveredServer[]): DiscoveredServer[] {
  const byAddress = new Map(bootstrap.map((s) => [s.address, s.name]));
  const used = new Set<string>();
  const out: DiscoveredServer[] = [];
  for (const e of endpoints) {
    const p = port ?? e.port;
    const address = formatHostPort(e.ip, p);
    if (out.some((s) => s.address === address)) continue;
    let name = byAddress.get(address) ?? nameFor(e.ip, p, port !== undefined);
    while (used.has(name)) name = `${name}_`;
    used.add(name);
    out.push({ name, address });
  }
  return out;
}

/** Same servers, same order? */
export function sameServers(a: readonly DiscoveredServer[], b: readonly DiscoveredServer[]): boolean {
  return a.length === b.length && a.every((s, i) => s.name === b[i]!.name && s.address === b[i]!.address);
}
