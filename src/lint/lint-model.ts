// What the lint rules see: parsed files, typed views of each config language, and the facts of
// the host that some rules need (files, interfaces), passed in so the rules stay pure.
import { parse as parseYaml } from 'yaml';
import { isIPv6 } from 'node:net';
import { inSubnet, parseCidr, parseIpv4Cidr } from '../config/address.js';
import { addressRank } from '../vrrp/packet.js';
import { parseDuration } from '../config/duration.js';
import { analyzeConfigText, type ConfigAnalysis } from '../config/load.js';
import { child, findAll, parseBraced, parseHaproxy, type ConfTree, type Directive } from './conf-tree.js';

/** The config languages the linter reads. */
export type ConfKind = 'keepalived' | 'haproxy' | 'nginx' | 'kubeconfig' | 'kubeha';

/** The two contexts nginx proxies in: `http { }` (L7, terminates TLS) and `stream { }` (L4). */
export type NginxContext = 'http' | 'stream';

/** One file given to `kubeha lint`. */
export interface LintFile {
  path: string;
  kind: ConfKind;
  text: string;
  tree: ConfTree;
  /**
   * For an nginx snippet (no http/stream block of its own), the context its top level is included
   * in (`--nginx-context`); undefined: http, as the official image includes conf.d/*.conf.
   */
  nginxContext?: NginxContext;
  /** For kubeha.yaml: the file as kubeha's own loader reads it (its problems, and the config for the rules). */
  kubeha?: ConfigAnalysis;
}

/** A finding: `file:line: severity code: what is wrong; why it breaks HA; the fix`. */
export interface Finding {
  file: string;
  line: number;
  severity: 'error' | 'warning';
  code: string;
  what: string;
  why: string;
  fix: string;
}

/** Facts of the machine the linter runs on (tests pass their own). */
export interface HostFacts {
  exists(path: string): boolean;
  executable(path: string): boolean;
  readFile(path: string): string | undefined;
  /** CIDRs on interface `name` here, or undefined when this host has no such interface. */
  interfaceCidrs(name: string): string[] | undefined;
  /** Addresses of this host (an apiserver "on this host" listens on one of them). */
  localAddresses(): string[];
  /**
   * True for a host that knows nothing of the machine (NEUTRAL_HOST: `kubeha check` without
   * `--host`, `kubeha lint --no-host`): rules that would report something absent skip.
   */
  neutral?: boolean;
}

/** Host facts that know nothing: every file present and executable, no interface, no address. */
export const NEUTRAL_HOST: HostFacts = {
  exists: () => true,
  executable: () => true,
  readFile: () => undefined,
  interfaceCidrs: () => undefined,
  localAddresses: () => [],
  neutral: true,
};

/** The IPv4 subnets of interface `iface` on this host; undefined when the host does not know it. */
export function ipv4Subnets(host: HostFacts, iface: string): string[] | undefined {
  return host.interfaceCidrs(iface)?.filter((c) => c.includes('.'));
}

/** The subnets of `iface` of the family of `ip`: IPv4 ones, or IPv6 ones without the link-local fe80::/10 (every interface has one). */
export function subnetsFor(host: HostFacts, iface: string, ip: string): string[] | undefined {
  if (!ip.includes(':')) return ipv4Subnets(host, iface);
  return host.interfaceCidrs(iface)?.filter((c) => c.includes(':') && !/^fe[89ab]/i.test(c));
}

/** What is wrong with a program a script runs (its first word, when it is a path), or undefined. */
export function programProblem(program: string, host: HostFacts): 'does not exist' | 'is not executable' | undefined {
  if (!program.startsWith('/')) return undefined;
  if (!host.exists(program)) return 'does not exist';
  return host.executable(program) ? undefined : 'is not executable';
}

/** Everything a rule gets. */
export interface LintContext {
  files: LintFile[];
  host: HostFacts;
}

/** One lint rule; its `code` is stable and documented. */
export interface Rule {
  code: string;
  check(ctx: LintContext): Finding[];
}

/** Guesses the language of a file from its name, then its content. */
export function detectKind(path: string, text: string): ConfKind | undefined {
  const base = path.split('/').pop() ?? path;
  if (/^kubeha.*\.ya?ml$/i.test(base)) return 'kubeha';
  if (/keepalived/i.test(base)) return 'keepalived';
  if (/haproxy/i.test(base)) return 'haproxy';
  if (/nginx/i.test(base)) return 'nginx';
  if (/kubeconfig|\.kubeconfig$/i.test(base)) return 'kubeconfig';
  if (/^\s*(vrrp_instance|virtual_server|virtual_server_group)\b/m.test(text)) return 'keepalived';
  if (/^(frontend|backend|listen)\s+\S+\s*$/m.test(text)) return 'haproxy';
  // a conf.d snippet has no http/stream block: its top level is upstream, server or location
  if (/^\s*(stream|http|events|server|upstream\s+\S+|location\s[^{]*)\s*\{/m.test(text)) return 'nginx';
  if (/^kind:\s*Config\s*$/m.test(text)) return 'kubeconfig';
  // kubeha.yaml under another name: YAML with kubeha's own top-level sections
  if (/^(frontends|backends|vrrp|admin|vipElection):/m.test(text)) return 'kubeha';
  return undefined;
}

/** Parses a file of a known kind; `nginxContext` says where an nginx snippet is included. */
export function lintFile(path: string, kind: ConfKind, text: string, options: { nginxContext?: NginxContext } = {}): LintFile {
  if (kind === 'kubeha') return { path, kind, text, tree: { directives: [], problems: [] }, kubeha: analyzeConfigText(text, path) };
  const tree = kind === 'haproxy' ? parseHaproxy(text) : kind === 'kubeconfig' ? { directives: [], problems: [] } : parseBraced(text, kind);
  return { path, kind, text, tree, ...(kind === 'nginx' && options.nginxContext ? { nginxContext: options.nginxContext } : {}) };
}

/** Whether `ip` lies in `cidr` (`10.0.0.11/24`, `fd00::11/64`: the host bits of the CIDR are ignored); never across families. */
export function insideCidr(ip: string, cidr: string): boolean {
  if (ip.includes(':')) {
    const net = parseCidr(cidr);
    if (!net || net.family !== 6 || !isIPv6(ip)) return false;
    const shift = BigInt(128 - net.prefix);
    return addressRank(ip) >> shift === addressRank(net.ip) >> shift;
  }
  const net = parseIpv4Cidr(cidr, true);
  return !!net && inSubnet(ip, net.ip, net.prefix);
}

/** A keepalived vrrp_instance, as the rules need it. */
export interface KaInstance {
  file: string;
  directive: Directive;
  name: string;
  line: number;
  state: string | undefined;
  iface: Directive | undefined;
  vrid: Directive | undefined;
  priority: Directive | undefined;
  nopreempt: Directive | undefined;
  authPass: Directive | undefined;
  unicastSrcIp: Directive | undefined;
  unicastPeers: Directive[];
  vips: Directive[];
  trackScripts: Directive[];
  /** The instance's address family: keepalived takes it from the first VIP (IPv6 means VRRPv3). */
  family: 4 | 6;
  /** The vrrp_sync_group that lists the instance, if any. */
  syncGroup: string | undefined;
}

/** A keepalived vrrp_sync_group and the instance names its `group { }` block lists. */
export interface KaSyncGroup {
  file: string;
  name: string;
  line: number;
  members: Directive[];
}

/** The vrrp_sync_groups of every keepalived file. */
export function kaSyncGroups(ctx: LintContext): KaSyncGroup[] {
  return ctx.files.filter((f) => f.kind === 'keepalived').flatMap((f) =>
    findAll(f.tree.directives, 'vrrp_sync_group').map((d) => ({ file: f.path, name: d.args[0] ?? '', line: d.line, members: child(d, 'group')?.children ?? [] })));
}

/** A keepalived vrrp_script. */
export interface KaScript {
  file: string;
  directive: Directive;
  name: string;
  line: number;
  script: Directive | undefined;
  /** The `script` line as keepalived runs it, and its program (first word). */
  command: string;
  program: string;
  /** keepalived.conf(5) `weight <-253..253> [reverse]`: 0 when not written. */
  weight: number;
  reverse: boolean;
}

/** What a script does: its command line and, for a program given by path, that file's text. */
export function scriptText(s: KaScript, host: HostFacts): string {
  return `${s.command}\n${s.program.startsWith('/') ? host.readFile(s.program) ?? '' : ''}`;
}

const num = (d: Directive | undefined) => (d?.args[0] !== undefined ? Number(d.args[0]) : undefined);
export { num as directiveNumber };

/** The instances of every keepalived file. */
export function kaInstances(ctx: LintContext): KaInstance[] {
  const groupOf = new Map(kaSyncGroups(ctx).flatMap((g) => g.members.map((m) => [m.name, g.name] as const)));
  return ctx.files.filter((f) => f.kind === 'keepalived').flatMap((f) =>
    findAll(f.tree.directives, 'vrrp_instance').map((d) => ({
      file: f.path,
      directive: d,
      name: d.args[0] ?? '',
      line: d.line,
      state: child(d, 'state')?.args[0],
      iface: child(d, 'interface'),
      vrid: child(d, 'virtual_router_id'),
      priority: child(d, 'priority'),
      nopreempt: child(d, 'nopreempt'),
      authPass: child(d, 'authentication') ? child(child(d, 'authentication')!, 'auth_pass') : undefined,
      unicastSrcIp: child(d, 'unicast_src_ip'),
      unicastPeers: child(d, 'unicast_peer')?.children ?? [],
      vips: child(d, 'virtual_ipaddress')?.children ?? [],
      trackScripts: child(d, 'track_script')?.children ?? [],
      family: (child(d, 'virtual_ipaddress')?.children[0]?.name.includes(':') ? 6 : 4) as 4 | 6,
      syncGroup: groupOf.get(d.args[0] ?? ''),
    })));
}

/** The vrrp_scripts of every keepalived file. */
export function kaScripts(ctx: LintContext): KaScript[] {
  return ctx.files.filter((f) => f.kind === 'keepalived').flatMap((f) =>
    findAll(f.tree.directives, 'vrrp_script').map((d) => {
      const script = child(d, 'script');
      const command = script?.args.join(' ') ?? '';
      const w = kaWeight(child(d, 'weight')?.args ?? []);
      return { file: f.path, directive: d, name: d.args[0] ?? '', line: d.line, script, command, program: command.split(/\s+/)[0] ?? '', weight: w.weight ?? 0, reverse: w.reverse ?? false };
    }));
}

/** `<-253..253> [reverse|noreverse]`, the words after `weight`; undefined where not written. */
function kaWeight(args: string[]): { weight: number | undefined; reverse: boolean | undefined } {
  const n = args[0] !== undefined && /^[-+]?\d+$/.test(args[0]) ? Number(args[0]) : undefined;
  return { weight: n, reverse: args.includes('reverse') ? true : args.includes('noreverse') ? false : undefined };
}

/** One thing a vrrp_instance tracks, with the weight keepalived applies to it. */
export interface KaTrack {
  kind: 'script' | 'interface' | 'file';
  name: string;
  /** The entry's line in the instance's track_script / track_interface / track_file block. */
  line: number;
  /**
   * keepalived.conf(5): the weight written on the entry, else (scripts and files) the one of the
   * vrrp_script / track_file block, else 0. 0: FAULT while it fails; > 0: added to the priority
   * while it passes; < 0: added while it fails.
   */
  weight: number;
  /** `reverse`: "the direction of the adjustment of the priority is reversed" (`weight 0 reverse`: FAULT while it passes). */
  reverse: boolean;
  /** The vrrp_script a script entry names (undefined when none is defined). */
  script: KaScript | undefined;
  /** The track_file block a file entry names. */
  fileBlock: Directive | undefined;
}

/** What `i` tracks: its track_script, track_interface and track_file entries, weights resolved. */
export function kaTracks(ctx: LintContext, i: KaInstance): KaTrack[] {
  const scripts = kaScripts(ctx).filter((s) => s.file === i.file);
  const top = ctx.files.find((f) => f.path === i.file)?.tree.directives ?? [];
  const files = top.filter((d) => (d.name === 'track_file' || d.name === 'vrrp_track_file') && d.block);
  const entries = (block: string) => child(i.directive, block)?.children ?? [];
  return [
    ...entries('track_script').map((e) => {
      const script = scripts.find((s) => s.name === e.name);
      const own = kaWeight(e.args.slice(e.args[0] === 'weight' ? 1 : 0));
      return { kind: 'script' as const, name: e.name, line: e.line, weight: own.weight ?? script?.weight ?? 0, reverse: own.reverse ?? script?.reverse ?? false, script, fileBlock: undefined };
    }),
    ...entries('track_interface').map((e) => {
      const own = kaWeight(e.args.slice(e.args[0] === 'weight' ? 1 : 0));
      return { kind: 'interface' as const, name: e.name, line: e.line, weight: own.weight ?? 0, reverse: own.reverse ?? false, script: undefined, fileBlock: undefined };
    }),
    ...entries('track_file').map((e) => {
      const fileBlock = files.find((f) => f.args[0] === e.name);
      const def = kaWeight(fileBlock ? child(fileBlock, 'weight')?.args ?? [] : []);
      const own = kaWeight(e.args.slice(e.args[0] === 'weight' ? 1 : 0));
      // keepalived.conf(5) track_file: "file to track (weight defaults to 1)"
      return { kind: 'file' as const, name: e.name, line: e.line, weight: own.weight ?? def.weight ?? 1, reverse: own.reverse ?? def.reverse ?? false, script: undefined, fileBlock };
    }),
  ];
}

/**
 * How far a failing track puts this node below a peer whose same track passes: |weight| (a
 * positive weight is no longer added, a negative one is); `fault` for weight 0 (keepalived.conf(5):
 * "0 is the default behaviour which means that a failure implies a FAULT state"); undefined for a
 * reversed track, which moves the priority the other way.
 */
export function kaTrackDrop(t: KaTrack): number | 'fault' | undefined {
  // a track_file with a weight adds the file's value times the weight: no fixed amount
  if (t.reverse || (t.kind === 'file' && t.weight !== 0)) return undefined;
  return t.weight === 0 ? 'fault' : Math.abs(t.weight);
}

/** keepalived.conf(5) "healthcheckers": the checker blocks a real_server may hold. */
const KA_CHECKERS = new Set(['HTTP_GET', 'SSL_GET', 'TCP_CHECK', 'SMTP_CHECK', 'DNS_CHECK', 'MISC_CHECK', 'BFD_CHECK', 'UDP_CHECK', 'PING_CHECK', 'FILE_CHECK']);

/** A real_server of a keepalived virtual_server. */
export interface KaRealServer {
  directive: Directive;
  ip: string;
  /** The port written, else the virtual server's. */
  port: number | undefined;
  /** `weight` as written (keepalived's default is 1). */
  weight: number | undefined;
  /** The forwarding method: its own lvs_method, else the virtual server's. */
  method: string;
  /** Its health checkers (TCP_CHECK, SSL_GET, HTTP_GET, MISC_CHECK, ...). */
  checkers: Directive[];
}

/**
 * A keepalived virtual_server (LVS), with the old keyword names (lb_algo, lb_kind) and the new
 * (lvs_sched, lvs_method) read alike, and keepalived's defaults filled in.
 */
export interface KaVirtualServer {
  file: string;
  directive: Directive;
  line: number;
  /** How findings and notes name it: `virtual_server 10.0.0.100 6443`. */
  label: string;
  /** `virtual_server IP [PORT]`; both undefined for the `fwmark N` and `group NAME` forms. */
  ip: string | undefined;
  port: number | undefined;
  /** lvs_sched / lb_algo; keepalived's default is wlc (IPVS_DEF_SCHED). */
  scheduler: { value: string; line: number; written: boolean };
  /** lvs_method / lb_kind, upper-cased; keepalived's default is NAT. */
  method: { value: string; line: number; written: boolean };
  /** protocol, upper-cased; TCP by default. */
  protocol: string;
  persistenceTimeout: Directive | undefined;
  sorryServer: Directive | undefined;
  realServers: KaRealServer[];
}

/** `IP [PORT]` of a virtual_server or real_server; both undefined for the fwmark/group forms. */
function ipPort(args: string[]): { ip: string | undefined; port: number | undefined } {
  if (args[0] === undefined || args[0] === 'fwmark' || args[0] === 'group') return { ip: undefined, port: undefined };
  return { ip: args[0], port: args[1] !== undefined && /^\d+$/.test(args[1]) ? Number(args[1]) : undefined };
}

/** The virtual_servers of every keepalived file (virtual_server_group blocks are not read). */
export function kaVirtualServers(ctx: LintContext): KaVirtualServer[] {
  return ctx.files.filter((f) => f.kind === 'keepalived').flatMap((f) =>
    findAll(f.tree.directives, 'virtual_server').filter((d) => d.block).map((d) => {
      const { ip, port } = ipPort(d.args);
      const setting = (names: string[], fallback: string) => {
        const w = names.map((n) => child(d, n)).find((x) => x?.args[0] !== undefined);
        return { value: w?.args[0] ?? fallback, line: w?.line ?? d.line, written: !!w };
      };
      const method = setting(['lvs_method', 'lb_kind'], 'NAT');
      return {
        file: f.path, directive: d, line: d.line, label: ['virtual_server', ...d.args].join(' '), ip, port,
        scheduler: setting(['lvs_sched', 'lb_algo'], 'wlc'),
        method: { ...method, value: method.value.toUpperCase() },
        protocol: (child(d, 'protocol')?.args[0] ?? 'TCP').toUpperCase(),
        persistenceTimeout: child(d, 'persistence_timeout'),
        sorryServer: child(d, 'sorry_server'),
        realServers: d.children.filter((c) => c.name === 'real_server').map((rs) => {
          const own = ipPort(rs.args);
          const ownMethod = (child(rs, 'lvs_method') ?? child(rs, 'lb_kind'))?.args[0] ?? method.value;
          return {
            directive: rs, ip: own.ip ?? '', port: own.port ?? port, weight: num(child(rs, 'weight')),
            method: ownMethod.toUpperCase(), checkers: rs.children.filter((c) => KA_CHECKERS.has(c.name)),
          };
        }),
      };
    }));
}

/** A haproxy proxy section with its settings resolved against the defaults section before it. */
export interface HapProxy {
  file: string;
  kind: 'frontend' | 'backend' | 'listen';
  name: string;
  line: number;
  /** The section itself, and the defaults section it inherits from (the last one before it). */
  directive: Directive;
  defaults: Directive | undefined;
  mode: { value: string; line: number };
  timeouts: Map<string, { ms: number; line: number }>;
  binds: Directive[];
  servers: Directive[];
  options: Directive[];
  defaultServer: Directive | undefined;
  defaultBackend: string | undefined;
  balance: string | undefined;
}

/**
 * A duration of haproxy or nginx in milliseconds: a number with a unit (kubeha's own forms, plus
 * haproxy's `us`), or a bare number counted in `bareUnitMs` (haproxy: ms, nginx: s).
 */
export function configDurationMs(text: string | undefined, bareUnitMs: number): number | undefined {
  if (text === undefined) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * bareUnitMs;
  if (/^\d+us$/.test(text)) return Number(text.slice(0, -2)) / 1000;
  return parseDuration(text);
}

/** haproxy durations: milliseconds without a unit. */
export const haproxyMs = (text: string | undefined) => configDurationMs(text, 1);
/** nginx durations: seconds without a unit. */
export const nginxMs = (text: string | undefined) => configDurationMs(text, 1000);

/** Every frontend/backend/listen of every haproxy file. */
export function hapProxies(ctx: LintContext): HapProxy[] {
  const out: HapProxy[] = [];
  for (const f of ctx.files.filter((x) => x.kind === 'haproxy')) {
    let defaults: Directive | undefined;
    for (const s of f.tree.directives) {
      if (s.name === 'defaults') {
        defaults = s;
        continue;
      }
      if (s.name !== 'frontend' && s.name !== 'backend' && s.name !== 'listen') continue;
      const pick = (name: string) => s.children.filter((c) => c.name === name);
      const modeD = pick('mode')[0] ?? defaults?.children.find((c) => c.name === 'mode');
      const timeouts = new Map<string, { ms: number; line: number }>();
      for (const src of [defaults, s]) for (const t of src?.children.filter((c) => c.name === 'timeout') ?? []) {
        const ms = haproxyMs(t.args[1]);
        if (t.args[0] && ms !== undefined) timeouts.set(t.args[0], { ms, line: t.line });
      }
      out.push({
        file: f.path, kind: s.name, name: s.args[0] ?? '', line: s.line, directive: s, defaults,
        // haproxy's own default mode is tcp
        mode: { value: modeD?.args[0] ?? 'tcp', line: modeD?.line ?? s.line },
        timeouts, binds: pick('bind'), servers: pick('server'), options: pick('option'),
        defaultServer: pick('default-server')[0] ?? defaults?.children.find((c) => c.name === 'default-server'),
        defaultBackend: pick('default_backend')[0]?.args[0] ?? pick('use_backend')[0]?.args[0],
        balance: (pick('balance')[0] ?? defaults?.children.find((c) => c.name === 'balance'))?.args[0],
      });
    }
  }
  return out;
}

/** Port of `host:port` (or `*:port`, `:port`, `[v6]:port`). */
export function portOf(addr: string | undefined): number | undefined {
  const m = /:(\d+)$/.exec(addr ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Ports an apiserver listens on in the layouts the guides use. */
export const APISERVER_PORTS = new Set([6443, 8443, 16443]);

/** Whether a haproxy proxy is in front of apiservers: it binds or targets an apiserver port. */
export function isApiserverProxy(p: HapProxy, all: HapProxy[]): boolean {
  const targets = (x: HapProxy) => x.servers.some((s) => APISERVER_PORTS.has(portOf(s.args[1]) ?? 0));
  if (targets(p) || p.binds.some((b) => APISERVER_PORTS.has(portOf(b.args[0]) ?? 0))) return true;
  const be = all.find((x) => x.file === p.file && x.name === p.defaultBackend && x.kind === 'backend');
  return !!be && targets(be);
}

/** The apiserver's insecure port: plain HTTP, no authentication (Kubernetes 1.20 removed it). */
export const APISERVER_INSECURE_PORT = 8080;

const WILDCARD_HOSTS = new Set(['', '*', '0.0.0.0', '::']);

/**
 * The host and port a haproxy `bind` address or an nginx `listen` names; host `*` for every
 * wildcard form (`*:443`, `:443`, `0.0.0.0:443`, `[::]:443`, `:::443`, nginx's bare `443`).
 */
export function listenAddress(text: string): { host: string; port: number } | undefined {
  const addr = text.replace(/^(ipv4|ipv6)@/, '');
  if (/^\d+$/.test(addr)) return { host: '*', port: Number(addr) };
  const m = /^(.*):(\d+)$/.exec(addr);
  if (!m) return undefined;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  return { host: WILDCARD_HOSTS.has(host) ? '*' : host, port: Number(m[2]) };
}

/** One http or stream context of an nginx file: its directives and the upstreams defined in it. */
export interface NginxBlock {
  file: string;
  context: NginxContext;
  /** The file's top level is the context (a conf.d snippet), not an http/stream block in it. */
  snippet: boolean;
  directives: Directive[];
  upstreams: Map<string, Directive>;
}

const SNIPPET_TOP_LEVEL = new Set(['server', 'upstream', 'location']);

/**
 * The http and stream contexts of every nginx file. A file with http/stream blocks is read as
 * written; a snippet (a conf.d file whose top level has server, upstream or location, included
 * inside http { } by the main nginx.conf, as the official image does) is one context: the file's
 * `nginxContext`, else http.
 */
export function nginxBlocks(files: LintFile[]): NginxBlock[] {
  const block = (file: LintFile, context: NginxContext, snippet: boolean, directives: Directive[]): NginxBlock => ({
    file: file.path, context, snippet, directives,
    upstreams: new Map(directives.filter((d) => d.name === 'upstream').map((u) => [u.args[0] ?? '', u])),
  });
  return files.filter((f) => f.kind === 'nginx').flatMap((f) => {
    const top = f.tree.directives;
    if (top.some((d) => d.name === 'http' || d.name === 'stream')) {
      return (['http', 'stream'] as const).flatMap((context) => findAll(top, context).map((b) => block(f, context, false, b.children)));
    }
    return top.some((d) => SNIPPET_TOP_LEVEL.has(d.name)) ? [block(f, f.nginxContext ?? 'http', true, top)] : [];
  });
}

/** The `server` lines of an nginx upstream block. */
export function upstreamServers(upstream: Directive): Directive[] {
  return upstream.children.filter((c) => c.name === 'server');
}

/** What a proxy_pass names, without its scheme and URI: an upstream's name or host:port. */
export function proxyPassTarget(pass: Directive): string {
  return (pass.args[0] ?? '').replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
}

/** The addresses a proxy_pass sends to: the servers of the upstream it names, or the address it gives. */
export function proxyPassAddresses(block: NginxBlock, pass: Directive): string[] {
  const upstream = block.upstreams.get(proxyPassTarget(pass));
  return upstream ? upstreamServers(upstream).map((s) => s.args[0] ?? '') : [proxyPassTarget(pass)];
}

/** Servers of a kubeconfig file. */
export function kubeconfigServers(f: LintFile): { server: string; line: number }[] {
  try {
    const doc = parseYaml(f.text) as { clusters?: { cluster?: { server?: string } }[] };
    const lines = f.text.split('\n');
    return (doc.clusters ?? []).flatMap((c) => {
      const server = c.cluster?.server;
      if (!server) return [];
      const idx = lines.findIndex((l) => l.includes(server));
      return [{ server, line: idx + 1 }];
    });
  } catch {
    return [];
  }
}

/** A finding builder for one rule. */
export function finding(code: string, severity: Finding['severity'], file: string, line: number, what: string, why: string, fix: string): Finding {
  return { code, severity, file, line, what, why, fix };
}
