// `kubeha import`: keepalived.conf + haproxy.cfg or nginx.conf → the equivalent kubeha.yaml, so a
// running pair can migrate. Pure: parsed files in, a config object and notes out. What has no
// equivalent becomes a note, printed as comments at the top of the file.
import { stringify } from 'yaml';
import { formatDuration } from '../config/duration.js';
import { child, findAll } from './conf-tree.js';
import { directiveNumber, haproxyMs, hapProxies, nginxMs, kaInstances, kaScripts, portOf, type HapProxy, type LintContext } from './lint-model.js';

/** The imported config and what could not be carried over. */
export interface Imported {
  config: Record<string, unknown>;
  notes: string[];
}

const ms = (n: number) => formatDuration(n);
const safeName = (s: string, fallback: string) => (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(s) ? s : s.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '') || fallback);

/** Converts the parsed files (at most one LB config) into a kubeha config. */
export function importConfigs(ctx: LintContext): Imported {
  const notes: string[] = [];
  const config: Record<string, unknown> = { global: { shutdownGrace: '30s' } };
  const lb = importHaproxy(ctx, notes) ?? importNginx(ctx, notes);
  if (lb) Object.assign(config, lb, { admin: { bind: '127.0.0.1:9000' } });
  const backendNames = ((lb?.backends ?? []) as { name: string }[]).map((b) => b.name);
  const instances = importKeepalived(ctx, notes, backendNames);
  if (instances.length > 0) config.vrrp = { instances };
  return { config, notes };
}

/** The YAML text: notes as comments, then the config. */
export function importedYaml(imported: Imported, sources: string[]): string {
  const head = [`# Imported by kubeha import from ${sources.join(', ')}.`, '# Check it with: kubeha check --config THIS_FILE', ...imported.notes.map((n) => `# NOTE: ${n}`)];
  return `${head.join('\n')}\n${stringify(imported.config)}`;
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
  const healthCheck: Record<string, unknown> = { type: httpchk ? (ssl ? 'https' : 'http') : 'tcp' };
  if (path) healthCheck.path = path;
  if (inter) healthCheck.interval = ms(inter);
  if (fastinter) healthCheck.fastInterval = ms(fastinter);
  if (downinter) healthCheck.downInterval = ms(downinter);
  if (check) healthCheck.timeout = ms(check);
  const rise = opt(all, 'rise');
  const fall = opt(all, 'fall');
  if (rise) healthCheck.rise = Number(rise);
  if (fall) healthCheck.fall = Number(fall);
  if (!httpchk) notes.push(`haproxy backend ${p.name} checks with TCP connects only; kubeha can check GET /readyz over HTTPS instead (healthCheck: { type: https, path: /readyz })`);
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
  const files = ctx.files.filter((f) => f.kind === 'nginx');
  const streams = files.flatMap((f) => findAll(f.tree.directives, 'stream'));
  if (streams.length === 0) return undefined;
  const frontends: unknown[] = [];
  const backends: unknown[] = [];
  for (const stream of streams) {
    for (const up of stream.children.filter((d) => d.name === 'upstream')) {
      const servers = up.children.filter((d) => d.name === 'server');
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
    for (const srv of stream.children.filter((d) => d.name === 'server' && d.block)) {
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
  if (files.some((f) => findAll(f.tree.directives, 'http').length > 0)) notes.push('the http { } block of nginx.conf was not imported: kubeha proxies TCP only');
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
