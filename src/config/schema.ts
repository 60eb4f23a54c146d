import { z } from 'zod';
import { parseDuration } from './duration.js';
import { IMPLICIT_ADMIN_BIND, parseHostPort } from './address.js';
import { CONNTRACKD_DEFAULTS } from '../kernel/conntrack-sync.js';

// The config file's shape (../shared/DESIGN.md "Config contract": those keys are fixed; more may be
// added, none renamed). Durations are written with a unit and parsed here into milliseconds, so every
// duration in a parsed Config is a number of milliseconds. Defaults live here and in
// docs/configuration.md; a test checks that the two agree on every key.

/** What to write instead of a bare number where a duration goes (`3` → `3s (or 3000ms)`). */
function bareNumberMessage(n: number): string {
  return Number.isFinite(n) && n >= 0
    ? `a duration needs a unit: write ${n}s (or ${Math.round(n * 1000)}ms)`
    : `a duration needs a unit: write a number with ms, s, m, h or d (e.g. 300ms, 2s), not ${n}`;
}

/**
 * A duration string (`2s`) parsed to milliseconds. Read from `unknown` so that a bare number
 * (`connectTimeout: 3`) is told what to write rather than "must be a string".
 */
const duration = (min = 0) =>
  z.unknown().transform((input, ctx) => {
    if (typeof input !== 'string') {
      const got = typeof input === 'number' ? bareNumberMessage(input) : `a duration is a string with a unit (e.g. 2s), not ${input === null ? 'null' : Array.isArray(input) ? 'a list' : typeof input === 'object' ? 'a mapping' : `${typeof input} ${JSON.stringify(input)}`}`;
      ctx.issues.push({ code: 'custom', input, message: got, params: { kubeha: 'KUBEHA_ERR_CONFIG_TYPE' } });
      return z.NEVER;
    }
    const text = input;
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.issues.push({
        code: 'custom',
        input: text,
        message: `"${text}" is not a duration; write a number with a unit: ms, s, m, h or d (e.g. 300ms, 2s, 1h)`,
        params: { kubeha: 'KUBEHA_ERR_CONFIG_DURATION' },
      });
      return z.NEVER;
    }
    if (ms < min) {
      ctx.issues.push({
        code: 'custom',
        input: text,
        message: `"${text}" is too short; use at least ${min}ms`,
        params: { kubeha: 'KUBEHA_ERR_CONFIG_DURATION' },
      });
      return z.NEVER;
    }
    return ms;
  });

/** A `host:port` string, checked but kept as written. */
const address = (allowPortZero: boolean) =>
  z.string().superRefine((text, ctx) => {
    const parsed = parseHostPort(text, allowPortZero);
    if (typeof parsed === 'string') {
      ctx.addIssue({
        code: 'custom',
        message: `"${text}" is not host:port: ${parsed}`,
        params: { kubeha: 'KUBEHA_ERR_CONFIG_ADDRESS' },
      });
    }
  });

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
  message: 'a name is 1-63 letters, digits, "_", "." or "-", starting with a letter or digit',
});

const count = (min: number, max: number) => z.number().int().min(min).max(max);

export const healthCheckSchema = z.strictObject({
  type: z.enum(['tcp', 'tls', 'http', 'https']).default('tcp'),
  path: z.string().startsWith('/').default('/readyz'),
  expectStatus: z.array(count(100, 599)).min(1).default([200]),
  interval: duration(10).default(2000),
  fastInterval: duration(10).optional(),
  downInterval: duration(10).optional(),
  timeout: duration(1).default(1000),
  rise: count(1, 100).default(2),
  fall: count(1, 100).default(3),
  port: count(1, 65535).optional(),
  serverName: z.string().optional(),
  caFile: z.string().optional(),
  certFile: z.string().optional(),
  keyFile: z.string().optional(),
  bearerTokenFile: z.string().optional(),
  /** CA, client certificate and token from this kubeconfig (re-read as they rotate). */
  kubeconfig: z.string().min(1).optional(),
  host: z.string().optional(),
});

export const serverSchema = z.strictObject({
  name,
  address: address(false),
  weight: count(0, 1000).default(100),
  state: z.enum(['ready', 'drain', 'maint']).default('ready'),
});

/** Apiservers found through the Kubernetes API (the `default/kubernetes` EndpointSlices). */
export const kubernetesDiscoverySchema = z.strictObject({
  /** Whose credentials (client certificate or token) and CA the API is read with. */
  kubeconfig: z.string().min(1),
  /** The apiservers' port, when the one the EndpointSlice lists is not wanted. */
  port: count(1, 65535).optional(),
  /** The last good list, written on every change and loaded at start. */
  stateFile: z.string().min(1).optional(),
  /** Changes seen within this long are applied together. */
  debounce: duration().default(1000),
});

export const backendSchema = z.strictObject({
  name,
  balance: z.enum(['roundrobin', 'leastconn', 'source', 'latency']).default('roundrobin'),
  retries: count(0, 100).default(3),
  maxConnPerServer: count(0, 1_000_000).default(0),
  maxQueue: count(0, 1_000_000).default(1024),
  queueTimeout: duration(1).default(5000),
  connectTimeout: duration(1).default(3000),
  idleTimeout: duration(1000).default(3_600_000),
  healthCheck: healthCheckSchema.default(() => healthCheckSchema.parse({})),
  slowStart: duration().default(0),
  passiveFailures: count(0, 1000).default(3),
  onMarkedDown: z.enum(['keep', 'shutdown']).default('keep'),
  shutdownJitter: duration().default(2000),
  /** A vanished peer ends its sessions within this long (TCP_USER_TIMEOUT, keepalive from the start); 0: kernel defaults. */
  tcpUserTimeout: duration().default(0),
  discovery: z.strictObject({ kubernetes: kubernetesDiscoverySchema }).optional(),
  /** With discovery: the bootstrap list, used until the API answers and kept as the last resort. */
  servers: z.array(serverSchema).default([]),
}).superRefine((b, ctx) => {
  if (b.servers.length === 0 && !b.discovery) {
    ctx.addIssue({ code: 'custom', path: ['servers'], message: 'a backend needs at least one server (or discovery.kubernetes to find them)' });
  }
});

export const frontendSchema = z.strictObject({
  name,
  bind: address(true),
  backend: name,
  maxConn: count(0, 10_000_000).default(0),
  bindRetryInterval: duration(10).default(1000),
  /** userspace: kubeha proxies each session; kernel: nftables DNAT + conntrack forward, kubeha decides (src/kernel). */
  dataPlane: z.enum(['userspace', 'kernel']).default('userspace'),
  /**
   * dataPlane: kernel on a VIP: the source the servers see. node: this host's address (masquerade);
   * vip: the VIP, so the replies follow the VIP to the host that takes it over (with conntrackSync).
   */
  sourceNat: z.enum(['node', 'vip']).default('node'),
});

/** Replication of the kernel frontends' conntrack entries to the other LB node (Debian's conntrackd, run by kubeha). */
export const conntrackSyncSchema = z.strictObject({
  /** The other LB node's address on the sync link. Default: the only unicast peer of the first VRRP instance. */
  peer: z.string().min(1).optional(),
  /** This node's address on the sync link. Default: that instance's unicastSrcIp. */
  localAddress: z.string().min(1).optional(),
  /** The sync link's interface. Default: that instance's interface. */
  interface: z.string().min(1).optional(),
  port: count(1, 65535).default(CONNTRACKD_DEFAULTS.port),
  conntrackd: z.string().min(1).default(CONNTRACKD_DEFAULTS.conntrackd),
  /** conntrackd's config, control socket, lock and log. */
  runDir: z.string().min(1).default(CONNTRACKD_DEFAULTS.runDir),
});

export const adminSchema = z.strictObject({
  bind: address(true).default(IMPLICIT_ADMIN_BIND),
  /** The write token: reload, the runtime API, maintenance. */
  tokenFile: z.string().optional(),
  /** A read-only token (metrics, state): what Prometheus holds; it cannot drain or reload. */
  readTokenFile: z.string().optional(),
});


export const accessLogSchema = z.strictObject({
  format: z.enum(['text', 'json']).default('text'),
  path: z.string().min(1).optional(),
});

export const globalSchema = z.strictObject({
  shutdownGrace: duration().default(30_000),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /**
   * Where state that must survive a restart is kept (maintenance). Default: systemd's
   * $STATE_DIRECTORY (StateDirectory=kubeha: /var/lib/kubeha), else nothing is kept.
   */
  stateDir: z.string().min(1).optional(),
});

const trackScriptSchema = z.strictObject({
  name,
  command: z.string().min(1),
  interval: duration(10).default(2000),
  timeout: duration(1).default(1000),
  rise: count(1, 100).default(1),
  fall: count(1, 100).default(1),
  weight: z.number().int().min(-254).max(254).default(0),
});

const cidr = z.string().regex(/^[0-9a-fA-F.:]+\/\d{1,3}$/, { message: 'a VIP is an address with a prefix length, like 10.8.4.55/24' });

export const vrrpInstanceSchema = z.strictObject({
  name,
  interface: z.string().min(1),
  virtualRouterId: count(1, 255),
  priority: count(1, 255).default(100),
  version: z.union([z.literal(2), z.literal(3)]).default(3),
  advertInterval: duration(10).default(100),
  preempt: z.boolean().default(true),
  preemptDelay: duration().default(0),
  vips: z.array(cidr).min(1),
  unicastPeers: z.array(z.string()).default([]),
  unicastSrcIp: z.string().optional(),
  authPass: z.string().max(8).default(''),
  garpRepeat: count(0, 100).default(5),
  garpDelay: duration().default(0),
  garpRefresh: duration().default(0),
  garpMasterDelay: duration().default(5000),
  duplicateVip: z
    .strictObject({ policy: z.enum(['warn', 'stepDown']).default('warn'), holdTime: duration(100).default(10_000) })
    .default({ policy: 'warn', holdTime: 10_000 }),
  track: z
    .strictObject({
      backends: z.array(name).default([]),
      backendWeight: z.number().int().min(-254).max(0).default(0),
      scripts: z.array(trackScriptSchema).default([]),
      interfaces: z.array(z.string()).default([]),
    })
    .default({ backends: [], backendWeight: 0, scripts: [], interfaces: [] }),
  notify: z
    .strictObject({ master: z.string().optional(), backup: z.string().optional(), fault: z.string().optional(), timeout: duration(100).default(30_000) })
    .default({ timeout: 30_000 }),
  /** keepalived's vrrp_sync_group: instances naming one group fault together (an IPv4 and an IPv6 VIP move as one). */
  syncGroup: name.optional(),
});

export const vipElectionSchema = z.strictObject({
  etcd: z.array(z.string().regex(/^https?:\/\/[^/]+\/?$/, { message: 'an etcd endpoint is a URL like http://10.8.4.91:2379 or https://...' })).min(1),
  name: name.default('vip'),
  identity: z.string().min(1).optional(),
  ttl: duration(2000).default(5000),
  margin: duration(1).default(1000),
  interface: z.string().min(1),
  vips: z.array(cidr).min(1),
  garpRepeat: count(0, 100).default(5),
  caFile: z.string().optional(),
  certFile: z.string().optional(),
  keyFile: z.string().optional(),
});

/** One BGP neighbour (a top-of-rack router). */
export const bgpPeerSchema = z.strictObject({
  address: z.string().min(1),
  asn: count(1, 4_294_967_295),
  port: count(1, 65535).default(179),
  /** Proposed hold time: 0 (no keepalives) or at least 3s (RFC 4271 §4.2). */
  holdTime: duration().default(9000),
  /** TCP MD5 signature key (RFC 2385); empty: none. */
  password: z.string().max(80).default(''),
  /** eBGP: the TTL of the session's packets (1: directly connected). iBGP uses at least 64. */
  multihop: count(1, 255).default(1),
  /** Wait for the router to connect (to bgp.listenPort) instead of dialling it. */
  passive: z.boolean().default(false),
  /** This side's address for the session; default: the one the kernel picks towards the peer. */
  localAddress: z.string().optional(),
  /** The IPv6 next hop of IPv6 VIPs on this session (RFC 4760); default: a global IPv6 address of the interface the session leaves by. */
  nextHop6: z.string().optional(),
  bfd: z.strictObject({ interval: duration(10).default(100), multiplier: count(1, 255).default(3) }).optional(),
});

/** One VIP announced as a host route. */
export const bgpAnnounceSchema = z.strictObject({
  vip: cidr,
  mode: z.enum(['all-active', 'primary']).default('all-active'),
  /** primary mode: higher wins (MED 255 - priority, LOCAL_PREF = priority on iBGP). */
  priority: count(1, 255).default(100),
  /** eBGP: extra copies of the local AS on the path (a standby announces a longer path). */
  prepend: count(0, 10).default(0),
  track: z.strictObject({ backends: z.array(name).default([]) }).default({ backends: [] }),
  communities: z.array(z.string()).default([]),
});

/** BGP announcement of VIPs to the routers of an L3 fabric. */
export const bgpSchema = z.strictObject({
  localAsn: count(1, 4_294_967_295),
  routerId: z.string().optional(),
  peers: z.array(bgpPeerSchema).min(1),
  announce: z.array(bgpAnnounceSchema).min(1),
  /** Where announced VIPs are added (so frontends can bind them); removed while not announced. */
  interface: z.string().min(1).default('lo'),
  /** The port passive peers connect to. */
  listenPort: count(1, 65535).default(179),
});

export const configSchema = z.strictObject({
  global: globalSchema.default(() => globalSchema.parse({})),
  frontends: z.array(frontendSchema).default([]),
  backends: z.array(backendSchema).default([]),
  admin: adminSchema.optional(),
  accessLog: accessLogSchema.optional(),
  vrrp: z.strictObject({ instances: z.array(vrrpInstanceSchema).default([]) }).optional(),
  vipElection: vipElectionSchema.optional(),
  conntrackSync: conntrackSyncSchema.optional(),
  bgp: bgpSchema.optional(),
});

/** A validated config; every duration in it is in milliseconds. */
export type Config = z.output<typeof configSchema>;
export type FrontendConfig = z.output<typeof frontendSchema>;
export type BackendConfig = z.output<typeof backendSchema>;
export type ServerConfig = z.output<typeof serverSchema>;
export type KubernetesDiscoveryConfig = z.output<typeof kubernetesDiscoverySchema>;
export type HealthCheckConfig = z.output<typeof healthCheckSchema>;
export type VrrpInstanceConfig = z.output<typeof vrrpInstanceSchema>;
export type TrackScriptConfig = z.output<typeof trackScriptSchema>;
export type VipElectionConfig = z.output<typeof vipElectionSchema>;
export type AdminConfig = z.output<typeof adminSchema>;
export type ConntrackSyncConfig = z.output<typeof conntrackSyncSchema>;
export type BgpConfig = z.output<typeof bgpSchema>;
export type BgpPeerConfig = z.output<typeof bgpPeerSchema>;
export type BgpAnnounceConfig = z.output<typeof bgpAnnounceSchema>;
