// The full-stack demo inside its private namespaces (cli/demo.ts starts this process there through
// `unshare`; as PID 1 of its own PID namespace, everything it starts ends with it): builds the stage
// (stage-plan.ts), runs three stand-in apiservers, two real `kubeha run` LB nodes floating the VIP
// with VRRP, a client loop through the VIP, watches both nodes, runs the chaos steps one at a time,
// and serves the story dashboard and relays to the VIP and the admin APIs on Unix sockets in the
// folder the outer process relays 127.0.0.1 ports from.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { openSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { SimApiserver } from '../sim/apiserver.js';
import { selfSignedCert, type CertPair } from '../sim/self-signed.js';
import { clientWindow, type ClientWindow } from './client-record.js';
import { startClientLoop } from './client-loop.js';
import { relay } from './relay.js';
import { lbConfig, networkCommands, STAGE, type StageLb } from './stage-plan.js';
import { storyPage } from './story-page.js';
import { RELAY_ENV, STAGE_ENV } from './full-stack.js';

const run = promisify(execFile);
const KUBEHA_BIN = fileURLToPath(new URL('../../../bin/kubeha.js', import.meta.url));

/** What the outer process passes in (environment KUBEHA_DEMO_STAGE, JSON). */
export interface StageOptions {
  dir: string;
  /** The 127.0.0.1 ports the outer process relays, for the banner. */
  ports: { vip: number; dashboard: number; admin: number[] };
  chaos: boolean;
  chaosIntervalMs: number;
  /** Stop after this many rounds of every chaos step (undefined: until stopped). */
  chaosRounds?: number;
  forMs?: number;
  quiet: boolean;
}

/** Requests per second of the client loop (one new TLS connection each: a VIP move shows at once). */
const CLIENT_RPS = 50;
const PERIOD_MS = 1000 / CLIENT_RPS;

/** One LB node as the demo sees it: its process, and what its admin API and its interface say. */
interface NodeView {
  name: string;
  ip: string;
  priority: number;
  process: 'running' | 'killed' | 'stopped';
  admin: 'ok' | 'unreachable';
  vrrp: string | null;
  effectivePriority: number | null;
  /** The VIP is on its interface (the kernel's word, not kubeha's). */
  holdsVip: boolean;
  /** The apiservers as this node's health checks see them. */
  servers: Record<string, 'up' | 'down'>;
}

/** One line of the story: a chaos step (with what the client saw), a VRRP move, a server seen down or up. */
export interface StoryEvent {
  at: string;
  kind: 'chaos' | 'vrrp' | 'server' | 'note';
  text: string;
  result?: ChaosResult;
}

/** What one chaos step did to the client, and where the VIP went. */
export interface ChaosResult extends ClientWindow {
  step: string;
  vipBefore: string;
  vipAfter: string;
  target: string;
  met: boolean;
}

/** The story dashboard's JSON (GET /api/demo). */
export interface StoryState {
  vip: string;
  port: number;
  nodes: NodeView[];
  apiservers: { name: string; ip: string; running: boolean }[];
  client: { rps: number; ok: number; failed: number; successRate: number | null; lastFailover: ChaosResult | null };
  holders: string[];
  chaos: { on: boolean; step: string | null };
  events: StoryEvent[];
}

const clock = () => new Date().toTimeString().slice(0, 8);

/** One stand-in apiserver on its own stage address, stopped and started by chaos. */
class StageMaster {
  sim: SimApiserver | undefined;
  running = false;
  constructor(readonly name: string, readonly ip: string, private readonly tls: CertPair) {}

  async start(): Promise<void> {
    this.sim = new SimApiserver({ name: this.name, host: this.ip, port: STAGE.port, tls: this.tls, shutdownDelayMs: 1500, watchGraceMs: 500, failReadyz: false, latencyMs: 0, blackhole: false });
    await this.sim.start();
    this.running = true;
  }

  crash(): void {
    this.running = false;
    this.sim?.stop();
  }

  /** As a real apiserver on SIGTERM: /readyz fails first, the listener closes after the shutdown delay. */
  async terminate(): Promise<void> {
    this.running = false;
    await this.sim?.shutdown();
    this.sim?.stop();
  }
}

/** One LB node: `kubeha run` in its own network namespace. */
class StageNode {
  proc: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  view: NodeView;
  constructor(readonly lb: StageLb, private readonly dir: string) {
    this.view = { name: lb.name, ip: lb.ip, priority: lb.priority, process: 'stopped', admin: 'unreachable', vrrp: null, effectivePriority: null, holdsVip: false, servers: {} };
  }

  /** The Unix socket a relay in the node's namespace connects to its admin API (127.0.0.1 there). */
  get adminSocket(): string {
    return join(this.dir, `${this.lb.name}-admin.sock`);
  }

  /** The relay of the admin API: a process in the node's namespace, for as long as the stage runs. */
  startAdminRelay(): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.lb.name, process.execPath, KUBEHA_BIN, 'demo'], {
      stdio: ['pipe', 'ignore', 'inherit'],
      env: { ...process.env, [STAGE_ENV]: '', [RELAY_ENV]: JSON.stringify({ from: { path: this.adminSocket }, to: { host: '127.0.0.1', port: STAGE.adminPort } }) },
    });
  }

  start(): void {
    const home = join(this.dir, this.lb.name);
    mkdirSync(join(home, 'state'), { recursive: true });
    const config = join(home, 'kubeha.yaml');
    writeFileSync(config, stringify(lbConfig(STAGE, this.lb, join(home, 'state'))));
    const log = openSync(join(home, 'kubeha.log'), 'a');
    const proc = spawn('ip', ['netns', 'exec', this.lb.name, process.execPath, KUBEHA_BIN, 'run', '--config', config], { stdio: ['ignore', log, log] });
    this.proc = proc;
    this.view.process = 'running';
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
  }

  async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    this.view.process = signal === 'SIGKILL' ? 'killed' : 'stopped';
    this.proc?.kill(signal);
    await this.exited;
  }

  /** Asks the node's admin API. */
  admin(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath: this.adminSocket, path, method, timeout: 800, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body ? JSON.stringify(body) : undefined);
    });
  }
}

/** The VIP holders by interface: one `ip` call reads every LB namespace's addresses. */
async function vipHolders(): Promise<Set<string>> {
  // a namespace whose `ip` fails makes the whole call fail: its output is still good for the others
  const { stdout } = await run('ip', ['-all', 'netns', 'exec', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const holders = new Set<string>();
  let ns = '';
  for (const line of stdout.split('\n')) {
    const m = /^netns: (\S+)/.exec(line);
    if (m) ns = m[1]!;
    else if (ns && line.includes(` ${STAGE.vip}/`)) holders.add(ns);
  }
  return holders;
}

/** The chaos steps, in the order they run: each acts, is observed, is restored, and is judged against its target. */
interface ChaosStep {
  name: string;
  /** What the step does, said before it does it. */
  act(): Promise<string>;
  restore(): Promise<void>;
  target: string;
  met(w: ClientWindow): boolean;
}

export async function runStage(o: StageOptions): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  await run('mount', ['-t', 'tmpfs', 'kubeha-demo', '/run']);
  for (const args of networkCommands(STAGE)) await run('ip', args);

  const tls = await selfSignedCert('kubeha-demo', [...STAGE.masters.map((m) => `IP:${m.ip}`), `IP:${STAGE.vip}`, 'DNS:localhost']);
  const masters = STAGE.masters.map((m) => new StageMaster(m.name, m.ip, tls));
  await Promise.all(masters.map((m) => m.start()));
  const nodes = STAGE.lbs.map((lb) => new StageNode(lb, o.dir));
  const adminRelays = nodes.map((n) => n.startAdminRelay());
  // the higher priority first, so that it is the one the story starts with
  nodes[0]!.start();

  let stopping = false;
  let currentStep: string | null = null;
  const events: StoryEvent[] = [];
  const say = (kind: StoryEvent['kind'], text: string, result?: ChaosResult) => {
    const e: StoryEvent = { at: clock(), kind, text, ...(result ? { result } : {}) };
    events.push(e);
    if (events.length > 200) events.shift();
    if (!process.stdout.isTTY && !o.quiet) out(`event ${e.at} ${text}`);
  };
  let holders = new Set<string>();
  // one poll at a time (the timer's and a waiter's share it): a change is seen and told once
  let polling: Promise<void> | undefined;
  const poll = () => (polling ??= pollOnce().finally(() => (polling = undefined)));
  const pollOnce = async () => {
    holders = await vipHolders();
    await Promise.all(nodes.map(async (n) => {
      const v = n.view;
      v.holdsVip = holders.has(v.name);
      if (v.process !== 'running') {
        Object.assign(v, { admin: 'unreachable', vrrp: null, effectivePriority: null });
        return;
      }
      try {
        const r = await n.admin('GET', '/api/v1/state');
        const state = JSON.parse(r.body) as { vrrp?: { state: string; effectivePriority: number }[]; backends?: { servers: { name: string; state: 'up' | 'down' }[] }[] };
        const vi = state.vrrp?.[0];
        const vrrp = vi?.state.toUpperCase() ?? null;
        if (vrrp && v.vrrp && vrrp !== v.vrrp) say('vrrp', `${v.name}: ${v.vrrp} → ${vrrp}${vrrp === 'MASTER' ? ' (takes the VIP)' : ''}`);
        const servers = Object.fromEntries((state.backends?.[0]?.servers ?? []).map((s) => [s.name, s.state]));
        for (const [name, s] of Object.entries(servers)) if (v.servers[name] && v.servers[name] !== s) say('server', `${v.name} sees ${name} ${s.toUpperCase()}`);
        Object.assign(v, { admin: 'ok', vrrp, effectivePriority: vi?.effectivePriority ?? null, servers });
      } catch {
        v.admin = 'unreachable';
      }
    }));
  };
  /** Polls until `done` holds (true) or `ms` passed (false). */
  const until = async (done: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    for (;;) {
      await poll();
      if (done()) return true;
      if (Date.now() > end || stopping) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const masterOf = () => nodes.find((n) => n.view.vrrp === 'MASTER')?.lb.name ?? 'nobody';
  await until(() => nodes[0]!.view.vrrp === 'MASTER', 15_000);
  nodes[1]!.start();
  const settled = () => nodes.every((n) => n.view.admin === 'ok' && n.view.vrrp !== 'INITIALIZE' && masters.every((m) => n.view.servers[m.name] === 'up')) && holders.size === 1 && nodes.filter((n) => n.view.vrrp === 'MASTER').length === 1;
  const picture = () => `${nodes.map((n) => `${n.lb.name} ${n.view.vrrp ?? n.view.admin} (checks: ${Object.entries(n.view.servers).map(([k, v]) => `${k} ${v}`).join(', ') || 'none yet'})`).join('; ')}; VIP on ${[...holders].join(' and ') || 'no interface'}`;
  if (!(await until(settled, 20_000))) say('note', `the stage did not settle: ${picture()}; see ${o.dir}/lb*/kubeha.log`);

  const client = startClientLoop({ host: STAGE.vip, port: STAGE.port, path: '/version', periodMs: PERIOD_MS });
  const record = client.record;
  const pollTimer = setInterval(() => void poll(), 250);

  // What the dashboard shows, and the sockets the outer process relays to (Unix sockets cross the network namespace).
  const story = (): StoryState => {
    const recent = record.samples.filter((s) => s.endMs > Date.now() - 60_000);
    const lastFailover = [...events].reverse().find((e) => e.result && e.result.vipBefore !== e.result.vipAfter)?.result ?? null;
    return {
      vip: STAGE.vip, port: STAGE.port,
      nodes: nodes.map((n) => n.view),
      apiservers: masters.map((m) => ({ name: m.name, ip: m.ip, running: m.running })),
      client: { rps: record.rate(Date.now()), ok: record.ok, failed: record.failed, successRate: recent.length ? recent.filter((s) => s.ok).length / recent.length : null, lastFailover },
      holders: [...holders],
      chaos: { on: o.chaos, step: currentStep },
      events: events.slice(-50),
    };
  };
  const page = storyPage();
  const dashboard: Server = createServer((req, res) => {
    if (req.url === '/api/demo') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return res.end(JSON.stringify(story()));
    }
    if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(page);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => dashboard.listen(join(o.dir, 'dashboard.sock'), r));
  const vipRelay = await relay({ path: join(o.dir, 'vip.sock') }, { host: STAGE.vip, port: STAGE.port });

  const local = (port: number) => `127.0.0.1:${port}`;
  out([
    'kubeha demo: three stand-in kube-apiservers, two kubeha LB nodes floating a VIP with VRRP, a client through the VIP',
    '  (in a private user and network namespace: no root needed, nothing changed on this machine)',
    '',
    ...STAGE.masters.map((m) => `  ${m.name.padEnd(13)}  https://${m.ip}:${STAGE.port}   (stand-in kube-apiserver)`),
    ...STAGE.lbs.map((lb, i) => `  ${lb.name.padEnd(13)}  ${lb.ip}   kubeha, VRRP priority ${lb.priority}; its dashboard http://${local(o.ports.admin[i]!)}/`),
    `  VIP            ${STAGE.vip}:${STAGE.port}   (held by ${masterOf()})`,
    `  load balancer  https://${local(o.ports.vip)}   (relayed to the VIP)`,
    `  dashboard      http://${local(o.ports.dashboard)}/`,
    '',
    `  try:  curl -k https://${local(o.ports.vip)}/version`,
    `        npx kubeha status --admin ${local(o.ports.admin[0]!)}                 # lb1, as kubeha sees it`,
    `        npx kubeha maintenance on --admin ${local(o.ports.admin[0]!)}         # hand the VIP over gracefully`,
    o.chaos ? '  chaos: one step at a time — VIP handover, the VIP holder killed, an apiserver stopped, an apiserver crashed' : '  (add --chaos to move the VIP and stop apiservers, one thing at a time, and see what the client saw)',
    '',
    o.forMs ? `running for ${o.forMs / 1000}s; Ctrl-C stops it` : 'Ctrl-C stops it',
    '',
  ].join('\n'));

  let wake: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    wake = resolve;
    if (o.forMs !== undefined) setTimeout(resolve, o.forMs).unref();
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    // the outer process holds our stdin open: its end (the outer process gone) ends the demo
    process.stdin.on('end', () => resolve());
    process.stdin.on('error', () => resolve());
    process.stdin.resume();
  });
  void stopped.then(() => (stopping = true));
  const pause = (ms: number) => Promise.race([new Promise((r) => setTimeout(r, ms)), stopped]);

  const holderNode = () => nodes.find((n) => n.view.holdsVip && n.view.vrrp === 'MASTER') ?? nodes.find((n) => n.view.vrrp === 'MASTER');
  let apiIndex = 0;
  const steps: ChaosStep[] = [];
  let handedOver: StageNode | undefined;
  let killed: StageNode | undefined;
  let down: StageMaster | undefined;
  let terminated: Promise<void> = Promise.resolve();
  steps.push({
    name: 'VIP handover (maintenance on the holder)',
    async act() {
      handedOver = holderNode();
      if (!handedOver) return 'no VIP holder to hand over from';
      await handedOver.admin('POST', '/api/v1/vrrp/VI_1', { maintenance: true });
      return `maintenance on ${handedOver.lb.name}, the VIP holder: a graceful handover`;
    },
    async restore() {
      if (handedOver?.view.process === 'running') await handedOver.admin('POST', '/api/v1/vrrp/VI_1', { maintenance: false }).catch(() => undefined);
    },
    target: '0 failed',
    met: (w) => w.failed === 0,
  });
  steps.push({
    name: 'VIP holder killed',
    async act() {
      killed = holderNode();
      if (!killed) return 'no VIP holder to kill';
      await killed.stop('SIGKILL');
      return `SIGKILL to kubeha on ${killed.lb.name}, the VIP holder`;
    },
    async restore() {
      killed?.start();
    },
    target: 'outage ≤ 500 ms',
    met: (w) => w.outageMs <= 500,
  });
  steps.push({
    name: 'apiserver stopped',
    async act() {
      down = masters[apiIndex++ % masters.length]!;
      terminated = down.terminate();
      return `${down.name} stopped gracefully (SIGTERM: /readyz fails, then the listener closes)`;
    },
    async restore() {
      await terminated;
      await down?.start();
    },
    target: '0 failed',
    met: (w) => w.failed === 0,
  });
  steps.push({
    name: 'apiserver crashed',
    async act() {
      down = masters[apiIndex++ % masters.length]!;
      down.crash();
      return `${down.name} crashed (as on SIGKILL)`;
    },
    async restore() {
      await down?.start();
    },
    target: 'at most the requests in flight on it fail (≤ 3)',
    met: (w) => w.failed <= 3,
  });

  const results: ChaosResult[] = [];
  if (o.chaos) {
    void (async () => {
      for (let round = 0; !stopping && (o.chaosRounds === undefined || round < o.chaosRounds); round++) {
        for (const step of steps) {
          if (stopping) break;
          await pause(o.chaosIntervalMs);
          if (stopping) break;
          const vipBefore = masterOf();
          const fromMs = Date.now();
          currentStep = step.name;
          say('chaos', `chaos: ${await step.act()}`);
          await pause(o.chaosIntervalMs);
          await step.restore();
          const calm = await until(() => settled() && Date.now() - fromMs > 2 * o.chaosIntervalMs, 30_000);
          // the last requests of the window get their answers (or their deadline) before it is judged
          const lateMs = client.timeoutMs + 250;
          await new Promise((r) => setTimeout(r, lateMs));
          const w = clientWindow(record.samples, fromMs, Date.now() - lateMs, PERIOD_MS);
          const r: ChaosResult = { step: step.name, ...w, vipBefore, vipAfter: masterOf(), target: step.target, met: step.met(w) };
          results.push(r);
          currentStep = null;
          const moved = r.vipBefore === r.vipAfter ? `VIP stayed on ${r.vipAfter}` : `VIP ${r.vipBefore} → ${r.vipAfter}`;
          say('chaos', `result: ${step.name}: ${moved}; client: ${r.failed} failed of ${r.total}, outage ${r.outageMs} ms (target: ${r.target}${r.met ? ', met' : ', MISSED'})${calm ? '' : '; the stage did not settle within 30 s'}${holders.size > 1 ? `; TWO VIP HOLDERS: ${[...holders].join(', ')}` : ''}`, r);
        }
      }
      if (o.chaosRounds !== undefined) wake();
    })();
  }

  let drawn = 0;
  const draw = () => {
    const s = story();
    const lines = [
      ...s.nodes.map((n) => `  ${n.name.padEnd(5)} ${(n.process === 'running' ? n.vrrp ?? 'starting' : n.process.toUpperCase()).padEnd(8)} priority ${String(n.effectivePriority ?? '-').padStart(3)}/${n.priority}  ${n.holdsVip ? `holds ${STAGE.vip}` : ''}`),
      `  apiservers ${s.apiservers.map((a) => `${a.name} ${a.running ? 'up' : 'DOWN'}`).join('  ')}`,
      `  client ${s.client.rps} req/s  ok ${s.client.ok}  failed ${s.client.failed}${s.client.lastFailover ? `  last failover: outage ${s.client.lastFailover.outageMs} ms, ${s.client.lastFailover.failed} failed` : ''}`,
      ...events.slice(-4).map((e) => `  ${e.at} ${e.text}`),
    ];
    if (drawn) process.stdout.write(`\x1b[${drawn}A`);
    process.stdout.write(`${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
    drawn = lines.length;
  };
  const drawTimer = !o.quiet && process.stdout.isTTY ? setInterval(draw, 500) : undefined;
  const statusTimer = !o.quiet && !process.stdout.isTTY ? setInterval(() => out(`status requests/s ${record.rate(Date.now())} ok ${record.ok} failed ${record.failed} VIP ${[...holders].join('+') || 'nobody'}`), 5000) : undefined;

  await stopped;
  stopping = true;
  clearInterval(drawTimer);
  clearInterval(statusTimer);
  // the last requests get their answers before anything they go through is stopped
  await client.stop();
  clearInterval(pollTimer);
  await Promise.all(nodes.map((n) => (n.view.process === 'running' ? n.stop('SIGTERM') : undefined)));
  for (const m of masters) m.crash();
  for (const s of [dashboard, vipRelay]) s.close();
  for (const r of adminRelays) r.stdin?.end();
  process.stdin.destroy();
  const why = [...record.errors].map(([e, n]) => `${e} ${n}`).join(', ');
  out(`demo stopped: ${record.ok} requests answered, ${record.failed} failed${why ? ` (${why})` : ''}`);
  for (const r of results) out(`  ${r.step.padEnd(42)} VIP ${r.vipBefore === r.vipAfter ? `stayed on ${r.vipAfter}` : `${r.vipBefore} → ${r.vipAfter}`}, ${r.failed} failed of ${r.total}, outage ${r.outageMs} ms (target: ${r.target}: ${r.met ? 'met' : 'MISSED'})`);
  return 0;
}
