import { readFile } from 'node:fs/promises';
import { isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import { isIPv4 } from 'node:net';
import { isLoopbackHost, parseHostPort, parseIpv4Cidr } from './address.js';
import { didYouMean } from './did-you-mean.js';
import { knownKeysAt } from './schema-walk.js';
import { configSchema, type Config } from './schema.js';
import { checkTiming } from '../election/lease-guard.js';

/** One thing wrong with a config file, located at file:line:col. */
export interface ConfigProblem {
  code: ErrorCode;
  file: string;
  line: number;
  col: number;
  /** The key path, e.g. `backends[0].servers[1].address`. */
  path: string;
  /** What is wrong and what to do about it. */
  message: string;
}

/** The outcome of loading a config: a validated Config, or every problem found. */
export type LoadResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

/** `file:line:col: message [CODE]`, the form editors and CI logs link to. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message} [${p.code}]`;
}

/** Reads and validates a config file. Never throws: an unreadable file is a problem like any other. */
export async function loadConfigFile(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      problems: [{ code: 'KUBEHA_ERR_CONFIG_READ', file, line: 1, col: 1, path: '', message: `cannot read the config: ${reason}; check the path and its permissions` }],
    };
  }
  return parseConfigText(text, file);
}

export type Path = (string | number)[];

/** Validates config text (pure: no I/O). `file` is used only to label problems. */
export function parseConfigText(text: string, file: string): LoadResult {
  const r = parseYamlWithSchema(text, file, configSchema, crossCheck);
  return r.ok ? { ok: true, config: r.value } : r;
}

/** Where a cross-check reports: the problem's code, the key path, and the message. */
export type Locate = (path: Path, preferKey?: string) => { line: number; col: number };

/**
 * Parses YAML `text`, validates it against a zod `schema`, then runs `crossCheck` on the result;
 * every problem is located at file:line:col. Shared by the config and the planner's inventory.
 */
export function parseYamlWithSchema<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  crossCheck: (value: z.output<S>, file: string, locate: Locate) => ConfigProblem[],
): { ok: true; value: z.output<S> } | { ok: false; problems: ConfigProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { line: pos.line, col: pos.col };
  };
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => ({
        code: 'KUBEHA_ERR_CONFIG_YAML' as const,
        file,
        ...at(e.pos[0]),
        path: '',
        message: `${e.message.split('\n')[0]}; fix the YAML syntax here`,
      })),
    };
  }
  let raw: unknown;
  try {
    // Aliases resolve here: an unknown one, or too many (a "billion laughs" file), throws.
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, problems: [{ code: 'KUBEHA_ERR_CONFIG_YAML', file, ...at(0), path: '', message: `${reason}; fix the anchors and aliases (&name, *name)` }] };
  }
  const parsed = schema.safeParse(raw);
  const locate: Locate = (path, preferKey) => at(nodeOffset(doc, path, preferKey));
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => describeIssue(issue, raw, file, locate, schema));
    return { ok: false, problems: sortProblems(problems) };
  }
  const problems = crossCheck(parsed.data, file, locate);
  return problems.length > 0 ? { ok: false, problems: sortProblems(problems) } : { ok: true, value: parsed.data };
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.col - b.col);
}

function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Offset of the YAML node at `path` (or of `preferKey`'s key inside it), else of its nearest ancestor. */
function nodeOffset(doc: Document, path: Path, preferKey?: string): number {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  const steps: Path = preferKey === undefined ? path : [...path, preferKey];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as string | number;
    if (!isNode(node) || !('items' in node)) break;
    const items = (node as { items: unknown[] }).items;
    let next: unknown;
    if (typeof step === 'number') {
      next = items[step];
    } else if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === step);
      if (pair && isPair(pair)) {
        const isLast = i === steps.length - 1;
        // For the last step point at the key when asked for it (unknown keys), else at the value.
        const target = isLast && preferKey !== undefined ? pair.key : (pair.value ?? pair.key);
        if (isNode(target) && target.range) offset = target.range[0];
        node = pair.value;
        continue;
      }
    }
    if (!isNode(next)) break;
    if (next.range) offset = next.range[0];
    node = next;
  }
  return offset;
}

function valueAt(raw: unknown, path: Path): unknown {
  let v = raw;
  for (const step of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[step];
  }
  return v;
}

function describeIssue(
  issue: z.core.$ZodIssue,
  raw: unknown,
  file: string,
  locate: Locate,
  schema: unknown,
): ConfigProblem[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const where = pathText(path);
  const label = where === '' ? 'the config' : `"${where}"`;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeysAt(path, schema);
      return issue.keys.map((key) => {
        const guess = didYouMean(key, known);
        const fix = guess ? `did you mean "${guess}"?` : `known keys here: ${known.join(', ')}`;
        return { code: 'KUBEHA_ERR_CONFIG_UNKNOWN_KEY' as const, file, ...locate(path, key), path: pathText([...path, key]), message: `unknown key "${key}" in ${where === '' ? 'the top level' : where}; ${fix}` };
      });
    }
    case 'invalid_type': {
      const value = valueAt(raw, path);
      if (value === undefined) {
        const parent = path.slice(0, -1);
        return [{ code: 'KUBEHA_ERR_CONFIG_MISSING_KEY', file, ...locate(parent), path: where, message: `missing required key "${String(path[path.length - 1])}" in ${parent.length ? pathText(parent) : 'the top level'}; add it (see docs/configuration.md)` }];
      }
      const got = Array.isArray(value) ? 'a list' : value === null ? 'null' : typeof value === 'object' ? 'a mapping' : `${typeof value} ${JSON.stringify(value)}`;
      return [{ code: 'KUBEHA_ERR_CONFIG_TYPE', file, ...locate(path), path: where, message: `${label} must be ${article(issue.expected)}, not ${got}; change the value` }];
    }
    case 'invalid_value': {
      const value = valueAt(raw, path);
      const options = issue.values.map((v) => String(v));
      const guess = typeof value === 'string' ? didYouMean(value, options) : undefined;
      return [{ code: 'KUBEHA_ERR_CONFIG_TYPE', file, ...locate(path), path: where, message: `${label} is ${JSON.stringify(value)}, which is not one of ${options.join(' | ')}; ${guess ? `did you mean "${guess}"?` : 'pick one of them'}` }];
    }
    case 'invalid_union': {
      const value = valueAt(raw, path);
      return [{ code: 'KUBEHA_ERR_CONFIG_TYPE', file, ...locate(path), path: where, message: `${label} is ${JSON.stringify(value)}, which is not allowed here; see docs/configuration.md for the accepted values` }];
    }
    case 'custom': {
      const code = ((issue.params as { kubeha?: ErrorCode } | undefined)?.kubeha ?? 'KUBEHA_ERR_CONFIG_TYPE') as ErrorCode;
      return [{ code, file, ...locate(path), path: where, message: `${label}: ${issue.message}` }];
    }
    default:
      return [{ code: 'KUBEHA_ERR_CONFIG_TYPE', file, ...locate(path), path: where, message: `${label}: ${issue.message}; change the value` }];
  }
}

/** VRRP settings that parse but cannot work on the wire or with keepalived peers. */
function vrrpChecks(config: Config, problem: (code: ErrorCode, path: Path, message: string) => void): void {
  const vrids = new Map<string, number>();
  config.vrrp?.instances.forEach((inst, i) => {
    const at = (...rest: (string | number)[]): Path => ['vrrp', 'instances', i, ...rest];
    const key = `${inst.interface}/${inst.virtualRouterId}`;
    const first = vrids.get(key);
    if (first !== undefined) {
      problem('KUBEHA_ERR_CONFIG_VRRP', at('virtualRouterId'), `virtualRouterId ${inst.virtualRouterId} on ${inst.interface} is already used by instance "${config.vrrp?.instances[first]?.name}"; two instances with one VRID on one segment fight over it — give each its own`);
    } else vrids.set(key, i);
    inst.vips.forEach((v, j) => {
      if (!parseIpv4Cidr(v)) problem('KUBEHA_ERR_CONFIG_VRRP', at('vips', j), `VIP "${v}" is not an IPv4 address with a prefix length (IPv6 VRRP is not supported yet); write it like 10.8.4.55/24`);
    });
    inst.unicastPeers.forEach((peer, j) => {
      if (!isIPv4(peer)) problem('KUBEHA_ERR_CONFIG_VRRP', at('unicastPeers', j), `unicast peer "${peer}" is not an IPv4 address; list the peers' own addresses (not the VIP)`);
      if (inst.vips.some((v) => v.split('/')[0] === peer)) problem('KUBEHA_ERR_CONFIG_VRRP', at('unicastPeers', j), `unicast peer ${peer} is one of the VIPs; list the peers' own addresses`);
    });
    if (inst.unicastSrcIp !== undefined && !isIPv4(inst.unicastSrcIp)) problem('KUBEHA_ERR_CONFIG_VRRP', at('unicastSrcIp'), `unicastSrcIp "${inst.unicastSrcIp}" is not an IPv4 address`);
    if (inst.version === 3 && inst.authPass) problem('KUBEHA_ERR_CONFIG_VRRP', at('authPass'), 'VRRPv3 has no authentication (RFC 5798 removed it), so authPass would be ignored; remove it or set version: 2');
    if (inst.version === 2 && inst.advertInterval % 1000 !== 0) problem('KUBEHA_ERR_CONFIG_VRRP', at('advertInterval'), `VRRPv2 carries the advert interval in whole seconds, so ${inst.advertInterval}ms cannot be sent; use 1s, 2s, ... or version: 3 for sub-second adverts`);
    if (inst.version === 3 && inst.advertInterval > 40_950) problem('KUBEHA_ERR_CONFIG_VRRP', at('advertInterval'), 'VRRPv3 carries the advert interval in 12 bits of centiseconds, at most 40.95s; use a shorter interval');
    const weighted = inst.track.scripts.some((sc) => sc.weight !== 0) || inst.track.backendWeight !== 0;
    if (inst.priority === 255 && weighted) problem('KUBEHA_ERR_CONFIG_VRRP', at('priority'), 'priority 255 marks the address owner, which track weights never change (keepalived does the same); use 254 or less so the weights can move the VIP');
  });
}

function article(expected: string): string {
  const words: Record<string, string> = { number: 'a number', string: 'a string', boolean: 'true or false', array: 'a list', object: 'a mapping' };
  return words[expected] ?? expected;
}

/** Checks that span keys: names unique, references resolved, nothing defined for nothing. */
function crossCheck(config: Config, file: string, locate: (path: Path, preferKey?: string) => { line: number; col: number }): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const problem = (code: ErrorCode, path: Path, message: string) => problems.push({ code, file, ...locate(path), path: pathText(path), message });

  const unique = (items: { name: string }[], base: Path, what: string) => {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const first = seen.get(item.name);
      if (first !== undefined) {
        const firstLine = locate([...base, first, 'name']).line;
        problem('KUBEHA_ERR_CONFIG_DUPLICATE_NAME', [...base, i, 'name'], `${what} name "${item.name}" is already used at line ${firstLine}; give each ${what} its own name`);
      } else seen.set(item.name, i);
    });
  };
  unique(config.frontends, ['frontends'], 'frontend');
  unique(config.backends, ['backends'], 'backend');
  config.backends.forEach((b, i) => unique(b.servers, ['backends', i, 'servers'], 'server'));
  unique(config.vrrp?.instances ?? [], ['vrrp', 'instances'], 'VRRP instance');

  const binds = new Map<string, number>();
  config.frontends.forEach((f, i) => {
    const first = binds.get(f.bind);
    if (first !== undefined && !f.bind.endsWith(':0')) {
      problem('KUBEHA_ERR_CONFIG_DUPLICATE_NAME', ['frontends', i, 'bind'], `bind ${f.bind} is already used by frontend "${config.frontends[first]?.name}"; give each frontend its own address or port`);
    } else binds.set(f.bind, i);
  });

  const backendNames = config.backends.map((b) => b.name);
  const backendRef = (name: string, path: Path, who: string, otherwise: string) => {
    if (backendNames.includes(name)) return;
    const guess = didYouMean(name, backendNames);
    problem('KUBEHA_ERR_CONFIG_UNKNOWN_BACKEND', path, `${who} backend "${name}", which is not defined; ${guess ? `did you mean "${guess}"?` : otherwise}`);
  };
  config.frontends.forEach((f, i) => backendRef(f.backend, ['frontends', i, 'backend'], `frontend "${f.name}" uses`, 'define it under backends:'));
  config.vrrp?.instances.forEach((inst, i) =>
    inst.track.backends.forEach((b, j) =>
      backendRef(b, ['vrrp', 'instances', i, 'track', 'backends', j], `VRRP instance "${inst.name}" tracks`, 'define it under backends: or remove the track')),
  );
  vrrpChecks(config, problem);
  const used = new Set(config.frontends.map((f) => f.backend));
  config.backends.forEach((b, i) => {
    if (!used.has(b.name)) problem('KUBEHA_ERR_CONFIG_UNUSED_BACKEND', ['backends', i, 'name'], `backend "${b.name}" is not used by any frontend; add a frontend with "backend: ${b.name}" or remove the backend`);
  });
  if (config.admin && !config.admin.tokenFile) {
    const hp = parseHostPort(config.admin.bind, true);
    if (typeof hp !== 'string' && !isLoopbackHost(hp.host)) {
      problem('KUBEHA_ERR_CONFIG_ADMIN_TOKEN', ['admin', 'bind'], `admin.bind ${config.admin.bind} is reachable from other hosts, and without a token anyone there could reload the config; set admin.tokenFile or bind to 127.0.0.1`);
    }
  }
  if (config.frontends.length === 0 && (config.vrrp?.instances.length ?? 0) === 0 && !config.vipElection) {
    problem('KUBEHA_ERR_CONFIG_EMPTY', [], 'the config has no frontends, no vrrp instances and no vipElection, so there is nothing to run; add a frontend (see examples/)');
  }
  const ve = config.vipElection;
  if (ve) {
    const timing = checkTiming({ ttlMs: ve.ttl, marginMs: ve.margin });
    if (timing) problem('KUBEHA_ERR_CONFIG_ELECTION', ['vipElection', 'margin'], `${timing}; the defaults (ttl 5s, margin 1s) work`);
    const vrrpVips = new Set(config.vrrp?.instances.flatMap((i) => i.vips.map((v) => v.split('/')[0])) ?? []);
    ve.vips.forEach((v, j) => {
      const ip = v.split('/')[0] ?? '';
      if (!parseIpv4Cidr(v)) problem('KUBEHA_ERR_CONFIG_ELECTION', ['vipElection', 'vips', j], `VIP "${v}" is not an IPv4 address with a prefix length; write it like 10.8.4.55/24`);
      if (vrrpVips.has(ip)) problem('KUBEHA_ERR_CONFIG_ELECTION', ['vipElection', 'vips', j], `VIP ${ip} is also managed by a vrrp instance; let one of them own it`);
    });
  }
  return problems;
}
