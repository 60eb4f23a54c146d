import { readFile } from 'node:fs/promises';
import { isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import { isIPv4, isIPv6 } from 'node:net';
import { isLoopbackHost, parseCidr, parseHostPort, parseIpv4Cidr } from './address.js';
import { parseCommunity, parsePrefix } from '../bgp/message.js';
import { canonicalIp } from '../vrrp/packet.js';
import { announcesIpv6 } from '../bgp/announce.js';
import { didYouMean } from './did-you-mean.js';
import { knownKeysAt } from './schema-walk.js';
import { configSchema, type Config } from './schema.js';
import { checkTiming } from '../election/lease-guard.js';
import { resolveConntrackSync } from '../kernel/conntrack-sync.js';
import { kernelHook } from '../kernel/kernel-plane.js';
import type { ConfigProblem, LoadResult } from './problem.js';

export { formatProblem, type ConfigProblem, type LoadResult } from './problem.js';

/** Reads and validates a config file. Never throws: an unreadable file is a problem like any other. */
export async function loadConfigFile(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, problems: [readProblem(file, err)] };
  }
  return parseConfigText(text, file);
}

/** Reads a config file as far as it goes (analyzeConfigText); an unreadable file is its one problem. */
export async function analyzeConfigFile(file: string): Promise<{ text: string; analysis: ConfigAnalysis }> {
  try {
    const text = await readFile(file, 'utf8');
    return { text, analysis: analyzeConfigText(text, file) };
  } catch (err) {
    const problem = readProblem(file, err);
    return { text: '', analysis: { problems: [problem], config: undefined, locate: () => ({ line: 1, col: 1 }), pathInFile: (p) => p, repaired: () => false, written: () => false } };
  }
}

function readProblem(file: string, err: unknown): ConfigProblem {
  const reason = err instanceof Error ? err.message : String(err);
  return { code: 'KUBEHA_ERR_CONFIG_READ', file, line: 1, col: 1, path: '', message: `cannot read the config: ${reason}; check the path and its permissions` };
}

export type Path = (string | number)[];

/** Validates config text (pure: no I/O). `file` is used only to label problems. */
export function parseConfigText(text: string, file: string): LoadResult {
  const a = analyzeConfigText(text, file);
  return a.problems.length === 0 && a.config ? { ok: true, config: a.config } : { ok: false, problems: a.problems };
}

/**
 * A config read as far as it goes (pure: no I/O): every problem of the file in one pass, and the
 * config that validated or, when parts of it did not, the rest of it with those parts left out or
 * at their defaults, so that more checks (the lint rules) can look at the rest in the same pass.
 */
export interface ConfigAnalysis {
  /** Schema and cross-reference problems together, by line. */
  problems: ConfigProblem[];
  /** The validated config, or what is left of it; undefined when the YAML does not parse or nothing is left. */
  config: Config | undefined;
  /** file:line:col of a key path of `config`. */
  locate: Locate;
  /** The key path of `config` as written in the file (they differ once an invalid list item is left out). */
  pathInFile(path: Path): Path;
  /**
   * Whether a key path of `config` lies where an invalid value was dropped or defaulted, or holds
   * such a place: a check there would judge what the user did not write.
   */
  repaired(path: Path): boolean;
  /** Whether the file writes a key path of `config` (rather than leaving it at its default). */
  written(path: Path): boolean;
}

/** Reads config text as far as it goes; see ConfigAnalysis. */
export function analyzeConfigText(text: string, file: string): ConfigAnalysis {
  const a = analyzeYaml(text, file, configSchema, crossCheck, true);
  return { problems: a.problems, config: a.value, locate: a.locate, pathInFile: a.pathInFile, repaired: a.repaired, written: a.written };
}

/** Where a cross-check reports: the problem's code, the key path, and the message. */
export type Locate = (path: Path, preferKey?: string) => { line: number; col: number };

/** What a cross-check of a repaired value is told (see analyzeYaml). */
interface RepairInfo {
  /** The path as written in the file. */
  pathInFile(path: Path): Path;
  /** The path lies where a value was dropped or defaulted, or holds such a place. */
  repaired(path: Path): boolean;
  /** Items and sections left out, with their paths in the file and their values as written. */
  removed: { path: Path; value: unknown }[];
  /** file:line:col of a path as written in the file (of a removed item, say). */
  locateInFile: Locate;
}

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
  const a = analyzeYaml(text, file, schema, crossCheck, false);
  return a.problems.length === 0 && a.value !== undefined ? { ok: true, value: a.value } : { ok: false, problems: a.problems };
}

/**
 * parseYamlWithSchema's work. With `repair`, a value the schema refuses does not stop the
 * cross-checks: the refused values are dropped (a key falls back to its default; a list item or
 * section that cannot stand without it is left out) until the rest validates, and `crossCheck`
 * runs on that, told what was repaired so that it says nothing about what it cannot judge.
 */
function analyzeYaml<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  crossCheck: (value: z.output<S>, file: string, locate: Locate, repair?: RepairInfo) => ConfigProblem[],
  repair: boolean,
): { problems: ConfigProblem[]; value: z.output<S> | undefined; locate: Locate; pathInFile(path: Path): Path; repaired(path: Path): boolean; written(path: Path): boolean } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { line: pos.line, col: pos.col };
  };
  const asWritten = (path: Path) => path;
  const none = { value: undefined, locate: ((path, preferKey) => at(nodeOffset(doc, path, preferKey))) as Locate, pathInFile: asWritten, repaired: () => false, written: (path: Path) => doc.hasIn(path) };
  if (doc.errors.length > 0) {
    return {
      ...none,
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
    return { ...none, problems: [{ code: 'KUBEHA_ERR_CONFIG_YAML', file, ...at(0), path: '', message: `${reason}; fix the anchors and aliases (&name, *name)` }] };
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) {
    const problems = crossCheck(parsed.data, file, none.locate);
    return { ...none, value: parsed.data, problems: sortProblems(problems) };
  }
  const problems = parsed.error.issues.flatMap((issue) => describeIssue(issue, raw, file, none.locate, schema));
  const fixed = repair ? repairValue(raw, schema, parsed.error.issues) : undefined;
  if (!fixed) return { ...none, problems: sortProblems(problems) };
  const locate: Locate = (path, preferKey) => at(nodeOffset(doc, fixed.pathInFile(path), preferKey));
  const more = crossCheck(fixed.value, file, locate, { ...fixed, locateInFile: none.locate });
  return { problems: sortProblems([...problems, ...more]), value: fixed.value, locate, pathInFile: fixed.pathInFile, repaired: fixed.repaired, written: (path) => doc.hasIn(fixed.pathInFile(path)) };
}

/**
 * A frontend with `dataPlane: kernel` is a DNAT rule: it matches one IPv4 address and port, and
 * sends to IPv4 addresses (the kernel resolves no names); the map has no connection counts for leastconn.
 */
function kernelChecks(config: Config, problem: (code: ErrorCode, path: Path, message: string, deps?: Path[]) => void): void {
  config.frontends.forEach((f, i) => {
    if (f.dataPlane !== 'kernel') {
      if (f.sourceNat !== 'node') problem('KUBEHA_ERR_CONFIG_KERNEL', ['frontends', i, 'sourceNat'], `frontend "${f.name}" sets sourceNat, which only a frontend with dataPlane: kernel has (a user-space proxy connects from this host); add dataPlane: kernel or remove sourceNat`);
      return;
    }
    const hp = parseHostPort(f.bind, true);
    if (typeof hp !== 'string') {
      if (!isIPv4(hp.host) || hp.host === '0.0.0.0') problem('KUBEHA_ERR_CONFIG_KERNEL', ['frontends', i, 'bind'], `frontend "${f.name}" has dataPlane: kernel, which matches one IPv4 address, not ${hp.host}; bind the VIP (e.g. 10.8.4.55:6443) or a node-local address (127.0.0.1:7443, 169.254.x.x)`, [['frontends', i, 'dataPlane']]);
      else if (hp.port === 0) problem('KUBEHA_ERR_CONFIG_KERNEL', ['frontends', i, 'bind'], `frontend "${f.name}" has dataPlane: kernel and port 0; the kernel needs the port clients use: write it`, [['frontends', i, 'dataPlane']]);
    }
    if (typeof hp !== 'string' && f.sourceNat === 'vip' && kernelHook(hp.host) === 'output') {
      problem('KUBEHA_ERR_CONFIG_KERNEL', ['frontends', i, 'sourceNat'], `frontend "${f.name}" serves the node's own clients on ${hp.host}, which no other host can take over; sourceNat: vip is for a VIP on LB hosts: remove it`);
    }
    const bi = config.backends.findIndex((b) => b.name === f.backend);
    const b = config.backends[bi];
    if (!b) return;
    if (b.balance === 'leastconn') problem('KUBEHA_ERR_CONFIG_KERNEL', ['backends', bi, 'balance'], `backend "${b.name}" balances leastconn, but frontend "${f.name}" forwards in the kernel, which keeps no connection counts per server; use roundrobin, source or latency`, [['frontends', i, 'dataPlane']]);
    b.servers.forEach((s, j) => {
      const shp = parseHostPort(s.address);
      if (typeof shp !== 'string' && !isIPv4(shp.host)) problem('KUBEHA_ERR_CONFIG_KERNEL', ['backends', bi, 'servers', j, 'address'], `server "${s.name}" of backend "${b.name}" is ${shp.host}, but frontend "${f.name}" forwards in the kernel, which needs an IPv4 address (it resolves no names); write the address`, [['frontends', i, 'dataPlane']]);
    });
  });
}

/**
 * conntrackSync replicates the flows of kernel frontends whose servers answer the VIP: without such
 * a frontend it has nothing to carry over; its addresses come from the config or the VRRP instance.
 */
function conntrackSyncChecks(config: Config, problem: (code: ErrorCode, path: Path, message: string, deps?: Path[]) => void): void {
  if (!config.conntrackSync) return;
  const kernel = config.frontends.filter((f) => f.dataPlane === 'kernel');
  if (!kernel.some((f) => f.sourceNat === 'vip')) {
    problem('KUBEHA_ERR_CONFIG_KERNEL', ['conntrackSync'], kernel.length === 0
      ? 'conntrackSync replicates the flows of frontends with dataPlane: kernel, and there is none; add dataPlane: kernel and sourceNat: vip to the VIP\'s frontend, or remove conntrackSync'
      : `conntrackSync replicates flows, but the servers of ${kernel.map((f) => `"${f.name}"`).join(', ')} answer this node's own address (sourceNat: node), which dies with it; set sourceNat: vip so that the node taking the VIP gets the replies`);
  }
  const resolved = resolveConntrackSync(config, config.conntrackSync);
  if (typeof resolved === 'string') problem('KUBEHA_ERR_CONFIG_KERNEL', ['conntrackSync'], resolved);
  else {
    for (const [key, value] of [['peer', resolved.peer], ['localAddress', resolved.localAddress]] as const) {
      if (!isIPv4(value)) problem('KUBEHA_ERR_CONFIG_KERNEL', config.conntrackSync[key] ? ['conntrackSync', key] : ['conntrackSync'], `conntrackSync ${key} ${value} is not an IPv4 address; conntrackd replicates the IPv4 kernel frontends over IPv4: write one`);
    }
  }
}

/** `a` is `b` or lies inside it. */
function within(a: Path, b: Path): boolean {
  return b.length <= a.length && b.every((step, i) => a[i] === step);
}

/** Orders paths so that deleting in this order never moves one still to delete: deeper first, higher index first. */
function deleteOrder(a: Path, b: Path): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as string | number;
    const y = b[i] as string | number;
    if (x !== y) return typeof x === 'number' && typeof y === 'number' ? y - x : String(y).localeCompare(String(x));
  }
  return b.length - a.length;
}

/**
 * Drops what `schema` refuses in (a copy of) `raw` until the rest validates, in at most a few
 * rounds: a refused value is deleted (its key falls back to the default, a refused list entry
 * goes); a key that cannot be missing takes its list item (or its top-level section) with it.
 * Returns the validated rest, how its paths map back to the file's, and where it was changed.
 */
function repairValue<S extends z.ZodType>(raw: unknown, schema: S, first: z.core.$ZodIssue[]): (Omit<RepairInfo, 'locateInFile'> & { value: z.output<S> }) | undefined {
  const copy: unknown = structuredClone(raw);
  // Each list of the copy keeps the file's index of every item still in it.
  const indexes = new WeakMap<unknown[], number[]>();
  const seen = new WeakSet<object>();
  const index = (v: unknown) => {
    // an alias of its own ancestor (`a: &x [*x]`) makes the value a cycle
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) indexes.set(v, v.map((_, i) => i));
    Object.values(v).forEach(index);
  };
  index(copy);
  const pathInFile = (path: Path): Path => {
    let node: unknown = copy;
    return path.map((step) => {
      const list = Array.isArray(node) ? node : undefined;
      node = node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[step] : undefined;
      return list && typeof step === 'number' ? (indexes.get(list)?.[step] ?? step) : step;
    });
  };
  const zones: Path[] = [];
  const removed: { path: Path; value: unknown }[] = [];
  let issues = first;
  for (let round = 0; round < 6; round++) {
    const targets: Path[] = [];
    const unknownKeys = new Set<string>();
    for (const issue of issues) {
      const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      if (issue.code === 'unrecognized_keys') {
        // An unknown key changes nothing else of its mapping; only the key it was likely meant as.
        for (const key of issue.keys) {
          targets.push([...path, key]);
          unknownKeys.add(JSON.stringify([...path, key]));
          const guess = didYouMean(key, knownKeysAt(path, schema));
          if (guess) zones.push([...pathInFile(path), guess]);
        }
        continue;
      }
      if (path.length > 0 && valueAt(copy, path) !== undefined) {
        targets.push(path);
        continue;
      }
      // Missing and required: the list item holding it goes, or else its top-level section.
      let item = path.length - 1;
      while (item >= 0 && typeof path[item] !== 'number') item--;
      if (item >= 0) targets.push(path.slice(0, item + 1));
      else if (path.length > 0) targets.push(path.slice(0, 1));
      else return undefined;
    }
    const unique = [...new Map(targets.map((t) => [JSON.stringify(t), t])).values()].sort(deleteOrder);
    const found = unique.map((t) => ({ target: t, inFile: pathInFile(t), value: valueAt(copy, t), unknownKey: unknownKeys.has(JSON.stringify(t)) }));
    for (const { target, inFile, value, unknownKey } of found) {
      const parent = valueAt(copy, target.slice(0, -1));
      const last = target[target.length - 1] as string | number;
      if (Array.isArray(parent) && typeof last === 'number') {
        parent.splice(last, 1);
        indexes.get(parent)?.splice(last, 1);
      } else if (parent !== null && typeof parent === 'object') delete (parent as Record<string, unknown>)[last];
      else continue;
      if (unknownKey) continue;
      // Checks name what they read (the key paths they depend on), so the dropped path is enough.
      zones.push(inFile);
      if (typeof last === 'number' || inFile.length === 1) removed.push({ path: inFile, value });
    }
    const again = schema.safeParse(copy);
    if (again.success) {
      // A path is repaired when it lies in a changed place or holds one (a check of the whole mapping).
      const repaired = (path: Path) => {
        const p = pathInFile(path);
        return zones.some((z) => within(p, z) || within(z, p));
      };
      return { value: again.data, pathInFile, removed, repaired };
    }
    issues = again.error.issues;
  }
  return undefined;
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
function vrrpChecks(config: Config, problem: (code: ErrorCode, path: Path, message: string, deps?: Path[]) => void): void {
  const vrids = new Map<string, number>();
  config.vrrp?.instances.forEach((inst, i) => {
    const at = (...rest: (string | number)[]): Path => ['vrrp', 'instances', i, ...rest];
    const family = parseCidr(inst.vips[0] ?? '')?.family ?? 4;
    const ipName = family === 6 ? 'IPv6' : 'IPv4';
    // RFC 5798 §5.2.3: the VRID spaces of IPv4 and IPv6 are separate (keepalived allows both on one interface).
    const key = `${inst.interface}/${family}/${inst.virtualRouterId}`;
    const first = vrids.get(key);
    if (first !== undefined) {
      problem('KUBEHA_ERR_CONFIG_VRRP', at('virtualRouterId'), `virtualRouterId ${inst.virtualRouterId} on ${inst.interface} is already used by ${ipName} instance "${config.vrrp?.instances[first]?.name}"; two instances with one VRID on one segment fight over it — give each its own`);
    } else vrids.set(key, i);
    inst.vips.forEach((v, j) => {
      const parsed = parseCidr(v);
      if (!parsed) problem('KUBEHA_ERR_CONFIG_VRRP', at('vips', j), `VIP "${v}" is not an address with a prefix length; write it like 10.8.4.55/24 or fd00:8:4::55/64`);
      else if (parsed.family !== family) problem('KUBEHA_ERR_CONFIG_VRRP', at('vips', j), `VIP ${v} is ${parsed.family === 6 ? 'IPv6' : 'IPv4'} but the instance's first VIP is ${ipName}: one instance carries one address family (as keepalived's); put the other family's VIPs in an instance of their own and give both one syncGroup to move them together`);
    });
    if (family === 6 && inst.version === 2) problem('KUBEHA_ERR_CONFIG_VRRP', at('version'), 'VRRPv2 is IPv4 only (RFC 3768); IPv6 VIPs need version: 3', [at('vips')]);
    const sameFamily = (ip: string) => (family === 6 ? isIPv6(ip) && !ip.includes('%') : isIPv4(ip));
    inst.unicastPeers.forEach((peer, j) => {
      if (!sameFamily(peer)) problem('KUBEHA_ERR_CONFIG_VRRP', at('unicastPeers', j), `unicast peer "${peer}" is not an ${ipName} address (the VIPs are ${ipName}); list the peers' own addresses (not the VIP)`);
      if (inst.vips.some((v) => v.split('/')[0] === peer)) problem('KUBEHA_ERR_CONFIG_VRRP', at('unicastPeers', j), `unicast peer ${peer} is one of the VIPs; list the peers' own addresses`);
    });
    if (inst.unicastSrcIp !== undefined && !sameFamily(inst.unicastSrcIp)) problem('KUBEHA_ERR_CONFIG_VRRP', at('unicastSrcIp'), `unicastSrcIp "${inst.unicastSrcIp}" is not an ${ipName} address (the VIPs are ${ipName})`);
    if (inst.version === 3 && inst.authPass) problem('KUBEHA_ERR_CONFIG_VRRP', at('authPass'), 'VRRPv3 has no authentication (RFC 5798 removed it), so authPass would be ignored; remove it or set version: 2', [at('version')]);
    if (inst.version === 2 && inst.advertInterval % 1000 !== 0) problem('KUBEHA_ERR_CONFIG_VRRP', at('advertInterval'), `VRRPv2 carries the advert interval in whole seconds, so ${inst.advertInterval}ms cannot be sent; use 1s, 2s, ... or version: 3 for sub-second adverts`, [at('version')]);
    if (inst.version === 3 && inst.advertInterval > 40_950) problem('KUBEHA_ERR_CONFIG_VRRP', at('advertInterval'), 'VRRPv3 carries the advert interval in 12 bits of centiseconds, at most 40.95s; use a shorter interval', [at('version')]);
    const weighted = inst.track.scripts.some((sc) => sc.weight !== 0) || inst.track.backendWeight !== 0;
    if (inst.priority === 255 && weighted) problem('KUBEHA_ERR_CONFIG_VRRP', at('priority'), 'priority 255 marks the address owner, which track weights never change (keepalived does the same); use 254 or less so the weights can move the VIP', [at('track')]);
  });
}

/** Whether the codec can announce `vip` as a host route (an IPv4 /32 or an IPv6 /128). */
function isHostRoute(vip: string): boolean {
  try {
    const p = parsePrefix(vip);
    return p.length === (p.family === 6 ? 128 : 32);
  } catch {
    return false;
  }
}

/** Whether the codec can send `c` as an RFC 1997 community. */
function isCommunity(c: string): boolean {
  try {
    parseCommunity(c);
    return true;
  } catch {
    return false;
  }
}

/** BGP settings that parse but cannot work with a router. */
function bgpChecks(config: Config, problem: (code: ErrorCode, path: Path, message: string, deps?: Path[]) => void): void {
  const bgp = config.bgp;
  if (!bgp) return;
  const code = 'KUBEHA_ERR_CONFIG_BGP';
  if (bgp.routerId !== undefined && (!isIPv4(bgp.routerId) || bgp.routerId === '0.0.0.0')) problem(code, ['bgp', 'routerId'], `routerId "${bgp.routerId}" is not a non-zero IPv4 address (RFC 6286); use this node's own address, or leave it out to use the one facing the first peer`);
  const seen = new Map<string, number>();
  bgp.peers.forEach((p, i) => {
    const at = (...rest: (string | number)[]): Path => ['bgp', 'peers', i, ...rest];
    if (!isIPv4(p.address)) problem(code, at('address'), `peer address "${p.address}" is not an IPv4 address (BGP over IPv6 is not supported yet); write the router's address, like 10.8.4.1`);
    const first = seen.get(p.address);
    if (first !== undefined) problem(code, at('address'), `peer ${p.address} is already listed as peer ${first + 1}; one session per router`);
    else seen.set(p.address, i);
    if (p.holdTime !== 0 && (p.holdTime < 3000 || p.holdTime % 1000 !== 0)) problem(code, at('holdTime'), `holdTime ${p.holdTime}ms cannot be sent: BGP carries whole seconds, 0 or at least 3 (RFC 4271 §4.2); use 3s or more (9s is the default), or 0 for no keepalives`);
    if (p.holdTime > 65_535_000) problem(code, at('holdTime'), 'holdTime is at most 65535s');
    if (p.localAddress !== undefined && !isIPv4(p.localAddress)) problem(code, at('localAddress'), `localAddress "${p.localAddress}" is not an IPv4 address`);
    if (p.nextHop6 !== undefined && (!isIPv6(p.nextHop6) || p.nextHop6.includes('%') || /^(fe[89ab]|ff|::1?$)/i.test(p.nextHop6))) problem(code, at('nextHop6'), `nextHop6 "${p.nextHop6}" is not a global IPv6 address; write this node's own IPv6 address on the link to the router, like 2001:db8::11`);
    if (p.nextHop6 !== undefined && !announcesIpv6(bgp.announce)) problem(code, at('nextHop6'), 'nextHop6 is the next hop of IPv6 VIPs, and no announce entry is IPv6; remove it or announce an IPv6 /128');
    if (p.bfd && p.multihop > 1 && p.asn !== bgp.localAsn) problem(code, at('bfd'), `BFD here is single hop (RFC 5881), but this eBGP peer is multihop ${p.multihop}; remove bfd or multihop`, [at('multihop')]);
    if (Buffer.byteLength(p.password) > 80) problem(code, at('password'), 'a TCP MD5 key is at most 80 bytes (TCP_MD5SIG_MAXKEYLEN)');
  });
  config.vrrp?.instances.forEach((inst, i) => {
    if (inst.name === 'bgp') problem(code, ['vrrp', 'instances', i, 'name'], 'with bgp: configured, `kubeha maintenance --instance bgp` means the BGP speaker; give this VRRP instance another name');
  });
  if (config.vipElection?.name === 'bgp') problem(code, ['vipElection', 'name'], 'with bgp: configured, `kubeha maintenance --instance bgp` means the BGP speaker; give the VIP election another name');
  const vrrpVips = new Set(config.vrrp?.instances.flatMap((i) => i.vips.map((v) => v.split('/')[0])) ?? []);
  const electionVips = new Set(config.vipElection?.vips.map((v) => v.split('/')[0]) ?? []);
  bgp.announce.forEach((a, i) => {
    const at = (...rest: (string | number)[]): Path => ['bgp', 'announce', i, ...rest];
    const ip = a.vip.split('/')[0] ?? '';
    if (!isHostRoute(a.vip)) problem(code, at('vip'), `vip "${a.vip}" is not a host route; announce the VIP as a /32 (like 10.8.4.55/32) or an IPv6 /128 (like 2001:db8::55/128)`);
    // canonicalIp leaves IPv4 as it is: only an IPv6 VIP written another way is refused
    else if (canonicalIp(ip) !== ip) problem(code, at('vip'), `write the IPv6 VIP in its RFC 5952 form, ${canonicalIp(ip)}/128, as routers and the state API show it`);
    if (vrrpVips.has(ip) || electionVips.has(ip)) problem(code, at('vip'), `VIP ${ip} is also floated by ${vrrpVips.has(ip) ? 'a vrrp instance' : 'vipElection'}; on a routed fabric announce it with BGP only, on one L2 segment float it with VRRP only`);
    if (bgp.announce.findIndex((b) => b.vip === a.vip) !== i) problem(code, at('vip'), `vip ${a.vip} is announced twice; list it once`);
    if (a.mode === 'all-active' && a.prepend > 0) problem(code, at('prepend'), 'prepend makes this node\'s path longer, so with mode all-active the routers would stop spreading traffic over every node (ECMP needs equal paths); use mode: primary or remove prepend', [at('mode')]);
    a.communities.forEach((c, j) => {
      if (!isCommunity(c)) problem(code, at('communities', j), `community "${c}" is not ASN:VALUE with each part 0-65535 (RFC 1997), like 64512:100`);
    });
  });
}

function article(expected: string): string {
  const words: Record<string, string> = { number: 'a number', string: 'a string', boolean: 'true or false', array: 'a list', object: 'a mapping' };
  return words[expected] ?? expected;
}

/** Checks that span keys: names unique, references resolved, nothing defined for nothing. */
function crossCheck(config: Config, file: string, locate: Locate, repair?: RepairInfo): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  /** A problem at `path`; of a repaired config, only when neither it nor what it depends on (`deps`) was repaired. */
  const problem = (code: ErrorCode, path: Path, message: string, deps: Path[] = []) => {
    if (repair && [path, ...deps].some((p) => repair.repaired(p))) return;
    problems.push({ code, file, ...locate(path), path: pathText(repair?.pathInFile(path) ?? path), message });
  };
  // Names of the items left out of a repaired config, as written; undefined: the whole list went.
  const removedNames = (list: 'frontends' | 'backends', key: 'name' | 'backend'): Set<unknown> | undefined => {
    const gone = repair?.removed.filter((r) => r.path[0] === list) ?? [];
    if (gone.some((r) => r.path.length === 1)) return undefined;
    return new Set(gone.filter((r) => r.path.length === 2).map((r) => (r.value as Record<string, unknown> | null)?.[key]));
  };
  const removedBackends = removedNames('backends', 'name');
  const removedFrontendTargets = removedNames('frontends', 'backend');

  const unique = (items: { name: string }[], base: Path, what: string) => {
    type Entry = { name: string; index: number; line: () => number; report: (message: string) => void };
    const present: Entry[] = items.map((item, i) => {
      const path = [...base, i, 'name'];
      return { name: item.name, index: Number((repair?.pathInFile([...base, i]) ?? [i]).at(-1)), line: () => locate(path).line, report: (m) => problem('KUBEHA_ERR_CONFIG_DUPLICATE_NAME', path, m) };
    });
    // Items left out of a repaired config still have their names as written (at their own lines).
    const baseInFile = repair?.pathInFile(base) ?? base;
    const left: Entry[] = (repair?.removed ?? []).flatMap((r) => {
      const name = (r.value as { name?: unknown } | null)?.name;
      if (r.path.length !== baseInFile.length + 1 || !within(r.path, baseInFile) || typeof name !== 'string') return [];
      const at = repair!.locateInFile([...r.path, 'name']);
      return [{ name, index: Number(r.path.at(-1)), line: () => at.line, report: (m) => problems.push({ code: 'KUBEHA_ERR_CONFIG_DUPLICATE_NAME', file, ...at, path: pathText([...r.path, 'name']), message: m }) }];
    });
    const seen = new Map<string, Entry>();
    for (const e of [...present, ...left].sort((a, b) => a.index - b.index)) {
      const first = seen.get(e.name);
      if (first) e.report(`${what} name "${e.name}" is already used at line ${first.line()}; give each ${what} its own name`);
      else seen.set(e.name, e);
    }
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
    if (backendNames.includes(name) || !removedBackends || removedBackends.has(name)) return;
    const guess = didYouMean(name, backendNames);
    problem('KUBEHA_ERR_CONFIG_UNKNOWN_BACKEND', path, `${who} backend "${name}", which is not defined; ${guess ? `did you mean "${guess}"?` : otherwise}`);
  };
  config.frontends.forEach((f, i) => backendRef(f.backend, ['frontends', i, 'backend'], `frontend "${f.name}" uses`, 'define it under backends:'));
  config.vrrp?.instances.forEach((inst, i) =>
    inst.track.backends.forEach((b, j) =>
      backendRef(b, ['vrrp', 'instances', i, 'track', 'backends', j], `VRRP instance "${inst.name}" tracks`, 'define it under backends: or remove the track')),
  );
  vrrpChecks(config, problem);
  kernelChecks(config, problem);
  conntrackSyncChecks(config, problem);
  config.bgp?.announce.forEach((a, i) =>
    a.track.backends.forEach((b, j) => backendRef(b, ['bgp', 'announce', i, 'track', 'backends', j], `BGP announcement of ${a.vip} tracks`, 'define it under backends: or remove the track')),
  );
  bgpChecks(config, problem);
  const used = new Set(config.frontends.map((f) => f.backend));
  config.backends.forEach((b, i) => {
    if (!used.has(b.name) && removedFrontendTargets && !removedFrontendTargets.has(b.name)) problem('KUBEHA_ERR_CONFIG_UNUSED_BACKEND', ['backends', i, 'name'], `backend "${b.name}" is not used by any frontend; add a frontend with "backend: ${b.name}" or remove the backend`);
  });
  if (config.admin && !config.admin.tokenFile) {
    const hp = parseHostPort(config.admin.bind, true);
    if (typeof hp !== 'string' && !isLoopbackHost(hp.host)) {
      problem('KUBEHA_ERR_CONFIG_ADMIN_TOKEN', ['admin', 'bind'], `admin.bind ${config.admin.bind} is reachable from other hosts, and without a token anyone there could reload the config; set admin.tokenFile or bind to 127.0.0.1`, [['admin', 'tokenFile']]);
    }
  }
  if (!repair && config.frontends.length === 0 && (config.vrrp?.instances.length ?? 0) === 0 && !config.vipElection && !config.bgp) {
    problem('KUBEHA_ERR_CONFIG_EMPTY', [], 'the config has no frontends, no vrrp instances, no vipElection and no bgp, so there is nothing to run; add a frontend (see examples/)');
  }
  const ve = config.vipElection;
  if (ve) {
    const timing = checkTiming({ ttlMs: ve.ttl, marginMs: ve.margin });
    if (timing) problem('KUBEHA_ERR_CONFIG_ELECTION', ['vipElection', 'margin'], `${timing}; the defaults (ttl 5s, margin 1s) work`, [['vipElection', 'ttl']]);
    const vrrpVips = new Set(config.vrrp?.instances.flatMap((i) => i.vips.map((v) => v.split('/')[0])) ?? []);
    ve.vips.forEach((v, j) => {
      const ip = v.split('/')[0] ?? '';
      if (!parseIpv4Cidr(v)) problem('KUBEHA_ERR_CONFIG_ELECTION', ['vipElection', 'vips', j], `VIP "${v}" is not an IPv4 address with a prefix length; write it like 10.8.4.55/24`);
      if (vrrpVips.has(ip)) problem('KUBEHA_ERR_CONFIG_ELECTION', ['vipElection', 'vips', j], `VIP ${ip} is also managed by a vrrp instance; let one of them own it`);
    });
  }
  return problems;
}
