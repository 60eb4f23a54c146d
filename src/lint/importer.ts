// `kubeha import`: keepalived.conf (VRRP and LVS virtual servers) + haproxy.cfg or nginx.conf → the
// equivalent kubeha.yaml, so a running pair can migrate. Pure: parsed files in, a config object and
// notes out. What has no equivalent becomes a note, printed as comments at the top of the file.
import { isIPv4 } from 'node:net';
import { stringify } from 'yaml';
import { formatHostPort } from '../config/address.js';
import { formatDuration } from '../config/duration.js';
import { child, findAll, type Directive } from './conf-tree.js';
import { describeCheck, hapCheck, onlyConnects, TLS_ONLY_PORTS, type HapCheck, type HapServerCheck } from './haproxy-check.js';
import {
  APISERVER_PORTS, directiveNumber, haproxyMs, hapProxies, kaInstances, kaTracks, kaVirtualServers, listenAddress, nginxBlocks, nginxMs, portOf, upstreamServers,
  type HapProxy, type KaInstance, type KaRealServer, type KaTrack, type KaVirtualServer, type LintContext,
} from './lint-model.js';
import { weakTracks } from './rules/keepalived-weight-gap.js';

/** The imported config and what could not be carried over. */
export interface Imported {
  config: Record<string, unknown>;
  notes: string[];
}

/** A frontend as the importer writes it. */
interface ImportedFrontend {
  name: string;
  bind: string;
  backend: string;
  /** An LVS NAT virtual_server forwards in the kernel, as it did under keepalived. */
  dataPlane?: 'kernel';
}

const ms = (n: number) => formatDuration(n);
const safeName = (s: string, fallback: string) => (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(s) ? s : s.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '') || fallback);

/** Converts the parsed files (at most one LB config) into a kubeha config. */
export function importConfigs(ctx: LintContext): Imported {
  const notes: string[] = [];
  const config: Record<string, unknown> = { global: { shutdownGrace: '30s' } };
  const lb = importHaproxy(ctx, notes) ?? importNginx(ctx, notes);
  const lvs = importVirtualServers(ctx, notes, (lb?.frontends ?? []) as ImportedFrontend[]);
  const backends = [...(lb?.backends ?? []), ...lvs.backends];
  if (lb || lvs.frontends.length > 0) Object.assign(config, { frontends: [...(lb?.frontends ?? []), ...lvs.frontends], backends, admin: { bind: '127.0.0.1:9000' } });
  const backendNames = (backends as { name: string }[]).map((b) => b.name);
  const instances = importKeepalived(ctx, notes, backendNames);
  if (instances.length > 0) config.vrrp = { instances };
  return { config, notes };
}

/** The YAML text: notes as comments, then the config. */
export function importedYaml(imported: Imported, sources: string[]): string {
  const head = [`# Imported by kubeha import from ${sources.join(', ')}.`, '# Check it with: kubeha check --config THIS_FILE', ...imported.notes.map((n) => `# NOTE: ${n}`)];
  return `${head.join('\n')}\n${stringify(imported.config)}`;
}

/** What the notes say of a check of a port that is no apiserver's that only connects. */
const TCP_ONLY_NOTE = 'checks with TCP connects only, and so does kubeha (healthCheck.type: tcp); for an apiserver on another port, check GET /readyz over HTTPS (healthCheck: { type: https, path: /readyz })';

/**
 * The type of an imported HTTP check of `port`. Plain HTTP to a port that speaks only TLS fails
 * every check (the apiserver answers "client sent an HTTP request to an HTTPS server"), and kubeha
 * would mark every apiserver down, so such a check is imported as https, with a note.
 */
function httpCheckType(tls: boolean, port: number | undefined, subject: string, notes: string[]): 'http' | 'https' {
  if (tls) return 'https';
  if (!TLS_ONLY_PORTS.has(port ?? 0)) return 'http';
  notes.push(`${subject} checks port ${port} with plain HTTP, but that port speaks only TLS: the original check could never pass; it was imported as an https check`);
  return 'https';
}

function importHaproxy(ctx: LintContext, notes: string[]): { frontends: unknown[]; backends: unknown[] } | undefined {
  const proxies = hapProxies(ctx);
  if (proxies.length === 0) return undefined;
  const frontends: unknown[] = [];
  const backends: Record<string, unknown>[] = [];
  const serverless = (name: string | undefined) => !proxies.some((x) => x.name === name && x.kind !== 'frontend' && x.servers.length > 0);
  for (const p of proxies) {
    if (p.kind === 'listen' && p.servers.length === 0) {
      notes.push(`haproxy listen ${p.name} has no servers (a stats page?) and was not imported; kubeha's admin server has /metrics, /api/v1/state and a dashboard`);
      continue;
    }
    if (p.kind === 'frontend' && serverless(p.defaultBackend)) {
      notes.push(`haproxy frontend ${p.name} leads to no backend with servers and was not imported`);
      continue;
    }
    if (p.mode.value !== 'tcp') notes.push(`haproxy ${p.kind} ${p.name} is mode ${p.mode.value}; kubeha is an L4 (tcp) proxy, so it was imported as tcp`);
    if (p.kind === 'frontend' || p.kind === 'listen') {
      const backend = p.kind === 'listen' ? p.name : p.defaultBackend;
      if (!backend) continue;
      const binds = p.binds.flatMap((b) => {
        const addr = b.args[0] ?? '';
        const port = portOf(addr);
        const host = addr.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
        return port ? [{ host: host === '' || host === '*' ? '0.0.0.0' : host, port }] : [];
      });
      // `bind *:P` with `bind :::P v6only` is haproxy's dual stack; kubeha's `[::]:P` listens on both
      // families at once (and could not share P with a 0.0.0.0 listener), so the pair becomes one.
      const dualStack = new Set(binds.filter((b) => b.host === '::' && binds.some((o) => o.host === '0.0.0.0' && o.port === b.port)).map((b) => b.port));
      if (dualStack.size > 0) notes.push(`haproxy ${p.kind} ${p.name}: the IPv4 and IPv6 wildcard binds of port ${[...dualStack].join(', ')} became one dual-stack bind [::]`);
      const kept = binds.filter((b) => !(dualStack.has(b.port) && b.host === '0.0.0.0'));
      for (const b of kept) {
        const host = dualStack.has(b.port) ? '[::]' : b.host.includes(':') ? `[${b.host}]` : b.host;
        frontends.push({ name: safeName(kept.length > 1 ? `${p.name}-${b.port}${b.host.includes(':') && !dualStack.has(b.port) ? '-6' : ''}` : p.name, 'frontend'), bind: `${host}:${b.port}`, backend: safeName(backend, 'backend') });
      }
    }
    if ((p.kind === 'backend' || p.kind === 'listen') && p.servers.length > 0) backends.push(haproxyBackend(p, notes));
  }
  return { frontends, backends: backends.filter((b) => frontends.some((f) => (f as { backend: string }).backend === b.name)) };
}

/**
 * Why an apiserver is checked at /readyz whatever path the source checked (/healthz, /livez, /,
 * /version): kubeha's front door exists to drain an apiserver before it goes away, and /readyz is
 * the one endpoint that fails as soon as a kube-apiserver starts its graceful shutdown
 * (--shutdown-delay-duration) or loses etcd, while /healthz (deprecated since Kubernetes 1.16) and
 * /livez keep answering 200 until the listener closes, and / and most API paths answer an
 * unauthenticated check with 403. Keeping /healthz would carry the old config's defect over
 * (new connections sent to an apiserver that is about to close them); a note says what changed
 * and how to get the old path back (healthCheck.path).
 */
const APISERVER_CHECK_PATH = '/readyz';

/** The note for an apiserver check whose path the import changes to /readyz (see APISERVER_CHECK_PATH). */
function apiserverPath(subject: string, path: string | undefined, notes: string[]): string {
  if (path === undefined || path.startsWith(APISERVER_CHECK_PATH)) return path ?? APISERVER_CHECK_PATH;
  notes.push(`${subject}: the apiserver is checked at ${APISERVER_CHECK_PATH}, not ${path}: ${APISERVER_CHECK_PATH} fails as soon as an apiserver starts shutting down or loses etcd, while /healthz and /livez answer 200 until it is gone (and / answers an anonymous check with 403); set healthCheck.path: ${path} to keep the old path`);
  return APISERVER_CHECK_PATH;
}

/** The note for an apiserver check that only connected (TCP or TLS), imported as HTTPS /readyz. */
function connectOnlyNote(subject: string, what: string, notes: string[]): void {
  notes.push(`${subject} checked its apiservers with ${what}, which pass while an apiserver cannot reach etcd and during its whole shutdown delay; kubeha checks HTTPS GET ${APISERVER_CHECK_PATH} instead (healthCheck: { type: https, path: ${APISERVER_CHECK_PATH} })`);
}

/** HTTP status codes in use (IANA registry), to write `http-check expect status 200-399` as a short list. */
const STATUS_CODES = [100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451,
  500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511];

/** The expectStatus of an httpchk's expect rule; undefined when kubeha's default (200) is what it meant or it matches no status. */
function expectStatus(c: HapCheck, subject: string, notes: string[]): number[] | undefined {
  const e = c.expect;
  if (!e) return undefined;
  const line = `http-check expect ${e.negate ? '! ' : ''}${e.match} ${e.pattern}`.trim();
  if (!e.statuses) {
    notes.push(`${subject}: "${line}" (line ${e.line}) matches more than the status, which kubeha does not check; it expects status 200 (healthCheck.expectStatus)`);
    return undefined;
  }
  const codes = e.statuses.filter((x) => STATUS_CODES.includes(x));
  return codes.length === 1 && codes[0] === 200 ? undefined : codes.length > 0 ? codes : undefined;
}

/** The healthCheck of a haproxy backend: what haproxy really ran (haproxy-check.ts), apiserver ports checked at HTTPS /readyz. */
function haproxyHealthCheck(p: HapProxy, c: HapCheck, notes: string[]): Record<string, unknown> {
  const subject = `haproxy ${p.kind} ${p.name}`;
  const checked = c.servers.filter((x) => x.checked);
  const s: HapServerCheck | undefined = checked[0] ?? c.servers[0];
  if (checked.length === 0) notes.push(`${subject}: no server has "check", so haproxy never checked them (every server counted as up); kubeha checks every server`);
  else if (checked.length < c.servers.length) notes.push(`${subject}: ${c.servers.filter((x) => !x.checked).map((x) => x.name).join(', ')} had no "check" (haproxy counted them as always up); kubeha checks every server`);
  const shape = (x: HapServerCheck) => `${x.tls} ${x.port === portOf(x.address) ? '' : x.port} ${x.addr ?? ''}`;
  if (s && checked.some((x) => shape(x) !== shape(s))) notes.push(`${subject}: its servers are checked differently; the check of ${s.name} applies to every server`);
  const what = describeCheck(c, s);
  if (c.written.length > 1) {
    const ignored = c.ignoredHttpRules.length > 0 ? `, and its ${c.ignoredHttpRules.map((d) => `"${['http-check', ...d.args].join(' ')}"`).join(', ')} was ignored` : '';
    notes.push(`${subject}: ${c.written.map((o) => `"option ${o.args.join(' ')}" (line ${o.line})`).join(' then ')}: haproxy runs only the last check option, so it checked with ${what}${ignored}`);
  } else if (c.ignoredHttpRules.length > 0) {
    notes.push(`${subject}: haproxy ignores http-check rules without option httpchk (lines ${c.ignoredHttpRules.map((d) => d.line).join(', ')}), and so does the import`);
  }
  const port = s?.port;
  const hc: Record<string, unknown> = {};
  const req = c.request;
  if (APISERVER_PORTS.has(port ?? 0)) {
    // Never plain http, never a mere connect, to an apiserver port: HTTPS GET /readyz.
    hc.type = 'https';
    hc.path = APISERVER_CHECK_PATH;
    if (c.method === 'httpchk' && !s!.tls) {
      notes.push(`${subject} checked port ${port} with ${what}, but that port speaks only TLS: every check failed (the apiserver answers "client sent an HTTP request to an HTTPS server") and haproxy marked every server down; it was imported as HTTPS GET ${APISERVER_CHECK_PATH}`);
    } else if (onlyConnects(c)) connectOnlyNote(subject, what, notes);
    else if (c.method !== 'httpchk') notes.push(`${subject} checked its apiservers with ${what}, which kubeha has no equivalent of; kubeha checks HTTPS GET ${APISERVER_CHECK_PATH} instead`);
    // only the httpchk that ran (the method that won) counts; a replaced one was noted above
    if (req) hc.path = apiserverPath(subject, req.uri, notes);
  } else if (c.method === 'httpchk') {
    hc.type = s?.tls ? 'https' : httpCheckType(false, port, subject, notes);
    hc.path = req!.uri;
    if (!c.expect) notes.push(`${subject}: haproxy counted any 2xx or 3xx answer as passing; kubeha expects 200 (healthCheck.expectStatus)`);
  } else if (c.method === 'ssl-hello-chk' || onlyConnects(c)) {
    hc.type = s?.tls || c.method === 'ssl-hello-chk' ? 'tls' : 'tcp';
  } else {
    hc.type = s?.tls ? 'tls' : 'tcp';
    notes.push(`${subject} checked with ${what}, which kubeha has no equivalent of; it was imported as a ${hc.type === 'tls' ? 'TLS handshake' : 'TCP connect'} check`);
  }
  if (req && (hc.type === 'http' || hc.type === 'https')) {
    const statuses = expectStatus(c, subject, notes);
    if (statuses) hc.expectStatus = statuses;
    if (req.host) hc.host = req.host;
    if (req.method !== 'GET') notes.push(`${subject}: haproxy sent ${req.method} ${req.uri}; kubeha checks with GET`);
    if (c.requests > 1) notes.push(`${subject}: its http-check ruleset sends ${c.requests} requests; kubeha checks the first, ${req.uri}`);
  }
  if (!s) return hc;
  if (port !== undefined && port !== portOf(s.address)) hc.port = port;
  if (s.addr) notes.push(`${subject}: checks went to addr ${s.addr}; kubeha checks each server's own address`);
  if ((hc.type === 'https' || hc.type === 'tls') && s.tls) {
    if (s.caFile && s.verify !== 'none') hc.caFile = s.caFile;
    if (s.sni) hc.serverName = s.sni;
  }
  if (s.settings.has('inter')) hc.interval = ms(s.interMs);
  if (s.fastinterMs) hc.fastInterval = ms(s.fastinterMs);
  if (s.downinterMs) hc.downInterval = ms(s.downinterMs);
  hc.timeout = ms(s.timeoutMs);
  if (s.settings.has('rise')) hc.rise = s.rise;
  if (s.settings.has('fall')) hc.fall = s.fall;
  return hc;
}

function haproxyBackend(p: HapProxy, notes: string[]): Record<string, unknown> {
  // server settings with the default-server lines of the defaults section and the backend applied
  const check = hapCheck(p);
  const servers = check.servers;
  const setting = (s: HapServerCheck | undefined, key: string) => (typeof s?.settings.get(key) === 'string' ? (s.settings.get(key) as string) : undefined);
  const slow = haproxyMs(setting(servers[0], 'slowstart'));
  const healthCheck = haproxyHealthCheck(p, check, notes);
  const balance = p.balance === 'roundrobin' || p.balance === 'static-rr' ? 'roundrobin' : p.balance === 'leastconn' || p.balance === 'source' ? p.balance : undefined;
  if (p.balance && !balance) notes.push(`haproxy backend ${p.name}: balance ${p.balance} has no kubeha equivalent; roundrobin is used`);
  const backend: Record<string, unknown> = {
    name: safeName(p.name, 'backend'),
    ...(balance ? { balance } : {}),
    healthCheck,
    servers: servers.map((s) => {
      const weight = setting(s, 'weight');
      return { name: safeName(s.name || 'server', 'server'), address: s.address, ...(weight ? { weight: Number(weight) } : {}) };
    }),
  };
  if (slow) backend.slowStart = ms(slow);
  const connect = p.timeouts.get('connect')?.ms;
  if (connect) backend.connectTimeout = ms(connect);
  const idle = p.timeouts.get('server')?.ms;
  if (idle && idle >= 1000) backend.idleTimeout = ms(idle);
  const maxconn = setting(servers[0], 'maxconn');
  if (maxconn) backend.maxConnPerServer = Number(maxconn);
  return backend;
}

function importNginx(ctx: LintContext, notes: string[]): { frontends: unknown[]; backends: unknown[] } | undefined {
  const blocks = nginxBlocks(ctx.files);
  const streams = blocks.filter((b) => b.context === 'stream');
  if (streams.length === 0) return undefined;
  const frontends: unknown[] = [];
  const backends: unknown[] = [];
  for (const stream of streams) {
    for (const up of stream.upstreams.values()) {
      const servers = upstreamServers(up);
      const maxFails = servers.map((s) => s.args.find((a) => a.startsWith('max_fails='))).find(Boolean);
      const name = safeName(up.args[0] ?? 'upstream', 'backend');
      // open-source nginx has no active checks: an apiserver upstream gets HTTPS /readyz, any other a TCP connect
      const apiserver = servers.some((s) => APISERVER_PORTS.has(portOf(s.args[0]) ?? 0));
      notes.push(apiserver
        ? `nginx upstream ${up.args[0] ?? ''} had no active health checks (open-source nginx has none, only max_fails); kubeha checks GET ${APISERVER_CHECK_PATH} over HTTPS, which is what an apiserver needs`
        : `nginx upstream ${up.args[0] ?? ''} had no active health checks (open-source nginx has none, only max_fails); kubeha checks it with TCP connects (healthCheck.type: tcp)`);
      backends.push({
        name,
        ...(up.children.some((d) => d.name === 'least_conn') ? { balance: 'leastconn' } : up.children.some((d) => d.name === 'hash') ? { balance: 'source' } : {}),
        healthCheck: apiserver ? { type: 'https', path: APISERVER_CHECK_PATH } : { type: 'tcp' },
        ...(maxFails ? { passiveFailures: Number(maxFails.split('=')[1]) } : {}),
        servers: servers.map((s, i) => {
          const weight = s.args.find((a) => a.startsWith('weight='));
          return { name: `server${i + 1}`, address: s.args[0] ?? '', ...(weight ? { weight: Number(weight.split('=')[1]) } : {}) };
        }),
      });
    }
    for (const srv of stream.directives.filter((d) => d.name === 'server' && d.block)) {
      const target = child(srv, 'proxy_pass')?.args[0] ?? '';
      const listen = child(srv, 'listen')?.args[0] ?? '';
      const port = Number(listen.replace(/^.*:/, ''));
      const host = listen.includes(':') ? listen.replace(/:\d+$/, '') : '0.0.0.0';
      if (!port || !target) continue;
      frontends.push({ name: safeName(`${target}-${port}`, 'frontend'), bind: `${host}:${port}`, backend: safeName(target, 'backend') });
      const timeout = nginxMs(child(srv, 'proxy_timeout')?.args[0]);
      const connect = nginxMs(child(srv, 'proxy_connect_timeout')?.args[0]);
      const b = backends.find((x) => (x as { name: string }).name === safeName(target, 'backend')) as Record<string, unknown> | undefined;
      if (b && timeout && timeout >= 1000) b.idleTimeout = ms(timeout);
      if (b && connect) b.connectTimeout = ms(connect);
    }
  }
  if (blocks.some((b) => b.context === 'http')) notes.push('the http { } block of nginx.conf was not imported: kubeha proxies TCP only');
  return { frontends, backends };
}

/** keepalived schedulers (lvs_sched / lb_algo) that kubeha has an equivalent of. */
const LVS_BALANCE: Record<string, string> = { rr: 'roundrobin', wrr: 'roundrobin', lc: 'leastconn', wlc: 'leastconn', sh: 'source' };

/**
 * A keepalived timer (seconds, fractions allowed) in milliseconds, from the first scope that writes
 * it: keepalived.conf(5) lets a checker inherit connect_timeout and delay_loop from its real_server,
 * and that from its virtual_server.
 */
function kaTimer(name: string, scopes: Directive[]): { text: string; ms: number } | undefined {
  const d = scopes.map((s) => child(s, name)).find((x) => x?.args[0] !== undefined);
  const seconds = Number(d?.args[0]);
  return d && Number.isFinite(seconds) && seconds > 0 ? { text: d.args[0]!, ms: Math.round(seconds * 1000) } : undefined;
}

/** keepalived's status_code list (`200`, `200-299 503`) as kubeha's expectStatus. */
function statusCodes(d: Directive | undefined): number[] | undefined {
  const codes = (d?.args ?? []).flatMap((a) => {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(a);
    if (!m) return [];
    const from = Number(m[1]);
    return Array.from({ length: Math.max(0, Number(m[2] ?? m[1]) - from + 1) }, (_, i) => from + i);
  }).filter((c) => c >= 100 && c <= 599);
  return codes.length > 0 ? codes : undefined;
}

/** The health check of an LVS backend: the first real server's TCP_CHECK, SSL_GET or HTTP_GET. */
function lvsHealthCheck(vs: KaVirtualServer, notes: string[]): Record<string, unknown> {
  const rs = vs.realServers.find((r) => r.checkers.length > 0);
  const checker = rs?.checkers.find((c) => c.name === 'SSL_GET' || c.name === 'HTTP_GET' || c.name === 'TCP_CHECK');
  const apiserver = (port: number | undefined) => APISERVER_PORTS.has(port ?? 0);
  if (!rs || !checker) {
    const why = rs ? `${rs.checkers.map((c) => c.name).join(', ')} has no kubeha equivalent` : 'its real servers have no checks';
    if (apiserver(vs.port)) {
      notes.push(`${vs.label}: ${why}; kubeha checks its apiservers with HTTPS GET ${APISERVER_CHECK_PATH}`);
      return { type: 'https', path: APISERVER_CHECK_PATH };
    }
    notes.push(`${vs.label}: ${why}; the backend ${TCP_ONLY_NOTE}`);
    return { type: 'tcp' };
  }
  const shape = (r: typeof rs) => r.checkers.map((c) => c.name).join(' ');
  if (vs.realServers.some((r) => shape(r) !== shape(rs))) notes.push(`${vs.label}: its real servers are checked differently; the check of ${rs.ip} (${shape(rs)}) applies to every server`);
  const port = directiveNumber(child(checker, 'connect_port')) ?? rs.port;
  const hc: Record<string, unknown> = {};
  if (checker.name === 'TCP_CHECK' && apiserver(port)) {
    hc.type = 'https';
    hc.path = APISERVER_CHECK_PATH;
    connectOnlyNote(vs.label, 'TCP_CHECK (TCP connects)', notes);
  } else if (checker.name === 'TCP_CHECK') {
    hc.type = 'tcp';
    notes.push(`${vs.label} ${TCP_ONLY_NOTE}`);
  } else {
    hc.type = httpCheckType(checker.name === 'SSL_GET', port, `${vs.label} ${checker.name}`, notes);
    const urls = checker.children.filter((c) => c.name === 'url');
    const written = urls[0] ? child(urls[0], 'path')?.args[0] : undefined;
    const path = apiserver(port) ? apiserverPath(`${vs.label} ${checker.name}`, written, notes) : written;
    if (path) hc.path = path;
    const expect = urls[0] ? statusCodes(child(urls[0], 'status_code')) : undefined;
    if (expect) hc.expectStatus = expect;
    if (urls.length > 1) notes.push(`${vs.label}: ${checker.name} checks ${urls.length} urls; kubeha checks one path, ${path ?? '/readyz'}`);
  }
  if (port !== undefined && port !== rs.port) hc.port = port;
  const scopes = [checker, rs.directive, vs.directive];
  const timeout = kaTimer('connect_timeout', scopes);
  if (timeout) hc.timeout = ms(timeout.ms);
  const delayLoop = kaTimer('delay_loop', scopes);
  if (delayLoop) {
    hc.interval = ms(delayLoop.ms);
    notes.push(`${vs.label}: delay_loop ${delayLoop.text} became healthCheck.interval ${ms(delayLoop.ms)}`);
  }
  return hc;
}

/**
 * keepalived virtual_servers (LVS) → a frontend on VIP:port and a backend of its real servers each.
 * One on a port that the haproxy/nginx frontends already serve is left out: kubeha runs one
 * balancer per port.
 */
function importVirtualServers(ctx: LintContext, notes: string[], taken: ImportedFrontend[]): { frontends: ImportedFrontend[]; backends: Record<string, unknown>[] } {
  const frontends: ImportedFrontend[] = [];
  const backends: Record<string, unknown>[] = [];
  for (const vs of kaVirtualServers(ctx)) {
    const { ip, port } = vs;
    const skip = (why: string) => notes.push(`${vs.label} was not imported: ${why}`);
    if (!ip || !port) {
      skip('it names no IP and port (fwmark and virtual_server_group forms are not imported)');
      continue;
    }
    const servers = vs.realServers.filter((rs): rs is KaRealServer & { port: number } => rs.port !== undefined);
    const stackedOn = taken.find((f) => {
      const l = listenAddress(f.bind);
      return !!l && l.port === port && (l.host === '*' || l.host === ip);
    });
    const unfit = vs.protocol !== 'TCP' ? `it is protocol ${vs.protocol}; kubeha proxies TCP only`
      : servers.length === 0 ? 'it has no real_server with a port'
      : stackedOn ? `the ${stackedOn.name} frontend already serves ${stackedOn.bind} (one balancer per port)` : undefined;
    if (unfit) {
      skip(unfit);
      continue;
    }
    const name = safeName(`lvs-${ip}-${port}`, 'lvs');
    const balance = LVS_BALANCE[vs.scheduler.value];
    if (!balance) notes.push(`${vs.label}: lvs_sched ${vs.scheduler.value} has no kubeha equivalent; roundrobin is used`);
    if (vs.persistenceTimeout) notes.push(`${vs.label}: persistence_timeout ${vs.persistenceTimeout.args[0] ?? '360'} (a client kept on one real server) has no kubeha equivalent; balance: source keeps a client on one server while the servers stay the same`);
    // LVS NAT is what the in-kernel data plane does (DNAT, conntrack), short of a scheduler with connection counts
    const nat = vs.method.value === 'NAT' && servers.every((rs) => rs.method === 'NAT');
    const inKernel = nat && isIPv4(ip) && servers.every((rs) => isIPv4(rs.ip)) && balance !== 'leastconn';
    if (inKernel) notes.push(`${vs.label}: lvs_method NAT${vs.method.written ? '' : ' (keepalived\'s default)'} became dataPlane: kernel: nftables DNAT and conntrack forward in the kernel as IPVS NAT does, and kubeha checks and decides; it also masquerades, so the masters need no route back through the director (they see the director's address as the client's)`);
    else if (nat) notes.push(`${vs.label}: lvs_method NAT with lvs_sched ${vs.scheduler.value}: the in-kernel data plane keeps no connection counts for leastconn${isIPv4(ip) ? '' : ' and takes IPv4 only'}, so this frontend proxies in user space; with lvs_sched rr or sh it would forward in the kernel (dataPlane: kernel)`);
    else notes.push(`${vs.label}: lvs_method ${vs.method.value} has no kubeha equivalent and needs none: kubeha proxies the connections, so the masters need no route back through the director and no VIP on lo`);
    if (vs.sorryServer) notes.push(`${vs.label}: sorry_server ${vs.sorryServer.args.join(' ')} has no kubeha equivalent and was left out`);
    // keepalived.conf(5): a real_server's weight defaults to 1; written for all once one is written.
    const weighted = servers.some((rs) => rs.weight !== undefined);
    backends.push({
      name,
      ...(balance ? { balance } : {}),
      healthCheck: lvsHealthCheck(vs, notes),
      servers: servers.map((rs, i) => ({ name: `server${i + 1}`, address: formatHostPort(rs.ip, rs.port), ...(weighted ? { weight: rs.weight ?? 1 } : {}) })),
    });
    frontends.push({ name, bind: formatHostPort(ip, port), backend: name, ...(inKernel ? { dataPlane: 'kernel' } : {}) });
  }
  return { frontends, backends };
}

/** A track script that checks the local load balancer (or the apiserver through it): kubeha's track.backends replaces it. */
const CHECKS_LB = /haproxy|nginx|\/dev\/tcp|check_lb|check_apiserver/;

/** How keepalived.conf(5) applies a weight, in words: `weight -2` → "lowers the priority by 2 while it fails". */
function weightEffect(weight: number): string {
  return weight === 0 ? 'puts the instance in FAULT while it fails' : weight < 0 ? `lowers the priority by ${-weight} while it fails` : `raises the priority by ${weight} while it passes`;
}

/** The script kubeha runs for a weighted track_interface: up with carrier, as keepalived's IFF_UP|IFF_RUNNING. */
const carrierScript = (iface: string) => `grep -qx 1 /sys/class/net/${iface}/carrier`;

/**
 * A vrrp_instance's track_script / track_interface / track_file entries → kubeha's track (and the
 * priority, which a positive weight on the load balancer check moves). keepalived.conf(5): weight 0
 * = FAULT while failing, < 0 added while failing, > 0 added while passing, `reverse` turns the
 * direction round; kubeha's track.scripts[].weight has the same three meanings, track.interfaces
 * only FAULT, track.backendWeight only 0 or negative. Whatever changes meaning gets a note.
 */
function importTracks(ctx: LintContext, i: KaInstance, notes: string[], backends: string[]): { track: Record<string, unknown>; priority: number } {
  let priority = directiveNumber(i.priority) ?? 100;
  const track: Record<string, unknown> = {};
  const scripts: Record<string, unknown>[] = [];
  const interfaces: string[] = [];
  const lb: KaTrack[] = [];
  const scriptOf = (t: KaTrack, name: string, command: string, timing: { interval?: number; timeout?: number; rise?: number; fall?: number }) => {
    // keepalived.conf(5) vrrp_script: interval 1 s by default, timeout = interval, rise/fall 1
    const intervalMs = Math.round((timing.interval ?? 1) * 1000);
    const rise = timing.rise ?? 1;
    const fall = timing.fall ?? 1;
    // reverse (keepalived.conf(5) vrrp_bfd's table: +w reverse lowers the priority by w while up,
    // -w reverse raises it by |w| while down, 0 reverse faults while up): the same as `! cmd` (sh)
    // with the weight negated, kubeha's weight applying while the inverted script passes (> 0) or
    // fails (<= 0); rise and fall swap with the roles of passing and failing.
    const weight = t.reverse ? -t.weight || 0 : t.weight;
    scripts.push({
      name: safeName(name, 'script'), command: t.reverse ? `! ${command}` : command,
      interval: ms(intervalMs), timeout: ms(timing.timeout !== undefined ? Math.round(timing.timeout * 1000) : intervalMs),
      ...(t.reverse ? { rise: fall, fall: rise } : { rise, fall }),
      weight,
    });
    if (t.reverse) notes.push(`${i.name}: ${t.kind === 'script' ? 'track_script' : `track_${t.kind}`} ${t.name} has "weight ${t.weight} reverse"; kubeha has no reverse, so the imported script runs "! ${command}" (rise and fall swapped) with weight ${weight}: the same ${t.weight === 0 ? 'FAULT while the original passes' : `${t.weight > 0 ? `priority -${t.weight} while the original passes` : `priority +${-t.weight} while the original fails`}`}`);
  };
  for (const t of kaTracks(ctx, i)) {
    if (t.kind === 'script') {
      const s = t.script;
      if (!s) {
        notes.push(`${i.name}: track_script ${t.name} names no vrrp_script (keepalived ignores it) and was left out`);
        continue;
      }
      if (!t.reverse && CHECKS_LB.test(s.command) && backends.length > 0) {
        lb.push(t);
        continue;
      }
      const num = (name: string) => directiveNumber(child(s.directive, name));
      if (child(s.directive, 'init_fail')) notes.push(`${i.name}: vrrp_script ${s.name} has init_fail; a kubeha script counts as passing until it has failed fall times`);
      scriptOf(t, s.name, s.command, { interval: num('interval'), timeout: num('timeout'), rise: num('rise'), fall: num('fall') });
    } else if (t.kind === 'interface') {
      if (t.weight === 0 && !t.reverse) interfaces.push(t.name);
      else {
        scriptOf(t, `if-${t.name}`, carrierScript(t.name), {});
        notes.push(`${i.name}: track_interface ${t.name} weight ${t.weight}${t.reverse ? ' reverse' : ''}: kubeha's track.interfaces can only FAULT, so it became the script "${carrierScript(t.name)}" (every 1s) with weight ${t.weight}`);
      }
    } else {
      const path = t.fileBlock ? child(t.fileBlock, 'file')?.args[0] : undefined;
      if (t.weight === 0 && path) {
        // keepalived.conf(5) track_file: with weight 0 "a non-zero value in the file will be treated as a failure status"
        scriptOf(t, `file-${t.name}`, `[ "$(cat ${path})" -eq 0 ]`, {});
        notes.push(`${i.name}: track_file ${t.name} (weight 0) became a script that fails while ${path} holds a non-zero number, read every 1s (keepalived reads it when it changes)`);
      } else notes.push(`${i.name}: track_file ${t.name} ${path ? `adds the number in ${path} times ${t.weight} to the priority, which has no kubeha equivalent` : 'names no track_file block'}; it was left out`);
    }
  }
  if (lb.length > 0) {
    track.backends = backends;
    const names = lb.map((t) => `${t.name} (${t.script!.command}, weight ${t.weight})`).join(', ');
    const faults = lb.some((t) => t.weight === 0);
    const down = lb.reduce((n, t) => n + Math.min(0, t.weight), 0);
    const up = lb.reduce((n, t) => n + Math.max(0, t.weight), 0);
    let effect = 'while no backend can serve, the instance goes to FAULT, as keepalived\'s weight 0 did';
    if (!faults) {
      // a positive weight is added while the check passes: the same order of priorities as a
      // priority that much higher and a backendWeight that lowers it back while the backends fail
      const raised = Math.min(254, priority + up);
      const backendWeight = Math.max(-254, down - (raised - priority));
      effect = up > 0
        ? `keepalived added ${up} to priority ${priority} while it passed; kubeha has priority ${raised} and track.backendWeight ${backendWeight}, the same priorities (${raised} while the backends serve, ${raised + backendWeight} while none can)`
        : `while no backend can serve, the priority drops by ${-backendWeight} (track.backendWeight ${backendWeight}), as keepalived's weight ${down} did, instead of FAULT`;
      priority = raised;
      track.backendWeight = backendWeight;
    }
    notes.push(`${i.name}: track_script ${names} checked the local load balancer; kubeha tracks its own backends instead (track.backends), no script needed: ${effect}`);
  }
  if (scripts.length > 0) track.scripts = scripts;
  if (interfaces.length > 0) track.interfaces = interfaces;
  // A weight too small to move the VIP: what keepalived-weight-gap says, or how to check it.
  const weak = weakTracks(ctx, i);
  if (weak) notes.push(`${i.name}: priority ${weak.mine} is ${weak.gap} above its lowest peer, but ${weak.weak.map((t) => `a failing ${t.name} (weight ${t.weight}) lowers it by only ${t.drop}`).join(', ')}: the VIP never moves away (kubeha lint: keepalived-weight-gap)`);
  else if (!kaInstances(ctx).some((o) => o.file !== i.file && directiveNumber(o.vrid) === directiveNumber(i.vrid))) {
    const weighted = kaTracks(ctx, i).filter((t) => !t.reverse && t.weight !== 0 && t.kind !== 'file');
    const mine = directiveNumber(i.priority) ?? 100;
    const worst = Math.min(...weighted.map((t) => Math.abs(t.weight)));
    if (weighted.length > 0) notes.push(`${i.name}: ${weighted.map((t) => `${t.name} weight ${t.weight} ${weightEffect(t.weight)}`).join('; ')}; the VIP moves away only to a healthy peer whose priority is above ${mine} - ${worst} = ${mine - worst}; check the gap with kubeha lint on every node's keepalived.conf together (keepalived-weight-gap)`);
  }
  return { track, priority };
}

function importKeepalived(ctx: LintContext, notes: string[], backends: string[]): unknown[] {
  const globals = ctx.files.filter((f) => f.kind === 'keepalived').flatMap((f) => findAll(f.tree.directives, 'global_defs'));
  const globalVersion = Number(globals.map((g) => child(g, 'vrrp_version')?.args[0]).find(Boolean) ?? 2) === 3 ? 3 : 2;
  return kaInstances(ctx).map((i) => {
    const inst = i.directive;
    // keepalived: an instance's own `version` wins over vrrp_version; IPv6 is always VRRPv3.
    const version = i.family === 6 ? 3 : child(inst, 'version') ? (Number(child(inst, 'version')?.args[0]) === 3 ? 3 : 2) : globalVersion;
    const ownFamily = i.vips.filter((v) => (v.name.includes(':') ? 6 : 4) === i.family);
    if (ownFamily.length < i.vips.length) notes.push(`${i.name}: VIPs of the other address family than its first were left out (keepalived skips them too); give them an instance of their own with the same syncGroup`);
    const advert = Number(child(inst, 'advert_int')?.args[0] ?? 1);
    const { track, priority } = importTracks(ctx, i, notes, backends);
    const notify: Record<string, string> = {};
    for (const k of ['master', 'backup', 'fault'] as const) {
      const n = child(inst, `notify_${k}`)?.args.join(' ');
      if (n) notify[k] = n;
    }
    for (const k of ['notify', 'notify_stop', 'garp_master_refresh_repeat', 'smtp_alert', 'dont_track_primary', 'track_process', 'track_bfd', 'track_src_ip']) {
      if (child(inst, k)) notes.push(`${i.name}: ${k} has no kubeha equivalent and was left out`);
    }
    const refresh = directiveNumber(child(inst, 'garp_master_refresh'));
    const secondBurst = directiveNumber(child(inst, 'garp_master_delay'));
    const repeat = directiveNumber(child(inst, 'garp_master_repeat'));
    const preemptDelay = directiveNumber(child(inst, 'preempt_delay'));
    if (i.state === 'MASTER') notes.push(`${i.name}: state MASTER has no effect in keepalived 2.x nor in kubeha; the priority decides`);
    return {
      name: safeName(i.name, 'VI_1'),
      interface: i.iface?.args[0] ?? 'eth0',
      virtualRouterId: directiveNumber(i.vrid) ?? 51,
      priority,
      version,
      advertInterval: version === 2 ? `${Math.max(1, Math.round(advert))}s` : ms(Math.round(advert * 1000)),
      preempt: !i.nopreempt,
      ...(preemptDelay ? { preemptDelay: ms(preemptDelay * 1000) } : {}),
      vips: ownFamily.map((v) => (v.name.includes('/') ? v.name : `${v.name}/${i.family === 6 ? 128 : 32}`)),
      unicastPeers: i.unicastPeers.map((p) => p.name),
      ...(i.unicastSrcIp?.args[0] ? { unicastSrcIp: i.unicastSrcIp.args[0] } : {}),
      ...(version === 2 && i.authPass?.args[0] ? { authPass: i.authPass.args[0].slice(0, 8) } : {}),
      ...(repeat !== undefined ? { garpRepeat: repeat } : {}),
      ...(refresh ? { garpRefresh: ms(refresh * 1000) } : {}),
      ...(secondBurst !== undefined && secondBurst !== 5 ? { garpMasterDelay: ms(secondBurst * 1000) } : {}),
      ...(Object.keys(track).length ? { track } : {}),
      ...(Object.keys(notify).length ? { notify } : {}),
      ...(i.syncGroup ? { syncGroup: safeName(i.syncGroup, 'G') } : {}),
    };
  });
}
