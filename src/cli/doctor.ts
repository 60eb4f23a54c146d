import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { inSubnet } from '../config/address.js';
import { formatProblem } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { interfaceOf, loadInventoryFile, makePlan, type Plan } from '../plan/inventory.js';
import { assess, type Finding, type NodeObservation, type Verdict, type VrrpExpectation, type VrrpObservation } from '../doctor/assess.js';
import { httpsGet, listenVrrp, probeEtcd, type HttpsObservation, type ProbeOptions } from '../doctor/probe.js';
import type { EtcdTls } from '../election/etcd-client.js';
import { nodeHealth, table } from '../observe/status-report.js';
import { fetchNodeState, resolveAdmin } from './admin-client.js';

export interface DoctorOptions {
  inventory: string;
  timeout: string;
  /** Requests through the VIP; default three per master (enough for round robin to show each). */
  samples?: string;
  cacert?: string;
  etcdCacert?: string;
  etcdCert?: string;
  etcdKey?: string;
  /** commander's negation of --no-etcd. */
  etcd: boolean;
  /** kubeha admin addresses to ask for their state (`kubeha status` of each), and their token. */
  admin?: string[];
  tokenFile?: string;
  json?: boolean;
  /** commander's negation of --no-vrrp; only `false` skips the VRRP listen. */
  vrrp?: boolean;
  /** The interface to listen on for VRRP (default: the VIP's segment on this host). */
  vrrpInterface?: string;
  /** How long to listen (default 3.5 advert intervals, at least 1.2 s: a 1 s keepalived is heard). */
  vrrpListen?: string;
}

/** The shortest listen: one advert of keepalived's default advert_int (1 s) and its jitter. */
const MIN_VRRP_LISTEN_MS = 1200;

/** This host's IPv4 interfaces: name, address, prefix. */
function localIpv4(): { iface: string; ip: string; prefix: number }[] {
  return Object.entries(networkInterfaces()).flatMap(([iface, as]) => (as ?? [])
    .filter((a) => a.family === 'IPv4')
    .map((a) => ({ iface, ip: a.address, prefix: Number(a.cidr?.split('/')[1] ?? 32) })));
}

/**
 * The interface to hear the VIP's segment on: the one named; else, on an LB host, the one that
 * carries its VIP; else the one whose subnet holds the VIP; else the inventory's.
 */
function vrrpInterface(plan: Plan, locals: ReturnType<typeof localIpv4>, named?: string): string {
  if (named) return named;
  const me = plan.lbHosts.find((h) => locals.some((l) => l.ip === h.ip));
  if (me) return interfaceOf(plan, me);
  return locals.find((l) => l.ip !== plan.vipAddress && inSubnet(plan.vipAddress, l.ip, l.prefix))?.iface ?? plan.inv.interface;
}

const SHOWN: Record<Verdict, string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** The files of `files` that cannot be read (checked, not read: the etcd client reads them). */
async function unreadable(files: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const f of files) await access(f, constants.R_OK).catch(() => missing.push(f));
  return missing;
}

/**
 * `kubeha doctor --inventory F`: looks at the live control plane the inventory describes, from
 * this host: every apiserver (ready? its certificate names the VIP? expiring? its clock?), the VIP
 * (answers? reaches every ready apiserver?) and etcd (members, quorum, leader, alarms). Exit 0: no
 * failure; 1: a failure; 2: the inventory or the options are wrong.
 */
export async function doctorCommand(o: DoctorOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const loaded = await loadInventoryFile(o.inventory);
  if (!loaded.ok) {
    for (const p of loaded.problems) err.write(`${formatProblem(p)}\n`);
    return 2;
  }
  const timeoutMs = parseDuration(o.timeout);
  const samples = o.samples === undefined ? undefined : Number(o.samples);
  if (timeoutMs === undefined || timeoutMs <= 0 || (samples !== undefined && !(Number.isInteger(samples) && samples >= 1 && samples <= 1000))) {
    err.write('--timeout is a duration like 3s and --samples a whole number from 1 to 1000 [KUBEHA_ERR_USAGE]\n');
    return 2;
  }
  const listenMs = o.vrrpListen === undefined ? undefined : parseDuration(o.vrrpListen);
  if (o.vrrpListen !== undefined && (listenMs === undefined || listenMs <= 0 || listenMs > 600_000)) {
    err.write(`--vrrp-listen ${o.vrrpListen}: a duration like 3s, at most 10m [KUBEHA_ERR_USAGE]\n`);
    return 2;
  }
  const inv = loaded.inventory;
  const plan = makePlan(inv);
  const probe: ProbeOptions = { timeoutMs };
  if (o.cacert) {
    try {
      probe.ca = await readFile(o.cacert);
    } catch (e) {
      err.write(`--cacert ${o.cacert}: ${e instanceof Error ? e.message : String(e)} [KUBEHA_ERR_USAGE]\n`);
      return 2;
    }
  }

  const mastersP = Promise.all(inv.masters.map(async (m) => ({ name: m.name, ip: m.ip, readyz: await httpsGet(m.ip, inv.apiserverPort, '/readyz?verbose', probe) })));
  const viaVipP = (async () => {
    const seen: HttpsObservation[] = [];
    // One at a time, each on a new connection: round robin shows each server in turn. When the
    // first two get no answer at all, the VIP is down: more would only wait out more timeouts.
    for (let i = 0; i < (samples ?? 3 * inv.masters.length); i++) {
      seen.push(await httpsGet(plan.vipAddress, plan.frontendPort, '/readyz', probe));
      if (seen.length === 2 && seen.every((o) => o.error)) break;
    }
    return seen;
  })();
  const etcdP = (async () => {
    if (!o.etcd) return { skipped: 'not asked (--no-etcd)' };
    let tls: EtcdTls | undefined;
    if (plan.etcdEndpoints.some((e) => e.startsWith('https:'))) {
      // The apiserver's own etcd client files (kubeadm's layout), unless named.
      const pki = inv.pkiDir;
      const files = { caFile: o.etcdCacert ?? `${pki}/etcd/ca.crt`, certFile: o.etcdCert ?? `${pki}/apiserver-etcd-client.crt`, keyFile: o.etcdKey ?? `${pki}/apiserver-etcd-client.key` };
      const missing = await unreadable(Object.values(files));
      if (missing.length > 0) return { skipped: `etcd wants client certificates and ${missing.join(', ')} cannot be read here: run on a master, or give --etcd-cacert, --etcd-cert and --etcd-key` };
      tls = files;
    }
    return Promise.all(plan.etcdEndpoints.map((e) => probeEtcd(e, tls, timeoutMs)));
  })();
  const nodesP = Promise.all((o.admin ?? []).map(async (admin): Promise<NodeObservation> => {
    const target = await resolveAdmin({ admin, ...(o.tokenFile ? { tokenFile: o.tokenFile } : {}) });
    if (typeof target === 'string') return { target: admin, error: target };
    const fetched = await fetchNodeState(target);
    if (!fetched.ok) return { target: admin, error: fetched.error };
    const { state } = fetched;
    const { problems, warnings } = nodeHealth(state);
    const up = state.backends.map((b) => `${b.name} ${b.servers.filter((x) => x.state === 'up' && !x.removed).length}/${b.servers.filter((x) => !x.removed).length} up`);
    const vrrp = state.vrrp.map((v) => `${v.name} ${v.state.toUpperCase()}`);
    return { target: admin, problems, warnings, summary: `serving: ${[...up, ...vrrp].join(', ') || 'nothing configured'}` };
  }));
  const locals = localIpv4();
  const vrrpP = (async (): Promise<VrrpObservation> => {
    if (o.vrrp === false) return { verdict: 'skip', skipped: 'not asked (--no-vrrp)' };
    // RFC 5798 §6.4.3: a backup waits 3 intervals and a skew; 3.5 of them hears any live master.
    return listenVrrp(vrrpInterface(plan, locals, o.vrrpInterface), listenMs ?? Math.max(MIN_VRRP_LISTEN_MS, Math.ceil(3.5 * plan.advertIntervalMs)));
  })();
  const expected: VrrpExpectation = {
    virtualRouterId: plan.virtualRouterId, derived: plan.virtualRouterIdDerived, vip: plan.vipAddress,
    version: inv.vrrp.version, advertIntervalCs: Math.round(plan.advertIntervalMs / 10), authPass: inv.vrrp.authPass, unicast: inv.vrrp.unicast,
    lbHosts: plan.lbHosts.map((h) => ({ name: h.name, ip: h.ip })), localAddresses: locals.map((l) => l.ip),
  };
  const [masters, viaVip, etcd, nodes, heard] = await Promise.all([mastersP, viaVipP, etcdP, nodesP, vrrpP]);
  const findings = assess({ nodes, vip: plan.vipAddress, ...(plan.vip6Address ? { vip6: plan.vip6Address } : {}), frontendPort: plan.frontendPort, masters, viaVip, etcd, expectedEtcdMembers: inv.etcd.mode === 'stacked' ? inv.masters.length : plan.etcdEndpoints.length, vrrp: { heard, expected }, nowMs: Date.now() });
  if (o.json) out.write(`${JSON.stringify({ cluster: inv.cluster, endpoint: plan.endpoint, virtualRouterId: plan.virtualRouterId, vrrp: redacted(heard), findings }, null, 2)}\n`);
  else out.write(formatFindings(`kubeha doctor: ${inv.cluster}, VIP ${plan.vipAddress}:${plan.frontendPort}, ${inv.masters.length} masters, ${plan.etcdEndpoints.length} etcd endpoints`, findings));
  return countOf(findings, 'fail') > 0 ? 1 : 0;
}

/** The observation without the passwords heard (whether one was set is enough to read). */
function redacted(v: VrrpObservation): unknown {
  if ('skipped' in v) return v;
  return { ...v, heard: v.heard.map(({ authPass, ...h }) => ({ ...h, authenticated: authPass !== '' })) };
}

const countOf = (findings: Finding[], v: Verdict) => findings.filter((f) => f.verdict === v).length;

/** The findings as a table, each fix under its finding, and a count. */
function formatFindings(title: string, findings: Finding[]): string {
  const rows = [['', 'TARGET', 'CHECK', 'FINDING']];
  const fixes = new Map<number, string>();
  findings.forEach((f, i) => {
    rows.push([SHOWN[f.verdict], f.target, f.check, f.message]);
    if (f.fix && (f.verdict === 'fail' || f.verdict === 'warn')) fixes.set(i + 1, f.fix);
  });
  const lines = table(rows).split('\n');
  const indent = ' '.repeat(lines[0]!.indexOf('FINDING'));
  const body = lines.flatMap((l, i) => (fixes.has(i) ? [l, `${indent}fix: ${fixes.get(i)}`] : [l]));
  const n = (v: Verdict) => countOf(findings, v);
  return `${title}\n\n${body.join('\n')}\n\n${n('fail')} failed, ${n('warn')} warnings, ${n('ok')} ok, ${n('skip')} skipped\n`;
}
