// `kubeha doctor` judges, pure: observations of a live control plane in (what each apiserver,
// the VIP and each etcd member answered, the VRRP adverts heard on the segment), findings out. No
// sockets, no clock of its own.
import { canonicalIp } from '../vrrp/packet.js';
import type { HttpsObservation } from './probe.js';

export type Verdict = 'ok' | 'warn' | 'fail' | 'skip';

/** One thing the doctor looked at, what it found, and what to do about it. */
export interface Finding {
  check: string;
  target: string;
  verdict: Verdict;
  message: string;
  fix?: string;
}

export interface MasterObservation {
  name: string;
  ip: string;
  readyz: HttpsObservation;
}

export interface EtcdMember {
  id: string;
  name: string;
  clientURLs: string[];
}

/** What one etcd endpoint answered to status, member list and alarm list. */
export interface EtcdObservation {
  endpoint: string;
  error?: string;
  memberId?: string;
  leaderId?: string;
  version?: string;
  dbSizeBytes?: number;
  members?: EtcdMember[];
  alarms?: string[];
}

/** What a kubeha node's admin API said (`kubeha status`'s verdict), or why it did not. */
export type NodeObservation = { target: string; problems: string[]; warnings: string[]; summary: string } | { target: string; error: string };

export interface DoctorObservations {
  /** kubeha nodes asked through their admin API (--admin), if any. */
  nodes?: NodeObservation[];
  vip: string;
  /** Dual stack: the IPv6 VIP, which every serving certificate must name too. */
  vip6?: string;
  frontendPort: number;
  masters: MasterObservation[];
  /** Several GETs of /readyz through the VIP, to see which apiservers the LB reaches. */
  viaVip: HttpsObservation[];
  etcd: EtcdObservation[] | { skipped: string };
  /** Members the inventory expects (stacked: one per master). */
  expectedEtcdMembers: number;
  /** What was heard on the VIP's segment (absent: the VRRP step was not part of this run). */
  vrrp?: { heard: VrrpObservation; expected: VrrpExpectation };
  nowMs: number;
}

/** The adverts of one sender for one VRID, all alike, heard during the listen window. */
export interface HeardAdvert {
  src: string;
  vrid: number;
  version: 2 | 3;
  priority: number;
  advertIntervalCs: number;
  addresses: string[];
  /** v2 `auth_type PASS` password ('' = none); judged, never printed. */
  authPass: string;
  count: number;
}

/** What the VRRP listen step heard on an interface, or why it did not listen. */
export type VrrpObservation =
  | {
      interface: string;
      listenedMs: number;
      heard: HeardAdvert[];
      /** Protocol-112 packets that were not a readable advert, by the codec's reason. */
      dropped: Record<string, number>;
    }
  | { interface?: string; skipped: string; verdict: 'warn' | 'skip'; fix?: string };

/** What the inventory says the segment should carry. */
export interface VrrpExpectation {
  virtualRouterId: number;
  /** The VRID came from the cluster name (no vrrp.virtualRouterId). */
  derived: boolean;
  vip: string;
  version: 2 | 3;
  advertIntervalCs: number;
  authPass: string;
  unicast: boolean;
  lbHosts: { name: string; ip: string }[];
  /** This host's IPv4 addresses: is it an LB host, does it hold the VIP? */
  localAddresses: string[];
}

const DAY_MS = 86_400_000;
/** Expiry closer than this is a warning: kubeadm's certificates last a year and are forgotten. */
const CERT_WARN_DAYS = 30;
/** The Date header has whole seconds; more than this apart is a real skew. */
const CLOCK_SKEW_WARN_MS = 2000;

const excerpt = (s: string | undefined) => (s ?? '').replace(/\s+/g, ' ').trim().slice(0, 160);

export function readyFinding(what: string, target: string, o: HttpsObservation, down: string): Finding {
  if (o.error) return { check: 'apiserver-ready', target, verdict: 'fail', message: `${what}: no answer (${o.error})`, fix: down };
  if (o.status === 200) return { check: 'apiserver-ready', target, verdict: 'ok', message: `${what}: /readyz 200 in ${o.latencyMs?.toFixed(0)} ms` };
  if (o.status === 401 || o.status === 403) {
    return {
      check: 'apiserver-ready', target, verdict: 'fail',
      message: `${what}: /readyz answers ${o.status} to an anonymous GET, so every load balancer health check fails the same way`,
      fix: 'let /readyz answer without credentials (the default: --anonymous-auth=true with the system:public-info-viewer binding), or give the health check a client certificate',
    };
  }
  // /readyz?verbose lists every check; the [-] ones are the answer.
  const failing = (o.body ?? '').split('\n').filter((l) => l.startsWith('[-]')).map((l) => l.trim());
  return { check: 'apiserver-ready', target, verdict: 'fail', message: `${what}: /readyz ${o.status}: ${failing.length ? failing.join('; ') : excerpt(o.body)}`, fix: 'the failing [-] lines name the part that is not ready (often etcd): fix that; the LB keeps it out meanwhile' };
}

/** Whether a certificate's SANs (as probe.ts normalizes them: `IP:` + canonical text) name `ip`. */
const namesIp = (sans: string[], ip: string) => sans.includes(`IP:${canonicalIp(ip)}`);

/** The serving certificate of a master: it must name every VIP (the IPv6 one too, in dual stack), and be valid and trusted. */
export function certFindings(m: MasterObservation, vips: string[], nowMs: number): Finding[] {
  const c = m.readyz.cert;
  if (!c) return [];
  const out: Finding[] = [];
  for (const vip of vips) {
    if (namesIp(c.sans, vip)) {
      out.push({ check: 'apiserver-cert-vip', target: m.name, verdict: 'ok', message: `the serving certificate covers the VIP ${vip}` });
    } else {
      out.push({
        check: 'apiserver-cert-vip', target: m.name, verdict: 'fail',
        message: `the serving certificate is valid for ${c.sans.join(', ') || 'no SAN at all'}, not the VIP ${vip}: kubectl and kubelets through the VIP fail with "x509: certificate is valid for …, not ${vip}"`,
        fix: `add ${vip} to the apiserver certificate (kubeadm: apiServer.certSANs or --apiserver-cert-extra-sans=${vip}) and reissue it: rm apiserver.{crt,key}; kubeadm init phase certs apiserver`,
      });
    }
  }
  const days = (c.notAfterMs - nowMs) / DAY_MS;
  if (days < 0) out.push({ check: 'apiserver-cert-expiry', target: m.name, verdict: 'fail', message: `the serving certificate expired ${Math.ceil(-days)} days ago`, fix: 'kubeadm certs renew all, then restart the control-plane pods' });
  else if (days < CERT_WARN_DAYS) out.push({ check: 'apiserver-cert-expiry', target: m.name, verdict: 'warn', message: `the serving certificate expires in ${Math.floor(days)} days`, fix: 'kubeadm certs renew all, then restart the control-plane pods' });
  else out.push({ check: 'apiserver-cert-expiry', target: m.name, verdict: 'ok', message: `the serving certificate is valid ${Math.floor(days)} more days` });
  if (c.chainError !== undefined) {
    out.push(c.chainError === null
      ? { check: 'apiserver-cert-chain', target: m.name, verdict: 'ok', message: 'the certificate chain verifies against the given CA' }
      : { check: 'apiserver-cert-chain', target: m.name, verdict: 'fail', message: `the certificate does not verify against the given CA: ${c.chainError}`, fix: 'kubeconfigs carry this CA: reissue the certificate from the cluster CA' });
  }
  return out;
}

function clockFinding(m: MasterObservation): Finding[] {
  const o = m.readyz;
  if (o.peerDateMs === undefined || o.localMidMs === undefined) return [];
  const skew = o.peerDateMs - o.localMidMs;
  // The header truncates to the second: the peer's real time is in [date, date + 1 s).
  const apart = skew > 0 ? skew : Math.max(0, -skew - 1000);
  if (apart > CLOCK_SKEW_WARN_MS) {
    return [{
      check: 'clock-skew', target: m.name, verdict: 'warn',
      message: `its clock is ${(skew / 1000).toFixed(0)} s off this host's`,
      fix: 'run chrony or systemd-timesyncd on every node: skewed clocks break certificate validity, token expiry and etcd lease timing',
    }];
  }
  return [{ check: 'clock-skew', target: m.name, verdict: 'ok', message: 'clock within 2 s of this host' }];
}

export function vipFindings(o: Pick<DoctorObservations, 'vip' | 'frontendPort' | 'masters' | 'viaVip'>): Finding[] {
  const target = `${o.vip}:${o.frontendPort}`;
  const answered = o.viaVip.filter((v) => v.status !== undefined);
  const errors = o.viaVip.filter((v) => v.error).map((v) => v.error!);
  const out: Finding[] = [];
  if (answered.length === 0) {
    out.push({
      check: 'vip-ready', target, verdict: 'fail',
      message: `nothing answers on the VIP in ${o.viaVip.length} tries (${[...new Set(errors)].join(', ')}): the control plane's front door is closed`,
      fix: 'on the LB nodes: kubeha status (is one MASTER? is the frontend listening?), ip -4 addr (who holds the VIP?)',
    });
    return out;
  }
  const notReady = answered.filter((v) => v.status !== 200);
  if (errors.length > 0 || notReady.length > 0) {
    out.push({
      check: 'vip-ready', target, verdict: 'warn',
      message: `${errors.length + notReady.length} of ${o.viaVip.length} requests through the VIP failed (${[...new Set([...errors, ...notReady.map((v) => `/readyz ${v.status}`)])].join(', ')})`,
      fix: 'the load balancer sends some connections to a server that is down or not ready: check its health checks (https /readyz) and kubeha status',
    });
  } else {
    out.push({ check: 'vip-ready', target, verdict: 'ok', message: `${answered.length} of ${o.viaVip.length} requests through the VIP answered /readyz 200` });
  }
  const vipCert = answered.find((v) => v.cert)?.cert;
  if (vipCert && !namesIp(vipCert.sans, o.vip)) {
    out.push({ check: 'vip-cert', target, verdict: 'fail', message: `the certificate served on the VIP does not name ${o.vip} (it names ${vipCert.sans.join(', ')})`, fix: `add ${o.vip} to every apiserver certificate's SANs` });
  }

  // Which apiservers did the VIP reach? TLS passes through an L4 balancer, so the certificate says.
  const byPrint = new Map<string, string[]>();
  for (const m of o.masters) if (m.readyz.cert) byPrint.set(m.readyz.cert.fingerprint, [...(byPrint.get(m.readyz.cert.fingerprint) ?? []), m.name]);
  if ([...byPrint.values()].some((names) => names.length > 1)) {
    out.push({ check: 'vip-spread', target, verdict: 'skip', message: 'the masters share one serving certificate, so the answers through the VIP cannot be told apart' });
    return out;
  }
  const reached = new Set<string>();
  const strangers = new Set<string>();
  for (const v of answered) {
    if (!v.cert) continue;
    const names = byPrint.get(v.cert.fingerprint);
    if (names) reached.add(names[0]!);
    else strangers.add(v.cert.fingerprint.slice(0, 23));
  }
  if (strangers.size > 0) {
    out.push({ check: 'vip-spread', target, verdict: 'warn', message: `the VIP reaches a server that is none of the inventory's masters (certificate ${[...strangers].join(', ')}…)`, fix: 'the load balancer lists a server the inventory does not: an old master, or the wrong port' });
  }
  const readyMasters = o.masters.filter((m) => m.readyz.status === 200).map((m) => m.name);
  const missed = readyMasters.filter((n) => !reached.has(n));
  if (missed.length > 0) {
    out.push({
      check: 'vip-spread', target, verdict: 'warn',
      message: `in ${answered.length} requests the VIP reached ${[...reached].join(', ') || 'no known master'}; ready but never reached: ${missed.join(', ')}`,
      fix: 'missing from the load balancer\'s servers, marked down by its checks, or balance: source (all of this host\'s connections go to one server)',
    });
  } else if (reached.size > 0) {
    out.push({ check: 'vip-spread', target, verdict: 'ok', message: `the VIP reached every ready master: ${[...reached].join(', ')}` });
  }
  return out;
}

function etcdFindings(o: DoctorObservations): Finding[] {
  if (!Array.isArray(o.etcd)) return [{ check: 'etcd', target: 'etcd', verdict: 'skip', message: o.etcd.skipped }];
  const out: Finding[] = [];
  const healthy = o.etcd.filter((e) => !e.error);
  for (const e of o.etcd) {
    if (e.error) out.push({ check: 'etcd-member', target: e.endpoint, verdict: 'fail', message: `no answer: ${e.error}`, fix: 'systemctl status etcd (or the etcd static pod) on that host; its log says why' });
    else out.push({ check: 'etcd-member', target: e.endpoint, verdict: 'ok', message: `etcd ${e.version ?? '?'}, db ${((e.dbSizeBytes ?? 0) / 1048576).toFixed(1)} MiB` });
  }
  if (healthy.length === 0) return out;
  const members = healthy.find((e) => e.members)?.members ?? [];
  const n = members.length;
  const quorum = Math.floor(n / 2) + 1;
  const answering = members.filter((m) => healthy.some((e) => e.memberId === m.id)).length;
  const target = `etcd (${n} members)`;
  if (answering < quorum) out.push({ check: 'etcd-quorum', target, verdict: 'fail', message: `${answering} of ${n} members answer; a quorum needs ${quorum}: etcd refuses writes and the apiservers go unready`, fix: 'bring members back; as a last resort restore from a snapshot (etcdutl snapshot restore)' });
  else if (answering === quorum && n > 1) out.push({ check: 'etcd-quorum', target, verdict: 'warn', message: `${answering} of ${n} members answer: one more failure loses the quorum` });
  else if (answering < n) out.push({ check: 'etcd-quorum', target, verdict: 'warn', message: `${answering} of ${n} members answer` });
  else out.push({ check: 'etcd-quorum', target, verdict: 'ok', message: `all ${n} members answer` });
  if (n % 2 === 0) out.push({ check: 'etcd-members', target, verdict: 'warn', message: `${n} members: an even count tolerates no more failures than ${n - 1}`, fix: `add or remove one member (etcdctl member add/remove)` });
  if (n !== o.expectedEtcdMembers) out.push({ check: 'etcd-members', target, verdict: 'warn', message: `${n} members, the inventory has ${o.expectedEtcdMembers}: ${members.map((m) => m.name || m.id).join(', ')}`, fix: 'etcdctl member list; remove members of hosts that are gone' });
  const leaders = new Set(healthy.map((e) => e.leaderId).filter((l) => l && l !== '0'));
  if (leaders.size === 0) out.push({ check: 'etcd-leader', target, verdict: 'fail', message: 'no member knows a leader', fix: 'the members cannot reach each other on the peer port (2380): check the network and ETCD_INITIAL_CLUSTER' });
  else if (leaders.size > 1) out.push({ check: 'etcd-leader', target, verdict: 'fail', message: `members disagree on the leader (${[...leaders].join(', ')})`, fix: 'a partition between members: check the peer network' });
  else out.push({ check: 'etcd-leader', target, verdict: 'ok', message: `leader ${members.find((m) => m.id === [...leaders][0])?.name || [...leaders][0]}` });
  const alarms = [...new Set(healthy.flatMap((e) => e.alarms ?? []))];
  if (alarms.length > 0) out.push({ check: 'etcd-alarm', target, verdict: 'fail', message: `alarms raised: ${alarms.join(', ')}${alarms.includes('NOSPACE') ? ' (etcd takes no writes)' : ''}`, fix: 'etcdctl compact, etcdctl defrag, raise --quota-backend-bytes, then etcdctl alarm disarm' });
  return out;
}

function nodeFindings(n: NodeObservation): Finding[] {
  const target = `kubeha@${n.target}`;
  if ('error' in n) return [{ check: 'lb-node', target, verdict: 'fail', message: n.error, fix: 'is kubeha running there, with this admin address and token?' }];
  return [
    ...n.problems.map((p): Finding => ({ check: 'lb-node', target, verdict: 'fail', message: p, fix: `kubeha status --admin ${n.target} on that node shows the whole state` })),
    ...n.warnings.map((w): Finding => ({ check: 'lb-node', target, verdict: 'warn', message: w })),
    ...(n.problems.length + n.warnings.length === 0 ? [{ check: 'lb-node', target, verdict: 'ok' as const, message: n.summary }] : []),
  ];
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const vipList = (a: string[]) => (a.length === 0 ? 'no VIP' : `VIP${a.length > 1 ? 's' : ''} ${a.join(', ')}`);
const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** The VRIDs heard, ascending, each with its senders: what a user picking a free VRID needs. */
function vridsInUse(heard: HeardAdvert[]): Map<number, HeardAdvert[]> {
  const by = new Map<number, HeardAdvert[]>();
  for (const h of [...heard].sort((x, y) => x.vrid - y.vrid)) by.set(h.vrid, [...(by.get(h.vrid) ?? []), h]);
  return by;
}

/** The lowest VRID nobody was heard using (a suggestion: a unicast pair elsewhere is inaudible). */
function freeVrid(inUse: Map<number, unknown>, ours: number): number | undefined {
  for (let id = 1; id <= 255; id++) if (id !== ours && !inUse.has(id)) return id;
  return undefined;
}

/**
 * The VRRP findings, pure: the adverts heard on the VIP's segment against the inventory. A sender
 * of our VRID that is no LB host is another cluster (or a firewall pair) on the same L2 segment:
 * RFC 5798 §6.4.3 makes the two fight over one virtual router and its MAC (00-00-5E-00-01-VRID).
 */
export function assessVrrp(o: VrrpObservation, want: VrrpExpectation): Finding[] {
  const ours = want.virtualRouterId;
  if ('skipped' in o) return [{ check: 'vrrp-listen', target: o.interface ?? 'vrrp', verdict: o.verdict, message: o.skipped, ...(o.fix ? { fix: o.fix } : {}) }];
  const out: Finding[] = [];
  const inUse = vridsInUse(o.heard);
  const listed = [...inUse.keys()].join(', ');
  const free = freeVrid(inUse, ours);
  const derived = want.derived ? ' (derived from the cluster name)' : '';
  const lbByIp = new Map(want.lbHosts.map((h) => [h.ip, h.name]));
  const mine = inUse.get(ours) ?? [];

  for (const h of mine.filter((x) => !lbByIp.has(x.src))) {
    out.push({
      check: 'vrrp-foreign-vrid-user', target: h.src, verdict: 'fail',
      message: `${h.src} advertises VRID ${ours}${derived} (priority ${h.priority}, ${vipList(h.addresses)}) but is not an LB host of this inventory: two clusters on one L2 segment share the VRID, and their routers fight over one virtual MAC and each other's VIP`,
      fix: `set vrrp.virtualRouterId to a free one${free ? `, e.g. ${free}` : ''} (seen in use on ${o.interface}: ${listed}), then kubeha render and redeploy the LB hosts' configs; or renumber the other router`,
    });
  }
  const wantVips = [want.vip];
  const lbSenders = mine.filter((x) => lbByIp.has(x.src));
  for (const h of lbSenders) {
    const name = lbByIp.get(h.src)!;
    const wrong: string[] = [];
    if (!sameSet(h.addresses, wantVips)) wrong.push(`${vipList(h.addresses)} where the inventory has VIP ${want.vip}`);
    if (h.version !== want.version) wrong.push(`VRRP v${h.version} where the inventory has v${want.version}`);
    // RFC 3768 §7.1: a v2 receiver drops an advert with another interval; v3 learns the master's.
    else if (h.version === 2 && h.advertIntervalCs !== want.advertIntervalCs) wrong.push(`an advert interval of ${h.advertIntervalCs * 10} ms where the inventory has ${want.advertIntervalCs * 10} ms (v2 peers drop each other's adverts)`);
    if (h.version === 2 && h.authPass !== want.authPass) wrong.push(want.authPass ? 'another password than vrrp.authPass' : 'a password the inventory does not set');
    if (wrong.length > 0) {
      out.push({
        check: 'vrrp-advert-mismatch', target: name, verdict: 'fail',
        message: `${h.src} advertises VRID ${ours} with ${wrong.join('; ')}`,
        fix: `its VRRP config is not the one this inventory renders: kubeha render and redeploy it on ${name}`,
      });
    } else {
      out.push({ check: 'vrrp-vrid', target: name, verdict: 'ok', message: `${h.src} advertises VRID ${ours} as master (priority ${h.priority}, VIP ${want.vip}, v${h.version} every ${h.advertIntervalCs * 10} ms): ${h.count} adverts in ${seconds(o.listenedMs)}` });
    }
  }
  // Backups are silent; a master hears a better one and yields within an interval. Two senders
  // throughout the window are two masters: a split brain.
  const steady = [...new Set(lbSenders.filter((h) => h.count >= 2).map((h) => h.src))];
  if (steady.length > 1) {
    out.push({
      check: 'vrrp-vrid', target: `VRID ${ours}`, verdict: 'warn',
      message: `${steady.map((ip) => lbByIp.get(ip)).join(', ')} all advertise as master: they do not hear each other (a partition, a firewall dropping protocol 112, or unicast peers that are wrong), or a failover ran during the listen`,
      fix: 'kubeha status on each; the one that should be backup names the master it hears',
    });
  }
  if (lbSenders.length === 0) {
    const me = want.lbHosts.find((h) => want.localAddresses.includes(h.ip));
    if (me && want.localAddresses.includes(want.vip)) {
      out.push({ check: 'vrrp-vrid', target: me.name, verdict: 'ok', message: `this host holds the VIP ${want.vip}: it is the master of VRID ${ours}, and its own adverts do not come back to it` });
    } else if (want.unicast && !me) {
      out.push({ check: 'vrrp-vrid', target: `VRID ${ours}`, verdict: 'skip', message: `unicast VRRP: the adverts of VRID ${ours} go to the LB hosts only, so this host cannot hear them (run doctor on an LB host to see them)` });
    } else {
      out.push({
        check: 'vrrp-vrid', target: `VRID ${ours}`, verdict: 'warn',
        message: `no LB host advertised VRID ${ours} on ${o.interface} in ${seconds(o.listenedMs)}: no master is running VRRP on this segment${me ? '' : ', or this host is not on the VIP\'s segment'}`,
        fix: `kubeha status (or journalctl -u keepalived) on the LB hosts: is one MASTER? tcpdump -ni ${o.interface} ip proto 112 shows what the wire carries`,
      });
    }
  }
  const others = [...inUse].filter(([id]) => id !== ours);
  const dropped = Object.entries(o.dropped).filter(([, n]) => n > 0);
  const unreadable = dropped.length ? `; ${dropped.reduce((n, [, c]) => n + c, 0)} unreadable protocol-112 packets (${dropped.map(([r, n]) => `${r} ${n}`).join(', ')})` : '';
  out.push({
    check: 'vrrp-vrids-in-use', target: o.interface, verdict: 'ok',
    message: others.length === 0
      ? `no other VRID heard on ${o.interface} in ${seconds(o.listenedMs)} (ours is ${ours})${unreadable}`
      : `other VRIDs in use on ${o.interface}: ${others.map(([id, hs]) => `${id} (${hs.map((h) => `${h.src}: ${vipList(h.addresses)}`).join('; ')})`).join(', ')}; ours is ${ours}${free ? `, the lowest free one ${free}` : ''}${unreadable}`,
  });
  return out;
}

/** Every finding: the kubeha nodes asked, the apiservers, the VIP, etcd, then VRRP on the segment. */
export function assess(o: DoctorObservations): Finding[] {
  const out: Finding[] = (o.nodes ?? []).flatMap(nodeFindings);
  for (const m of o.masters) {
    out.push(readyFinding(`${m.name} ${m.readyz.target}`, m.name, m.readyz, `is kube-apiserver running on ${m.readyz.target}? (crictl ps, journalctl -u kubelet)`));
    out.push(...certFindings(m, [o.vip, ...(o.vip6 ? [o.vip6] : [])], o.nowMs), ...clockFinding(m));
  }
  out.push(...vipFindings(o), ...etcdFindings(o));
  if (o.vrrp) out.push(...assessVrrp(o.vrrp.heard, o.vrrp.expected));
  return out;
}
