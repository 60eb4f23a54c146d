// What the lint rules see: parsed files, typed views of each config language, and the facts of
// the host that some rules need (files, interfaces), passed in so the rules stay pure.
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../config/duration.js';
import { child, findAll, parseBraced, parseHaproxy, type ConfTree, type Directive } from './conf-tree.js';

/** The config languages the linter reads. */
export type ConfKind = 'keepalived' | 'haproxy' | 'nginx' | 'kubeconfig';

/** One file given to `kubeha lint`. */
export interface LintFile {
  path: string;
  kind: ConfKind;
  text: string;
  tree: ConfTree;
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
  if (/keepalived/i.test(base)) return 'keepalived';
  if (/haproxy/i.test(base)) return 'haproxy';
  if (/nginx/i.test(base)) return 'nginx';
  if (/kubeconfig|\.kubeconfig$/i.test(base)) return 'kubeconfig';
  if (/^\s*vrrp_instance\b/m.test(text)) return 'keepalived';
  if (/^(frontend|backend|listen)\s+\S+\s*$/m.test(text)) return 'haproxy';
  if (/^\s*(stream|http|events)\s*\{/m.test(text)) return 'nginx';
  if (/^kind:\s*Config\s*$/m.test(text)) return 'kubeconfig';
  return undefined;
}

/** Parses a file of a known kind. */
export function lintFile(path: string, kind: ConfKind, text: string): LintFile {
  const tree = kind === 'haproxy' ? parseHaproxy(text) : kind === 'kubeconfig' ? { directives: [], problems: [] } : parseBraced(text, kind);
  return { path, kind, text, tree };
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
  weight: number;
}

/** What a script does: its command line and, for a program given by path, that file's text. */
export function scriptText(s: KaScript, host: HostFacts): string {
  return `${s.command}\n${s.program.startsWith('/') ? host.readFile(s.program) ?? '' : ''}`;
}

const num = (d: Directive | undefined) => (d?.args[0] !== undefined ? Number(d.args[0]) : undefined);
export { num as directiveNumber };

/** The instances of every keepalived file. */
export function kaInstances(ctx: LintContext): KaInstance[] {
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
    })));
}

/** The vrrp_scripts of every keepalived file. */
export function kaScripts(ctx: LintContext): KaScript[] {
  return ctx.files.filter((f) => f.kind === 'keepalived').flatMap((f) =>
    findAll(f.tree.directives, 'vrrp_script').map((d) => {
      const script = child(d, 'script');
      const command = script?.args.join(' ') ?? '';
      return { file: f.path, directive: d, name: d.args[0] ?? '', line: d.line, script, command, program: command.split(/\s+/)[0] ?? '', weight: num(child(d, 'weight')) ?? 0 };
    }));
}

/** A haproxy proxy section with its settings resolved against the defaults section before it. */
export interface HapProxy {
  file: string;
  kind: 'frontend' | 'backend' | 'listen';
  name: string;
  line: number;
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
        file: f.path, kind: s.name, name: s.args[0] ?? '', line: s.line,
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
