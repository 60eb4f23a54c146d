// The rollout's hands (rollout.ts decides, this does): files pushed and units run over each host's
// SSH session, gates observed and asked again until they pass or their time is up. etcd's health
// comes from etcdctl on a master, a node's Lease from kubectl with admin.conf on a master (kubeadm
// puts both there), the apiservers and the VIP are asked over HTTPS from here, as `kubeha doctor`
// asks them.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Plan } from '../plan/inventory.js';
import { etcdLocalClientUrl, etcdPeerUrl } from '../plan/render-etcd.js';
import { httpsGet } from '../doctor/probe.js';
import { tcpProbe } from '../health/tcp-probe.js';
import type { MasterObservation } from '../doctor/assess.js';
import type { UnitChange } from './change-plan.js';
import { WORKER_UNITS } from './dry-run.js';
import { addedMemberId, apiserverGate, etcdHealthyGate, lbBootstrapGate, lbGate, leaderHandOff, leaseGate, parseEtcdHealth, type GateVerdict, type MemberHealth } from './gates.js';
import { STATE_DIR } from './journal.js';
import { journal, keepForRollback, pushFile, rollbackHost } from './push.js';
import type { GateKind, KubeconfigWrite, RolloutDriver } from './rollout.js';
import { shellQuote } from './shell-quote.js';
import type { SshSession } from './ssh-transport.js';

/** Options of the SSH driver. */
export interface DriverOptions {
  runId: string;
  /** How long a gate may take before it fails (default 90 s). */
  gateTimeoutMs: number;
  /** Between two looks at a gate. */
  pollMs: number;
  log: (line: string) => void;
  /** The release package to install on LB hosts (--kubeha-package) and the `kubeha version` line it holds. */
  kubehaPackage?: { file: string; release: string };
}

/** What the run did to a unit: a systemctl action, or a SIGUSR2 handover onto a new kubeha. */
type UnitTouch = UnitChange['action'] | 'handover';

/** What a release package replaces on a host (scripts/package.mjs): the wrapper and the current-release link. */
const KUBEHA_PROGRAM = ['/usr/bin/kubeha', '/opt/kubeha/current'];

/** The admin kubeconfig kubeadm writes on every master (and the one the Lease gate reads with). */
const ADMIN_KUBECONFIG = '/etc/kubernetes/admin.conf';

/** A driver over open sessions (one per reachable host, named by inventory name). */
export function sshDriver(plan: Plan, sessions: Map<string, SshSession>, o: DriverOptions): RolloutDriver {
  const session = (host: string) => {
    const s = sessions.get(host);
    if (!s) throw new Error(`${host}: no connection`);
    return s;
  };
  /** Runs a command that must succeed; its output. */
  const must = async (host: string, cmd: string, what: string) => {
    const r = await session(host).exec(cmd);
    if (r.code !== 0) throw new Error(`${host}: ${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-600)}`);
    return r.stdout;
  };
  /** Units this run started, reloaded, restarted or handed over, per host (rollback restarts or stops them). */
  const touched = new Map<string, Map<string, UnitTouch>>();
  const touch = (host: string, unit: string, action: UnitTouch) => {
    const t = touched.get(host) ?? new Map<string, UnitTouch>();
    t.set(unit, t.get(unit) === 'start' ? 'start' : action);
    touched.set(host, t);
  };
  let packageBytes: Buffer | undefined;
  /** Members this run added as learners, not promoted yet: their id, and the member and endpoints to promote them through. */
  const learners = new Map<string, { id: string; via: string; endpoints: string[] }>();
  /** Each worker's clock when its kubelet was last restarted by this run. */
  const restartedAt = new Map<string, number>();
  const masters = plan.inv.masters.filter((m) => sessions.has(m.name));
  const lbHosts = plan.lbHosts.filter((h) => sessions.has(h.name));
  const addressOf = (host: string) => [...plan.inv.masters, ...plan.lbHosts, ...plan.inv.workers].find((h) => h.name === host)!.ip;

  /** etcdctl's endpoints flag for every member of the plan. */
  const everyMember = `--endpoints=${shellQuote(plan.etcdEndpoints.join(','))}`;
  /** The client URL of a stacked member: the endpoints are in the masters' order. */
  const etcdEndpointOf = (master: string): string | undefined => plan.etcdEndpoints[plan.inv.masters.findIndex((m) => m.name === master)];

  const etcdMembers = async (): Promise<MemberHealth[]> => {
    const names = new Map(plan.inv.masters.map((m) => [etcdEndpointOf(m.name)!, m.name]));
    const m = masters[0];
    if (!m) return [...names.values()].map((name) => ({ name, healthy: false, detail: 'no master reachable to ask' }));
    const r = await session(m.name).exec(`${etcdctl(`${everyMember} endpoint health -w json`)} 2>/dev/null`);
    if (r.code === 127) throw new Error(`${m.name}: no etcdctl on PATH: apply asks etcd's health with it (Debian: apt install etcd-client)`);
    return parseEtcdHealth(r.stdout, names);
  };
  /** etcdctl on the first master whose etcd runs, with the inventory's TLS files. */
  const etcdctl = (args: string) => {
    const pki = plan.inv.etcd.pkiDir;
    // kubeadm's healthcheck client when there is one, else the member's server certificate (kubeadm issues it for client auth too)
    const tls = plan.inv.etcd.tls ? `c=${shellQuote(pki)}/healthcheck-client; [ -f "$c.crt" ] || c=${shellQuote(pki)}/server; set -- --cacert=${shellQuote(`${pki}/ca.crt`)} --cert="$c.crt" --key="$c.key"; ` : 'set --; ';
    return `${tls}ETCDCTL_API=3 etcdctl "$@" --dial-timeout=2s --command-timeout=5s ${args}`;
  };
  /** The LB hosts that hold `vip` (the VIP, or with dual stack the IPv6 VIP) now. */
  const vipHolders = async (vip = plan.vipAddress) => (await Promise.all(lbHosts.map(async (h) => ((await session(h.name).exec(`ip ${vip.includes(':') ? '-6' : '-4'} -o addr show to ${shellQuote(vip)}`)).stdout.trim() ? [h.name] : [])))).flat();
  /** The VIPs every apiserver certificate must name. */
  const certVips = [plan.vipAddress, ...(plan.vip6Address ? [plan.vip6Address] : [])];
  const masterObservation = async (m: { name: string; ip: string }): Promise<MasterObservation> => ({ name: m.name, ip: m.ip, readyz: await httpsGet(m.ip, plan.inv.apiserverPort, '/readyz?verbose', { timeoutMs: 3000 }) });

  const looks: Record<GateKind, (host: string) => Promise<GateVerdict>> = {
    'etcd-cluster': async () => etcdHealthyGate(await etcdMembers()),
    'etcd-member': async (host) => {
      const learner = learners.get(host);
      if (learner) {
        const r = await session(learner.via).exec(`${etcdctl(`--endpoints=${shellQuote(learner.endpoints.join(','))} member promote ${learner.id}`)} 2>&1`);
        if (r.code !== 0) return { pass: false, detail: `${host} is a learner still catching up with the leader: ${r.stdout.trim().split('\n').pop()}` };
        learners.delete(host);
        o.log(`${host}: etcd learner ${learner.id} promoted to a voting member`);
      }
      return etcdHealthyGate(await etcdMembers(), host);
    },
    apiserver: async (host) => apiserverGate(await masterObservation({ name: host, ip: addressOf(host) }), certVips, Date.now()),
    lb: async (host) => {
      const [local, holders, holders6, masterObs] = await Promise.all([
        httpsGet(addressOf(host), plan.frontendPort, '/readyz', { timeoutMs: 3000 }),
        vipHolders(),
        plan.vip6Address ? vipHolders(plan.vip6Address) : Promise.resolve([]),
        Promise.all(plan.inv.masters.map(masterObservation)),
      ]);
      const viaVip = [];
      // one at a time, each on a new connection: round robin shows each apiserver in turn
      for (let i = 0; i < 3 * plan.inv.masters.length; i++) viaVip.push(await httpsGet(plan.vipAddress, plan.frontendPort, '/readyz', { timeoutMs: 3000 }));
      return lbGate({ host, local, holders, masters: masterObs, viaVip, vip: plan.vipAddress, frontendPort: plan.frontendPort, ...(plan.vip6Address ? { vip6: { address: plan.vip6Address, holders: holders6 } } : {}) });
    },
    'lb-bootstrap': async (host) => {
      const target = `${addressOf(host)}:${plan.frontendPort}`;
      const [listen, holders] = await Promise.all([tcpProbe({ host: addressOf(host), port: plan.frontendPort }, AbortSignal.timeout(3000)), vipHolders()]);
      return lbBootstrapGate({ host, target, listenError: listen.ok ? undefined : listen.detail, holders, vip: plan.vipAddress });
    },
    worker: async (host) => {
      const since = restartedAt.get(host);
      if (since === undefined) return { pass: false, detail: `${host}: its kubelet was not restarted by this run` };
      const m = masters[0];
      if (!m) return { pass: false, detail: 'no master reachable to read the node Lease from' };
      const r = await session(m.name).exec(`kubectl --kubeconfig=${ADMIN_KUBECONFIG} --request-timeout=5s get --raw /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${shellQuote(host)}`);
      if (r.code === 127) return { pass: false, detail: `${m.name}: no kubectl on PATH to read ${host}'s Lease with ${ADMIN_KUBECONFIG}` };
      return leaseGate(r.code === 0 ? r.stdout : r.stderr || r.stdout, host, since);
    },
  };

  const runUnits = async (host: string, units: UnitChange[], noBlock = false) => {
    if (units.some((u) => u.daemonReload)) await must(host, 'systemctl daemon-reload', 'systemctl daemon-reload');
    for (const u of units) {
      const unit = shellQuote(u.name);
      // start also enables: the host comes back with it after a reboot
      const cmd = u.action === 'start' ? `systemctl enable --quiet ${unit} 2>/dev/null; systemctl start ${noBlock ? '--no-block ' : ''}${unit}` : `systemctl ${u.action} ${unit}`;
      const r = await session(host).exec(cmd, { timeoutMs: o.gateTimeoutMs });
      o.log(`${host}: ${u.daemonReload ? 'daemon-reload, ' : ''}${u.action} ${u.name}${r.code === 0 ? '' : ' FAILED'} (${u.because.join('; ')})`);
      await journal(session(host), { run: o.runId, step: 'unit', unit: u.name, result: r.code === 0 ? u.action : `${u.action} failed` });
      touch(host, u.name, u.action);
      if (r.code !== 0) {
        // the unit's own last words (systemctl status would show the next restart attempt starting)
        const why = await session(host).exec(`journalctl -u ${unit} -n 8 --no-pager -o cat 2>&1`);
        throw new Error(`${host}: systemctl ${u.action} ${u.name} failed; its journal ends: ${why.stdout.trim().split('\n').join(' | ')} [KUBEHA_ERR_APPLY_UNIT]`);
      }
    }
  };
  const restartWorker = async (host: string) => {
    const units = WORKER_UNITS.map(shellQuote).join(' ');
    // the host's clock first: a Lease renewed after it came from the restarted kubelet
    const out = await must(host, `date +%s%3N; for u in ${units}; do if [ "$u" = kubelet ] || systemctl is-active --quiet "$u"; then systemctl restart "$u" || exit 1; fi; done`, `restarting ${WORKER_UNITS.join(' and ')}`);
    restartedAt.set(host, Number(out.split('\n')[0]));
    await journal(session(host), { run: o.runId, step: 'unit', unit: WORKER_UNITS.join(','), result: 'restart' });
  };

  /** SIGUSR2 to a running kubeha, then waits for systemd's main PID to move to the successor. */
  const handOver = async (host: string): Promise<boolean> => {
    const s = session(host);
    if ((await s.exec('systemctl is-active --quiet kubeha')).code !== 0) return false;
    const mainPid = async () => Number((await s.exec('systemctl show -p MainPID --value kubeha')).stdout.trim());
    const old = await mainPid();
    await must(host, 'systemctl kill --kill-whom=main --signal=SIGUSR2 kubeha', 'SIGUSR2 to kubeha');
    const deadline = Date.now() + o.gateTimeoutMs;
    for (let now = old; now === old || now === 0; now = await mainPid()) {
      if (Date.now() > deadline) throw new Error(`${host}: kubeha did not hand over to a successor in ${Math.round(o.gateTimeoutMs / 1000)} s (journalctl -u kubeha) [KUBEHA_ERR_APPLY_UNIT]`);
      await sleep(o.pollMs);
    }
    await journal(s, { run: o.runId, step: 'unit', unit: 'kubeha', result: 'handover' });
    o.log(`${host}: kubeha restarted without a gap (SIGUSR2) onto the program now installed`);
    return true;
  };

  return {
    async etcdAddMember(host) {
      const m = plan.inv.masters.find((x) => x.name === host)!;
      const peerUrl = etcdPeerUrl(plan, m);
      // ask a member that runs: the founders, then the joiners before this one
      const others = plan.inv.masters.filter((x) => x.name !== host && sessions.has(x.name));
      for (const o2 of others) {
        const s = session(o2.name);
        const list = await s.exec(`${etcdctl(`--endpoints=${shellQuote(etcdLocalClientUrl(plan))} member list -w json`)} 2>/dev/null`);
        if (list.code !== 0) continue;
        const members = (JSON.parse(list.stdout) as { members?: { name?: string; peerURLs?: string[]; clientURLs?: string[] }[] }).members ?? [];
        if (members.some((x) => x.name === host || x.peerURLs?.includes(peerUrl))) return `${host} is a member already`;
        const urls = members.flatMap((x) => x.clientURLs ?? []);
        const health = await s.exec(`${etcdctl(`--endpoints=${shellQuote(urls.join(','))} endpoint health -w json`)} 2>/dev/null`);
        const sick = parseEtcdHealth(health.stdout, new Map(urls.map((u, i) => [u, members.find((x) => x.clientURLs?.includes(u))?.name ?? `member${i}`]))).filter((x) => !x.healthy);
        if (sick.length > 0) throw new Error(`${host} is not added to etcd while a member is not healthy (${sick.map((x) => x.detail).join('; ')}): a new member would raise the quorum of a cluster that cannot reach it`);
        // as a learner: it does not count for the quorum until it caught up and is promoted (the gate does that),
        // so the cluster never waits on a member that is still starting
        const add = await s.exec(`${etcdctl(`--endpoints=${shellQuote(urls.join(','))} member add ${shellQuote(host)} --learner --peer-urls=${shellQuote(peerUrl)}`)} 2>&1`);
        const id = addedMemberId(add.stdout);
        if (add.code !== 0 || !id) throw new Error(`${o2.name}: etcdctl member add ${host} failed: ${add.stdout.trim().slice(-400)}`);
        learners.set(host, { id, via: o2.name, endpoints: urls });
        await journal(s, { run: o.runId, step: 'etcd-member-add', member: host, id, peerUrl, learner: true });
        return `added as a learner (${id}) to the cluster of ${members.length} (${members.map((x) => x.name).join(', ')}) with ${peerUrl}; promoted once it caught up`;
      }
      throw new Error(`${host} cannot join etcd: no other master answers etcdctl member list`);
    },
    async apiserversAnswering() {
      const seen = await Promise.all(plan.inv.masters.map(async (m) => ((await httpsGet(m.ip, plan.inv.apiserverPort, '/readyz', { timeoutMs: 3000 })).status !== undefined ? [m.name] : [])));
      return seen.flat();
    },
    async installKubeha(host) {
      const pkg = o.kubehaPackage;
      if (!pkg) throw new Error(`${host}: no kubeha package given (--kubeha-package)`);
      packageBytes ??= await readFile(pkg.file);
      const s = session(host);
      const remote = `${STATE_DIR}/packages/${basename(pkg.file)}`;
      const q = shellQuote(remote);
      const up = await s.exec(`mkdir -p ${STATE_DIR}/packages && cat > ${q}.part && sha256sum < ${q}.part | cut -d' ' -f1 && mv -f ${q}.part ${q}`, { stdin: packageBytes, timeoutMs: 600_000 });
      if (up.code !== 0 || up.stdout.trim() !== createHash('sha256').update(packageBytes).digest('hex')) throw new Error(`${host}: uploading ${basename(pkg.file)} failed: ${up.stderr.trim() || 'hash mismatch'}`);
      await keepForRollback(s, o.runId, KUBEHA_PROGRAM);
      // existing folders (/usr/bin) keep their own mode and times
      await must(host, `tar --no-overwrite-dir -xzf ${q} -C /`, `unpacking ${basename(pkg.file)}`);
      const now = (await must(host, 'kubeha version', 'kubeha version')).trim();
      if (now !== pkg.release) throw new Error(`${host}: after unpacking, kubeha version says "${now}", not "${pkg.release}"`);
      await journal(s, { run: o.runId, step: 'kubeha', result: now });
      o.log(`${host}: installed ${now}`);
    },
    async handOverKubeha(host) {
      if (await handOver(host)) touch(host, 'kubeha', 'handover');
    },
    async push(host, files) {
      for (const f of files) {
        const done = await pushFile(session(host), o.runId, f);
        o.log(`${host}: ${done} ${f.path}`);
      }
    },
    units: (host, units, u) => runUnits(host, units, u?.noBlock),
    async moveWorker(host, kubeconfigs: KubeconfigWrite[]) {
      for (const k of kubeconfigs) {
        await pushFile(session(host), o.runId, k);
        o.log(`${host}: ${k.path} now on ${plan.endpoint}`);
      }
      await restartWorker(host);
    },
    async rollback(host) {
      const s = session(host);
      const units = [...(touched.get(host) ?? new Map<string, UnitTouch>())];
      const did: string[] = [];
      // a unit this run started from nothing goes back to not running (while its unit file is still there) ...
      for (const [unit] of units.filter(([, a]) => a === 'start')) {
        await must(host, `systemctl disable --quiet --now ${shellQuote(unit)}`, `stopping ${unit}`);
        did.push(`${unit} stopped`);
      }
      const restored = await rollbackHost(s, o.runId);
      await must(host, 'systemctl daemon-reload', 'systemctl daemon-reload');
      // ... the others get their old files again
      for (const [unit, action] of units.filter(([, a]) => a !== 'start')) {
        if (action === 'handover') await handOver(host);
        else await must(host, `systemctl ${action === 'reload' ? 'reload-or-restart' : 'restart'} ${shellQuote(unit)}`, `restarting ${unit}`);
        did.push(`${unit} ${action === 'handover' ? 'handed back to the old program' : 'restarted'}`);
      }
      if (restartedAt.has(host)) {
        await restartWorker(host);
        did.push(`${WORKER_UNITS.join(', ')} restarted`);
      }
      return `${restored.length ? restored.join(', ') : 'no file'} put back${did.length ? `; ${did.join(', ')}` : ''}`;
    },
    async done(host) {
      await journal(session(host), { run: o.runId, step: 'done' });
      // what passed its gate is kept: a later rollback on this host restarts only what came after
      touched.delete(host);
    },
    etcdMembers,
    async etcdHandOffLeadership(host) {
      const endpoint = etcdEndpointOf(host);
      const via = masters[0];
      if (!endpoint || !via) return undefined;
      try {
        // (an endpoint that does not answer is left out of the output: etcdctl exits 1 then)
        const status = await session(via.name).exec(`${etcdctl(`${everyMember} endpoint status -w simple`)} 2>/dev/null`);
        const handOff = leaderHandOff(status.stdout, endpoint);
        if (!handOff) return undefined;
        if (!handOff.to) return `etcd: this member leads and no other voting member answered: its restart costs an election`;
        const moved = await session(via.name).exec(`${etcdctl(`--endpoints=${shellQuote(endpoint)} move-leader ${handOff.to}`)} 2>&1`);
        return moved.code === 0
          ? `etcd: leadership moved from ${handOff.leaderId} to ${handOff.to} before the restart`
          : `etcd: moving the leadership off this member failed (${moved.stdout.trim().split('\n').pop()}): its restart costs an election`;
      } catch (err) {
        return `etcd: the leadership could not be handed off (${err instanceof Error ? err.message : String(err)}): its restart costs an election`;
      }
    },
    async gate(host, kind) {
      o.log(`${host}: ${kind} gate (up to ${Math.round(o.gateTimeoutMs / 1000)} s)`);
      const deadline = Date.now() + o.gateTimeoutMs;
      for (;;) {
        let v: GateVerdict;
        try {
          v = await looks[kind](host);
        } catch (err) {
          v = { pass: false, detail: err instanceof Error ? err.message : String(err) };
        }
        if (v.pass || Date.now() + o.pollMs > deadline) return v.pass ? v : { pass: false, detail: `${v.detail} (after ${Math.round(o.gateTimeoutMs / 1000)} s)` };
        await sleep(o.pollMs);
      }
    },
    log: o.log,
  };
}

