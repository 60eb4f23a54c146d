// The in-kernel data plane's thin driver (issue 16): runs the scripts of ruleset.ts through the
// `nft` program, reads the per-server counters back, deletes a server's conntrack entries
// (`onMarkedDown: shutdown`), and checks what the kernel path needs before it is used. Every
// failure is an Error that says what is missing; nothing falls back silently.
import { execFile } from 'node:child_process';
import { KERNEL_TABLE } from './ruleset.js';

/** How the driver runs a program: directly, or (tests) inside a network namespace with a prefix like `ip netns exec NS`. */
export interface KernelDriverOptions {
  prefix?: string[];
  /** How long one program may run before it is killed (default 10 s). */
  timeoutMs?: number;
}

export interface ServerCounter {
  packets: number;
  bytes: number;
}

export interface FlowCount {
  total: number;
  established: number;
}

export class NftDriver {
  private readonly prefix: string[];
  private readonly timeoutMs: number;

  constructor(o: KernelDriverOptions = {}) {
    this.prefix = o.prefix ?? [];
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  private run(cmd: string, args: string[], input?: string): Promise<string> {
    const [file, ...rest] = [...this.prefix, cmd, ...args];
    return new Promise((resolve, reject) => {
      const child = execFile(file!, rest, { encoding: 'utf8', timeout: this.timeoutMs }, (err, stdout, stderr) => {
        if (err) {
          const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${file} is not installed` : (stderr || err.message).trim();
          reject(new Error(`${cmd} ${args.join(' ')}: ${why}`));
        } else resolve(stdout);
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  /** Applies an `nft -f` script (one transaction: all of it or nothing). */
  async apply(script: string): Promise<void> {
    await this.run('nft', ['-f', '-'], script);
  }

  /** Whether kubeha's table is there (a restarted kubeha adopts it instead of starting from nothing). */
  async tableExists(): Promise<boolean> {
    const tables = await this.run('nft', ['list', 'tables']);
    return tables.split('\n').some((l) => l.trim() === `table inet ${KERNEL_TABLE}`);
  }

  /** The named counters of kubeha's table: packets and bytes by counter name. */
  async counters(): Promise<Map<string, ServerCounter>> {
    const listed = JSON.parse(await this.run('nft', ['-j', 'list', 'counters', 'table', 'inet', KERNEL_TABLE])) as { nftables: { counter?: { name: string; packets: number; bytes: number } }[] };
    return new Map(listed.nftables.flatMap((x) => (x.counter ? [[x.counter.name, { packets: x.counter.packets, bytes: x.counter.bytes }] as const] : [])));
  }

  /** Removes kubeha's table (`kubeha run --cleanup`); no table is no error. */
  async removeTable(): Promise<void> {
    if (await this.tableExists()) await this.apply(`delete table inet ${KERNEL_TABLE}\n`);
  }

  /**
   * Deletes the conntrack entries of the flows a frontend sent to one server: their packets then
   * match no translation and the client's next packet is answered by a reset (the `shutdown` of a
   * server marked down). Resolves with how many were deleted.
   */
  async deleteFlows(vip: string, port: number, server: { ip: string; port: number }): Promise<number> {
    const args = ['-D', '-p', 'tcp', '--orig-dst', vip, '--orig-port-dst', String(port), '--reply-src', server.ip, '--reply-port-src', String(server.port)];
    try {
      // stdout lists the deleted entries, one a line
      return (await this.run('conntrack', args)).split('\n').filter((l) => l.trim() !== '').length;
    } catch (err) {
      // conntrack exits 1 with "0 flow entries have been deleted" when there were none
      const m = /(\d+) flow entries have been deleted/.exec(err instanceof Error ? err.message : '');
      if (m) return Number(m[1]);
      throw err;
    }
  }

  /**
   * The conntrack entries of a frontend's flows, by the server they went to (`ip:port`, the reply
   * direction's source): all of them, and those still established.
   */
  async flows(vip: string, port: number): Promise<Map<string, FlowCount>> {
    let listed: string;
    try {
      listed = await this.run('conntrack', ['-L', '-p', 'tcp', '--orig-dst', vip, '--orig-port-dst', String(port)]);
    } catch (err) {
      // (older conntrack exits 1 when it lists nothing)
      if (/0 flow entries have been shown/.test(err instanceof Error ? err.message : '')) return new Map();
      throw err;
    }
    const byServer = new Map<string, FlowCount>();
    for (const line of listed.split('\n')) {
      // tcp 6 431999 ESTABLISHED src=C dst=VIP sport=P dport=VP src=S dst=LB sport=SP dport=P [ASSURED] ...
      const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]);
      const sport = [...line.matchAll(/\bsport=(\d+)/g)].map((m) => m[1]);
      if (src.length < 2 || sport.length < 2) continue;
      const key = `${src[1]}:${sport[1]}`;
      const n = byServer.get(key) ?? { total: 0, established: 0 };
      n.total++;
      if (/\sESTABLISHED\s/.test(line)) n.established++;
      byServer.set(key, n);
    }
    return byServer;
  }

  /**
   * What the kernel path needs, as the problems to report (empty: ready): nftables that answers,
   * the conntrack tool, IP forwarding when an LB host forwards (prerouting frontends), and
   * route_localnet when the node's own clients connect to 127.0.0.x (a flow from 127.0.0.1 may
   * leave the host only with it).
   */
  async preconditions(o: { forwards: boolean; localnet?: boolean }): Promise<string[]> {
    const problems: string[] = [];
    await this.run('nft', ['list', 'tables']).catch((err: Error) => problems.push(`nftables does not answer (${err.message}): install nftables (Debian package nftables) and load nf_tables`));
    await this.run('conntrack', ['-C']).catch((err: Error) => problems.push(`the conntrack tool does not answer (${err.message}): install it (Debian package conntrack)`));
    if (o.forwards) {
      // read like every other program here, so that it is the namespace's own under a prefix
      const forwarding = await this.run('cat', ['/proc/sys/net/ipv4/ip_forward']).catch(() => '');
      if (forwarding.trim() !== '1') problems.push('net.ipv4.ip_forward is not 1: a kernel frontend on an LB host forwards the clients\' packets (sysctl -w net.ipv4.ip_forward=1, and in /etc/sysctl.d/)');
    }
    if (o.localnet) {
      const localnet = await this.run('cat', ['/proc/sys/net/ipv4/conf/all/route_localnet']).catch(() => '');
      if (localnet.trim() !== '1') problems.push('net.ipv4.conf.all.route_localnet is not 1: a kernel frontend on 127.0.0.x sends the node\'s own flows to other hosts (sysctl -w net.ipv4.conf.all.route_localnet=1, and in /etc/sysctl.d/), or bind a link-local address like 169.254.20.1');
    }
    return problems;
  }
}
