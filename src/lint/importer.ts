// `kubeha import`: keepalived.conf (VRRP and LVS virtual servers) + haproxy.cfg or nginx.conf → the
// equivalent kubeha.yaml, so a running pair can migrate. Pure: parsed files in, a config object and
// notes out. What has no equivalent becomes a note, printed as comments at the top of the file.
import { stringify } from 'yaml';
import { formatHostPort } from '../config/address.js';
import { formatDuration } from '../config/duration.js';
import { child, findAll, type Directive } from './conf-tree.js';
import {
  APISERVER_PORTS, directiveNumber, haproxyMs, hapProxies, kaInstances, kaScripts, kaVirtualServers, listenAddress, nginxBlocks, nginxMs, portOf, upstreamServers,
  type HapProxy, type KaRealServer, type KaVirtualServer, type LintContext,
} from './lint-model.js';

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

/** What the notes say of a check that only connects. */
const TCP_ONLY_NOTE = 'checks with TCP connects only; kubeha can check GET /readyz over HTTPS instead (healthCheck: { type: https, path: /readyz })';

/** Ports that speak only TLS: the apiserver's, and 443. */
const TLS_ONLY_PORTS = new Set([...APISERVER_PORTS, 443]);

/**
 * The type of an imported HTTP check of `port`. Plain HTTP to a port that speaks only TLS fails
 * every check (the apiserver answers "client sent an HTTP request to an HTTPS server"), and kubeha
 * would mark every apiserver down, so such a check is imported as https, with a note.
 */
function httpCheckType(tls: boolean, port: number | undefined, subject: string, notes: string[]): 'http' | 'https' {
  if (tls) return 'https';
  if (!TLS_ONLY_PORTS.has(port ?? 0)) return 'http';
  notes.push(`${subject} checks port ${port} with plain HTTP, but that port speaks only TLS (every check would fail); it was imported as an https check`);
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
      for (const b of p.binds) {
        const addr = b.args[0] ?? '';
        const port = portOf(addr);
        const host = addr.replace(/:\d+$/, '');
        if (!port || !backend) continue;
        frontends.push({ name: safeName(p.binds.length > 1 ? `${p.name}-${port}` : p.name, 'frontend'), bind: `${host === '' || host === '*' ? '0.0.0.0' : host}:${port}`, backend: safeName(backend, 'backend') });
      }
    }
    if ((p.kind === 'backend' || p.kind === 'listen') && p.servers.length > 0) backends.push(haproxyBackend(p, notes));
  }
  return { frontends, backends: backends.filter((b) => frontends.some((f) => (f as { backend: string }).backend === b.name)) };
}

function haproxyBackend(p: HapProxy, notes: string[]): Record<string, unknown> {
  const ds = p.defaultServer?.args ?? [];
  const opt = (args: string[], key: string) => {
    const i = args.indexOf(key);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const httpchk = p.options.find((o) => o.args[0] === 'httpchk');
  const first = p.servers[0]?.args ?? [];
  const all = [...ds, ...first];
  const ssl = all.includes('check-ssl') || all.includes('ssl');
  const path = httpchk ? (httpchk.args.find((a) => a.startsWith('/')) ?? '/') : undefined;
  const inter = haproxyMs(opt(all, 'inter'));
  const fastinter = haproxyMs(opt(all, 'fastinter'));
  const downinter = haproxyMs(opt(all, 'downinter'));
  const slow = haproxyMs(opt(all, 'slowstart'));
  const check = p.timeouts.get('check')?.ms;
  const checkPort = Number(opt(all, 'port')) || portOf(first[1]);
  const healthCheck: Record<string, unknown> = { type: httpchk ? httpCheckType(ssl, checkPort, `haproxy backend ${p.name}`, notes) : 'tcp' };
  if (path) healthCheck.path = path;
  if (inter) healthCheck.interval = ms(inter);
  if (fastinter) healthCheck.fastInterval = ms(fastinter);
  if (downinter) healthCheck.downInterval = ms(downinter);
  if (check) healthCheck.timeout = ms(check);
  const rise = opt(all, 'rise');
  const fall = opt(all, 'fall');
  if (rise) healthCheck.rise = Number(rise);
  if (fall) healthCheck.fall = Number(fall);
  if (!httpchk) notes.push(`haproxy backend ${p.name} ${TCP_ONLY_NOTE}`);
  const balance = p.balance === 'roundrobin' || p.balance === 'static-rr' ? 'roundrobin' : p.balance === 'leastconn' || p.balance === 'source' ? p.balance : undefined;
  if (p.balance && !balance) notes.push(`haproxy backend ${p.name}: balance ${p.balance} has no kubeha equivalent; roundrobin is used`);
  const backend: Record<string, unknown> = {
    name: safeName(p.name, 'backend'),
    ...(balance ? { balance } : {}),
    healthCheck,
    servers: p.servers.map((s) => {
      const weight = opt(s.args, 'weight');
      return { name: safeName(s.args[0] ?? 'server', 'server'), address: s.args[1] ?? '', ...(weight ? { weight: Number(weight) } : {}) };
    }),
  };
  if (slow) backend.slowStart = ms(slow);
  const connect = p.timeouts.get('connect')?.ms;
  if (connect) backend.connectTimeout = ms(connect);
  const idle = p.timeouts.get('server')?.ms;
  if (idle && idle >= 1000) backend.idleTimeout = ms(idle);
  const maxconn = opt(all, 'maxconn');
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
      backends.push({
        name: safeName(up.args[0] ?? 'upstream', 'backend'),
        ...(up.children.some((d) => d.name === 'least_conn') ? { balance: 'leastconn' } : up.children.some((d) => d.name === 'hash') ? { balance: 'source' } : {}),
        healthCheck: { type: 'https', path: '/readyz' },
        ...(maxFails ? { passiveFailures: Number(maxFails.split('=')[1]) } : {}),
        servers: servers.map((s, i) => {
          const weight = s.args.find((a) => a.startsWith('weight='));
          return { name: `server${i + 1}`, address: s.args[0] ?? '', ...(weight ? { weight: Number(weight.split('=')[1]) } : {}) };
        }),
      });
    }
    notes.push('nginx (open source) has no active health checks; the imported backends check GET /readyz over HTTPS, which is what an apiserver needs');
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
  if (!rs || !checker) {
    notes.push(`${vs.label}: ${rs ? `${rs.checkers.map((c) => c.name).join(', ')} has no kubeha equivalent` : 'its real servers have no checks'}; the backend ${TCP_ONLY_NOTE}`);
    return { type: 'tcp' };
  }
  const shape = (r: typeof rs) => r.checkers.map((c) => c.name).join(' ');
  if (vs.realServers.some((r) => shape(r) !== shape(rs))) notes.push(`${vs.label}: its real servers are checked differently; the check of ${rs.ip} (${shape(rs)}) applies to every server`);
  const port = directiveNumber(child(checker, 'connect_port')) ?? rs.port;
  const hc: Record<string, unknown> = {};
  if (checker.name === 'TCP_CHECK') {
    hc.type = 'tcp';
    notes.push(`${vs.label} ${TCP_ONLY_NOTE}`);
  } else {
    hc.type = httpCheckType(checker.name === 'SSL_GET', port, `${vs.label} ${checker.name}`, notes);
    const urls = checker.children.filter((c) => c.name === 'url');
    const path = urls[0] ? child(urls[0], 'path')?.args[0] : undefined;
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
    if (vs.method.written) notes.push(`${vs.label}: lvs_method ${vs.method.value} has no kubeha equivalent and needs none: kubeha proxies the connections, so the masters need no route back through the director and no VIP on lo`);
    if (vs.sorryServer) notes.push(`${vs.label}: sorry_server ${vs.sorryServer.args.join(' ')} has no kubeha equivalent and was left out`);
    // keepalived.conf(5): a real_server's weight defaults to 1; written for all once one is written.
    const weighted = servers.some((rs) => rs.weight !== undefined);
    backends.push({
      name,
      ...(balance ? { balance } : {}),
      healthCheck: lvsHealthCheck(vs, notes),
      servers: servers.map((rs, i) => ({ name: `server${i + 1}`, address: formatHostPort(rs.ip, rs.port), ...(weighted ? { weight: rs.weight ?? 1 } : {}) })),
    });
    frontends.push({ name, bind: formatHostPort(ip, port), backend: name });
  }
  return { frontends, backends };
}

function importKeepalived(ctx: LintContext, notes: string[], backends: string[]): unknown[] {
  const scripts = kaScripts(ctx);
  const globals = ctx.files.filter((f) => f.kind === 'keepalived').flatMap((f) => findAll(f.tree.directives, 'global_defs'));
  const version = Number(globals.map((g) => child(g, 'vrrp_version')?.args[0]).find(Boolean) ?? 2) === 3 ? 3 : 2;
  return kaInstances(ctx).map((i) => {
    const inst = i.directive;
    const advert = Number(child(inst, 'advert_int')?.args[0] ?? 1);
    const track: Record<string, unknown> = {};
    const trackScripts: unknown[] = [];
    for (const t of i.trackScripts) {
      const s = scripts.find((x) => x.file === i.file && x.name === t.name);
      if (!s) continue;
      const { command, directive: def } = s;
      if (/haproxy|nginx|\/dev\/tcp|check_lb|check_apiserver/.test(command) && backends.length > 0) {
        track.backends = backends;
        notes.push(`track_script ${s.name} (${command}) checked the local load balancer; kubeha tracks its own backends instead (track.backends): no script needed`);
        continue;
      }
      const num = (name: string) => directiveNumber(child(def, name));
      trackScripts.push({
        name: safeName(s.name, 'script'), command,
        ...(num('interval') ? { interval: ms(num('interval')! * 1000) } : {}),
        ...(num('timeout') ? { timeout: ms(num('timeout')! * 1000) } : {}),
        ...(num('rise') ? { rise: num('rise') } : {}),
        ...(num('fall') ? { fall: num('fall') } : {}),
        weight: s.weight,
      });
    }
    if (trackScripts.length > 0) track.scripts = trackScripts;
    const trackIf = child(inst, 'track_interface')?.children.map((c) => c.name) ?? [];
    if (trackIf.length > 0) track.interfaces = trackIf;
    const notify: Record<string, string> = {};
    for (const k of ['master', 'backup', 'fault'] as const) {
      const n = child(inst, `notify_${k}`)?.args.join(' ');
      if (n) notify[k] = n;
    }
    for (const k of ['notify', 'notify_stop', 'garp_master_refresh_repeat', 'smtp_alert', 'dont_track_primary']) {
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
      priority: directiveNumber(i.priority) ?? 100,
      version,
      advertInterval: version === 2 ? `${Math.max(1, Math.round(advert))}s` : ms(Math.round(advert * 1000)),
      preempt: !i.nopreempt,
      ...(preemptDelay ? { preemptDelay: ms(preemptDelay * 1000) } : {}),
      vips: i.vips.map((v) => (v.name.includes('/') ? v.name : `${v.name}/32`)),
      unicastPeers: i.unicastPeers.map((p) => p.name),
      ...(i.unicastSrcIp?.args[0] ? { unicastSrcIp: i.unicastSrcIp.args[0] } : {}),
      ...(version === 2 && i.authPass?.args[0] ? { authPass: i.authPass.args[0].slice(0, 8) } : {}),
      ...(repeat !== undefined ? { garpRepeat: repeat } : {}),
      ...(refresh ? { garpRefresh: ms(refresh * 1000) } : {}),
      ...(secondBurst !== undefined && secondBurst !== 5 ? { garpMasterDelay: ms(secondBurst * 1000) } : {}),
      ...(Object.keys(track).length ? { track } : {}),
      ...(Object.keys(notify).length ? { notify } : {}),
    };
  });
}
