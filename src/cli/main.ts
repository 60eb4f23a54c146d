import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
import type { ApplyOptions } from './apply.js';
import type { DemoOptions } from './demo.js';
import type { DoctorOptions } from './doctor.js';
import type { DrillOptions } from './drill.js';
import type { ElectOptions } from './elect.js';
import type { InventoryOptions } from './inventory.js';
import type { LintOptions } from './lint.js';
import type { MaintenanceOptions } from './maintenance.js';
import type { StatusOptions } from './status.js';
import type { SimCommandOptions } from './sim.js';

/** Wires the commands (one file each) and runs the one named in `argv`. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('kubeha')
    .description('A highly available front door for the Kubernetes control plane')
    .showHelpAfterError()
    .enablePositionalOptions()
    .version(VERSION, '-V, --version', 'print the kubeha version');
  const exit = (code: number) => {
    process.exitCode = code;
  };
  program
    .command('version')
    .description('print the kubeha version and the Node.js it runs on')
    .action(() => {
      process.stdout.write(`kubeha ${VERSION} (node ${process.version})\n`);
    });
  program
    .command('run')
    .description('run the daemon: load balancer, health checks, admin API')
    .requiredOption('-c, --config <file>', 'kubeha.yaml')
    .option('--cleanup', 'do not run: remove the nftables table of the kernel data plane (inet kubeha) and end the conntrackd of conntrackSync, which outlive the daemon, and exit (for a unit whose stop should take the rules with it, as ExecStopPost)')
    .action(async (o: { config: string; cleanup?: boolean }) => exit(o.cleanup ? await (await import('./run.js')).cleanupCommand(o.config) : await (await import('./run.js')).runCommand(o.config)));
  program
    .command('check')
    .description('validate a config and run the lint rules for kubeha.yaml on it, every problem in one pass; exits 1 on an error (warnings are printed, exit 0)')
    .requiredOption('-c, --config <file>', 'kubeha.yaml')
    .option('--host', 'also check against this machine: the files the config names, its interfaces and their subnets, local addresses')
    .action(async (o: { config: string; host?: boolean }) => exit(await (await import('./check.js')).checkCommand(o.config, { host: o.host === true })));
  program
    .command('reload')
    .description("ask the running daemon to re-read its config (through admin.bind)")
    .requiredOption('-c, --config <file>', 'kubeha.yaml of the running daemon')
    .action(async (o: { config: string }) => exit(await (await import('./reload.js')).reloadCommand(o.config)));
  program
    .command('status')
    .description("show a running daemon's frontends, servers, VRRP and VIP election, and what is wrong (exit 0 serving, 1 a problem, 2 no answer)")
    .option('-c, --config <file>', 'kubeha.yaml of the running daemon (its admin.bind and admin.tokenFile)')
    .option('--admin <host:port>', 'the admin address, instead of --config')
    .option('--token-file <file>', 'admin bearer token (default: the config\'s admin.tokenFile)')
    .option('--json', 'the state as JSON, with the problems and warnings')
    .action(async (o: StatusOptions) => exit(await (await import('./status.js')).statusCommand(o)));
  program
    .command('maintenance')
    .description("take this node's VRRP instances out of the election (on: a master hands the VIP to a peer, the proxy keeps serving) or back in (off)")
    .argument('<on|off>')
    .option('-c, --config <file>', 'kubeha.yaml of the running daemon (its admin.bind and admin.tokenFile)')
    .option('--admin <host:port>', 'the admin address, instead of --config')
    .option('--token-file <file>', 'admin bearer token (default: the config\'s admin.tokenFile)')
    .option('--instance <name>', 'one VRRP instance (default: all)')
    .action(async (mode: string, o: MaintenanceOptions) => exit(await (await import('./maintenance.js')).maintenanceCommand(mode, o)));
  program
    .command('demo')
    .description('three stand-in apiservers behind two kubeha LB nodes floating a VIP, in a private namespace; no root, no config')
    .option('--for <duration>', 'stop after this long (default: until Ctrl-C)')
    .option('--port <port>', 'port on 127.0.0.1 for the load balancer (relayed to the VIP; 0 picks a free one)', '0')
    .option('--quiet', 'no live summary')
    .option('--chaos', 'one thing at a time: hand the VIP over, kill the VIP holder, stop and crash apiservers; each restored before the next')
    .option('--chaos-interval <duration>', 'time between two chaos actions', '6s')
    .option('--chaos-rounds <n>', 'stop after this many rounds of the chaos steps')
    .option('--single', 'one load balancer on loopback, no VIP and no namespaces (the fallback where user namespaces are disabled)')
    .action(async (o: DemoOptions) => exit(await (await import('./demo.js')).demoCommand(o)));
  program
    .command('render')
    .description('render the configs of the whole HA stack, one folder per host, from an inventory')
    .requiredOption('-i, --inventory <file>', 'inventory.yaml (masters, workers, VIP, LB flavor, etcd, VRRP)')
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--diff', 'write nothing; show what would change against --out (exit 1 when something would)')
    .action(async (o: { inventory: string; out: string; diff?: boolean }) => exit(await (await import('./render.js')).renderCommand(o)));
  program
    .command('apply')
    .description('bring the hosts of an inventory to what render writes, over SSH: etcd, then the apiservers, the LB hosts one at a time and the workers in batches, each gated and rolled back when its gate fails (exit 0 applied or nothing to do, 1 failed; --dry-run: 2 when changes are pending)')
    .requiredOption('-i, --inventory <file>', 'inventory.yaml, with ssh: settings')
    .option('--dry-run', 'connect, gather facts and show what would change; change nothing')
    .option('--hosts <h1,h2>', 'only these hosts')
    .option('--max-unavailable <n>', 'workers changed at once', '1')
    .option('--gate-timeout <duration>', 'how long a host may take to pass its health gate before it is rolled back', '90s')
    .option('--kubeha-package <file>', 'the release tarball (npm run package) to install on LB hosts whose kubeha version differs')
    .option('--accept-new-host-keys', 'record the key of a host that is not in known_hosts (never a changed one)')
    .action(async (o: ApplyOptions) => exit(await (await import('./apply.js')).applyCommand(o)));
  program
    .command('inventory')
    .description('print an inventory from the plain lists install scripts use (master_ip, node_ip: one IP, or "IP NAME", a line)')
    .requiredOption('--masters <file>', 'the masters, one a line')
    .option('--nodes <file>', 'the workers, one a line')
    .requiredOption('--vip <cidr>', 'the VIP with the prefix of its subnet, like 10.8.4.55/24')
    .requiredOption('--interface <if>', 'the interface that carries the VIP on the LB hosts')
    .addOption(new Option('--lb-flavor <flavor>', 'what floats the VIP and balances').choices(['kubeha', 'haproxy', 'nginx']).default('kubeha'))
    .option('--cluster <name>', 'the cluster name', 'kubernetes')
    .option('--vrid <n>', 'the VRRP virtual router id (default: derived from the cluster name; pick one free on the segment)')
    .action(async (o: InventoryOptions) => exit(await (await import('./inventory.js')).inventoryCommand(o)));
  program
    .command('lint')
    .description('check kubeha.yaml, haproxy.cfg, nginx.conf, keepalived.conf and kubeconfigs for the mistakes that break HA')
    .argument('<files...>', 'config files; given together they are also checked against each other')
    .addOption(new Option('--nginx-context <context>', 'where an nginx snippet without http/stream blocks (conf.d/*.conf) is included (default: http)').choices(['http', 'stream']))
    .option('--no-host', 'do not look at this machine (script and file existence, interfaces, local addresses), as in CI')
    .action(async (files: string[], o: LintOptions) => exit(await (await import('./lint.js')).lintCommand(files, o)));
  program
    .command('doctor')
    .description('check the live control plane of an inventory from this host: apiservers (ready, certificate names the VIP, expiry, clock), the VIP (answers, reaches every apiserver), etcd (quorum, leader, alarms), VRRP on the VIP\'s segment (another router using the VRID)')
    .requiredOption('-i, --inventory <file>', 'inventory.yaml (the one kubeha render reads)')
    .option('--timeout <duration>', 'per request', '3s')
    .option('--samples <n>', 'requests through the VIP (default 3 per master)')
    .option('--cacert <file>', 'the cluster CA: also verify each apiserver certificate chain')
    .option('--etcd-cacert <file>', 'etcd CA (default PKI/etcd/ca.crt)')
    .option('--etcd-cert <file>', 'etcd client certificate (default PKI/apiserver-etcd-client.crt)')
    .option('--etcd-key <file>', 'etcd client key (default PKI/apiserver-etcd-client.key)')
    .option('--no-etcd', 'do not look at etcd')
    .option('--admin <host:port>', 'also ask this kubeha node for its state (repeat for each LB node)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--token-file <file>', 'admin bearer token for --admin')
    .option('--json', 'the findings as JSON')
    .option('--no-vrrp', 'do not listen for VRRP adverts on the VIP\'s segment')
    .option('--vrrp-interface <if>', 'listen for VRRP on this interface (default: the one on the VIP\'s subnet, else the inventory\'s)')
    .option('--vrrp-listen <duration>', 'how long to listen for VRRP adverts (default 3.5 advert intervals, at least 1.2s)')
    .action(async (o: DoctorOptions) => exit(await (await import('./doctor.js')).doctorCommand(o)));
  program
    .command('drill')
    .description('the failover test on the live cluster, as a client sees it: a client through the VIP while the VIP is handed over, the holder\'s load balancer stopped, each apiserver restarted (and --kill: the holder SIGKILLed), one at a time; a report per step (exit 0 every target met, 1 not)')
    .requiredOption('-i, --inventory <file>', 'inventory.yaml, with ssh: settings')
    .option('--dry-run', 'list the steps and what each does; touch nothing')
    .option('--kill', 'also SIGKILL the VIP holder\'s kubeha (or keepalived)')
    .option('--observe <duration>', 'how long each fault lasts before it is undone', '5s')
    .option('--settle-timeout <duration>', 'how long the cluster may take to come back (one VIP holder, every apiserver ready)', '60s')
    .option('--cacert <file>', 'the cluster CA, to verify the apiservers and the client loop\'s connections')
    .option('--record <file>', 'write every request of the client loop and each step\'s window there (JSON lines)')
    .option('--from <host>', 'run the client loop on this host of the inventory (a worker: what its kubelet sees; needs curl there)')
    .option('--steps <list>', 'only these steps: handover, lb-stopped, apiservers, killed')
    .action(async (o: DrillOptions) => exit(await (await import('./drill.js')).drillCommand(o)));
  program
    .command('import')
    .description('print the kubeha.yaml equivalent to a keepalived.conf and a haproxy.cfg or nginx.conf')
    .argument('<files...>', 'keepalived.conf, haproxy.cfg or nginx.conf')
    .action(async (files: string[]) => exit(await (await import('./import.js')).importCommand(files)));
  program
    .command('elect')
    .description('run a command only while this process leads an election over etcd (fencing epoch in KUBEHA_EPOCH)')
    .usage('--etcd URLS --name NAME [options] -- CMD [ARGS...]')
    .requiredOption('--etcd <urls>', 'etcd client URLs, comma separated (http:// or https://)')
    .requiredOption('--name <name>', 'election name (one leader per name)')
    .option('--ttl <duration>', 'lease TTL: a crashed leader is replaced after about this long', '5s')
    .option('--margin <duration>', 'step down this long before the lease could expire', '1s')
    .option('--kill-grace <duration>', 'SIGKILL the child this long after SIGTERM (below --margin)', '500ms')
    .option('--identity <id>', 'how observers see this candidate (default host/pid)')
    .option('--observe', 'print the leader as JSON lines whenever it changes; run nothing')
    .option('--metrics <host:port>', 'serve kubeha_election_* metrics at http://HOST:PORT/metrics')
    .option('--cacert <file>', 'CA bundle for https endpoints')
    .option('--cert <file>', 'client certificate for etcd')
    .option('--key <file>', 'key of --cert')
    .argument('[command...]', 'the command to run while leader, after --')
    .passThroughOptions()
    .action(async (command: string[], o: ElectOptions) => exit(await (await import('./elect.js')).electCommand(o, command)));
  const sim = program.command('sim').description('stand-ins for the tests and the demo');
  sim
    .command('apiserver')
    .description('a stand-in kube-apiserver (HTTPS, /readyz, /livez, /version, watch, graceful shutdown)')
    .option('--port <port>', 'port (0 picks a free one)', '6443')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--name <name>', 'name reported in x-kubeha-sim', 'sim')
    .option('--cert <file>', 'serving certificate (PEM); self-signed when omitted')
    .option('--key <file>', 'key of --cert (PEM)')
    .option('--shutdown-delay <duration>', 'readyz fails this long before the listener closes on SIGTERM', '5s')
    .option('--watch-grace <duration>', 'open watches go on this long after the listener closed', '60s')
    .addOption(new Option('--fail-readyz', 'answer /readyz with 500 from the start'))
    .option('--latency <duration>', 'delay every answer', '0ms')
    .addOption(new Option('--blackhole', 'accept connections and never answer'))
    .action(async (o: SimCommandOptions) => exit(await (await import('./sim.js')).simApiserverCommand(o)));
  await program.parseAsync(argv);
}
