// The docs keep their promises: every shell command shown in README.md and docs/*.md either runs
// here and does what the doc says, or is listed in NOT_HERE with the reason it cannot.
//
// How the docs show commands (the convention this test reads):
// - ```sh (or bash, shell) blocks: one command a line (a trailing `\` continues it), a trailing
//   `# ...` is a comment; the claims of the comment ("exit 1 if anything") are written down in
//   RUNNABLE beside the command.
// - ```console blocks: `$ command` lines, each followed by the output it prints (stdout and stderr as
//   a terminal shows them); that output is the claim, compared exactly. A line `...` stands for any
//   lines (output the doc leaves out).
// The commands of one block run in order in one temporary directory, as a reader would type them;
// `kubeha` and `npx kubeha` are this checkout's bin/kubeha.js. Normalisations: an absolute /tmp/
// path in a command is moved into the temporary directory (and back in the output), the directory
// itself is cut from the output; trailing spaces are ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/docs). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KUBEHA_BIN = join(ROOT, 'bin/kubeha.js');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

/** A command shown in a doc. */
export interface DocCommand {
  doc: string;
  line: number;
  /** Commands of one block share an index: they run in order in one directory. */
  block: number;
  text: string;
  /** The output a console block shows after the command; undefined in sh blocks. */
  output?: string[];
}

/** Every command of the sh/bash/shell/console blocks of `text` (see the header for the convention). */
export function docCommands(doc: string, text: string, firstBlock = 0): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = text.split('\n');
  let block = firstBlock;
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const lang = fence[1]!;
    let end = i + 1;
    while (end < lines.length && !lines[end]!.startsWith('```')) end++;
    if (['sh', 'bash', 'shell', 'console'].includes(lang)) {
      const body = lines.slice(i + 1, end);
      block++;
      let current: DocCommand | undefined;
      for (let j = 0; j < body.length; j++) {
        const at = i + 2 + j;
        let raw = body[j]!;
        const prompt = lang === 'console';
        if (prompt && !raw.startsWith('$ ')) {
          if (current) current.output!.push(raw.trimEnd());
          continue;
        }
        if (prompt) raw = raw.slice(2);
        if (raw.trim() === '' || raw.trim().startsWith('#')) continue;
        while (raw.trimEnd().endsWith('\\') && j + 1 < body.length) raw = `${raw.trimEnd().slice(0, -1)} ${body[++j]!.trim()}`;
        current = { doc, line: at, block, text: withoutComment(raw).replace(/\s+/g, ' ').trim(), ...(prompt ? { output: [] } : {}) };
        out.push(current);
      }
      for (const c of out) if (c.output) while (c.output.length > 0 && c.output[c.output.length - 1] === '') c.output.pop();
    }
    i = end;
  }
  return out;
}

/** The command without its trailing `# comment` (a `#` outside quotes, after a space). */
function withoutComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

/** A command that runs here: the files it needs, and what the doc claims of it. */
interface Runnable {
  /** Files copied into the block's directory before it runs: path there → path in the repository. */
  files?: Record<string, string>;
  exit: number;
  /** The whole output (stdout and stderr together) must match; for console blocks the doc's output is compared too. */
  out: RegExp;
  /** What the doc's comment claims, and how this entry checks it. */
  claim: string;
}

/** The version `kubeha version` prints: package.json's. */
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const EXAMPLE_INVENTORY = { 'inventory.yaml': 'examples/inventory.yaml' };
/** examples/inventory.yaml leaves vrrp.virtualRouterId to be derived: render warns (once per LB host). */
const DERIVED_VRID_WARNING = '(?:kubeha render: warning: vrrp\\.virtualRouterId is not set: \\d+ is derived from the cluster name "prod-a".*\\n)*';

/** The commands the docs show that run here, keyed by the command as written. */
const RUNNABLE: Record<string, Runnable> = {
  'kubeha inventory --masters master_ip --nodes node_ip --vip 10.8.4.55/24 --interface eth0 --vrid 51': {
    files: { master_ip: 'test/plan/inventories/master_ip', node_ip: 'test/plan/inventories/node_ip' }, exit: 0,
    out: /^# Written by kubeha inventory from master_ip and node_ip\.[^\n]*\ncluster: kubernetes\n[\s\S]*- name: master3\n    ip: 10\.8\.4\.93\n[\s\S]*- name: node2\n    ip: 10\.8\.4\.102\n[\s\S]*virtualRouterId: 51\n$/,
    claim: 'an inventory with master1..3 and node1..2 from the two lists',
  },
  'npx kubeha check --config examples/kubeha.yaml': {
    files: { 'examples/kubeha.yaml': 'examples/kubeha.yaml' }, exit: 0,
    out: /^examples\/kubeha\.yaml: ok \(1 frontends, 1 backends, 3 servers, 0 vrrp instances\); not checked against this host .*\n$/,
    claim: 'validates; the example is valid (the exit 1 on errors is test/lint/kubeha-rules.test.ts\'s)',
  },
  'npx kubeha render --inventory examples/inventory.yaml --out /tmp/stack': {
    files: { 'examples/inventory.yaml': 'examples/inventory.yaml' }, exit: 0,
    out: new RegExp(`^${DERIVED_VRID_WARNING}wrote \\d+ files for 4 hosts to /tmp/stack \\(see /tmp/stack/README\\.md\\)\\n$`),
    claim: 'every config, per host: the 3 masters and the worker',
  },
  'kubeha render --inventory inventory.yaml --out ./rendered': {
    files: EXAMPLE_INVENTORY, exit: 0,
    out: new RegExp(`^${DERIVED_VRID_WARNING}wrote \\d+ files for 4 hosts to \\./rendered \\(see rendered/README\\.md\\)\\n$`),
    claim: 'one folder per host + README.md',
  },
  'kubeha render --inventory inventory.yaml --out ./rendered --diff': {
    files: EXAMPLE_INVENTORY, exit: 0, out: new RegExp(`^${DERIVED_VRID_WARNING}no changes\\n$`),
    claim: 'what a change would do: right after the render above, nothing (exit 0); the exit 1 with changes is test/plan/render.test.ts\'s',
  },
  'kubeha lint --no-host rendered/*/kubeha.yaml': {
    exit: 0, out: /^3 file\(s\): 0 error\(s\), 0 warning\(s\)\n$/,
    claim: 'in CI: the kubeha.yaml of every host rendered above is clean without this machine',
  },
  'kubeha render --inventory inventory.yaml --out rendered': {
    files: { 'inventory.yaml': 'test/plan/inventories/haproxy-dedicated.yaml' }, exit: 0,
    out: /^wrote \d+ files for 7 hosts to rendered \(see rendered\/README\.md\)\n$/,
    claim: 'an inventory with haproxy on LB hosts lb1 and lb2 (the block lints rendered/lb1/haproxy.cfg)',
  },
  'kubeha version': {
    exit: 0, out: new RegExp(`^kubeha ${VERSION.replace(/\./g, '\\.')} \\(node ${process.version.replace(/\./g, '\\.')}\\)\\n$`),
    claim: "the CLI's version: package.json's, and the Node.js it runs on",
  },
  'kubeha lint --no-host rendered/lb1/keepalived.conf rendered/lb1/haproxy.cfg': {
    exit: 0, out: /^2 file\(s\): 0 error\(s\), 0 warning\(s\)\n$/,
    claim: 'before the copy, without this machine: clean',
  },
};

/** The commands the docs show that cannot run here, with the reason. */
const NOT_HERE: Record<string, string> = {
  'kubeha status': 'asks the running daemon of an LB host (test/observe/status-command.test.ts runs it against a daemon; the BGP table is in status-report.test.ts)',
  'curl -s 127.0.0.1:9000/api/v1/state | jq .bgp': 'a daemon with bgp: and a router (test/bgp-netns reads the same state from nodes peering with BIRD, FRR and GoBGP)',
  'birdc show protocols all kubeha_lb1': 'on a router running the rendered bird.conf (test/bgp-netns/bird.test.ts runs BIRD with kubeha peers)',
  "vtysh -c 'show bgp ipv4 unicast 10.99.0.10/32'": 'on an FRR router (test/bgp-netns/frr.test.ts runs FRR with kubeha peers)',
  'ip route show 10.99.0.10/32': "the router's FIB (test/support/bgp-bed.ts reads it in the router namespace: fibNextHops)",
  'kubeha apply --inventory inventory.yaml --dry-run --accept-new-host-keys': 'needs SSH hosts (test/apply/dry-run.test.ts runs it against booted Debian hosts)',
  'kubeha apply --inventory inventory.yaml': 'needs SSH hosts with a running cluster (test/apply/rollout-migration.test.ts runs it against booted Debian hosts)',
  'tar --no-overwrite-dir -xzf kubeha-0.2.0-linux-x64.tar.gz -C /': 'installs into / of an LB host (test/apply/release-package.test.ts has apply run the same tar on a booted host)',
  'npx kubeha apply --inventory examples/inventory.yaml --dry-run': 'connects to the example\'s hosts over SSH (test/apply/dry-run.test.ts runs it against booted Debian hosts)',
  'npm run package': 'builds the release tarball (~40 MB, npm ci of the production dependencies): test/apply/release-package.test.ts builds it and installs it on a booted host',
  'kubeha apply --inventory inventory.yaml --kubeha-package dist-release/kubeha-0.2.0-linux-x64.tar.gz --dry-run': 'needs SSH hosts (test/apply/release-package.test.ts)',
  'kubeha apply --inventory inventory.yaml --kubeha-package dist-release/kubeha-0.2.0-linux-x64.tar.gz': 'needs SSH hosts (test/apply/release-package.test.ts upgrades a running kubeha this way)',
  'kubeha apply --inventory inventory.yaml --dry-run': 'needs SSH hosts (test/apply/rollout-migration.test.ts shows it exits 0 after an apply)',
  'npm ci && npx kubeha demo': 'npm ci needs the registry; the demo runs until Ctrl-C (test/e2e runs it with --for)',
  'kubeha drill --inventory inventory.yaml --dry-run': 'the inventory of a live cluster (test/drill and test/apply/drill.test.ts list the steps)',
  'kubeha drill --inventory inventory.yaml --kill --record drill.jsonl': 'needs a live cluster over SSH (test/apply/drill.test.ts drills booted Debian hosts)',
  'npx kubeha demo --chaos': 'runs until Ctrl-C (test/demo-ns runs the full stack with --chaos-rounds 1)',
  'npx kubeha demo --chaos --chaos-rounds 1': 'about 30 s of namespaces and chaos: test/demo-ns/full-stack.test.ts runs it as user nobody and checks every step',
  'npm test': 'every test tier, as root it installs packages: not a test of its own',
  'npm ci': 'needs the registry',
  'npx kubeha run --config examples/kubeha.yaml': 'the daemon: it runs until stopped (test/e2e runs it)',
  'npx kubeha reload --config examples/kubeha.yaml': 'needs the running daemon of that config',
  'npx kubeha status --config examples/kubeha.yaml': 'needs the running daemon of that config',
  'npx kubeha maintenance on --config examples/kubeha-vrrp.yaml': 'needs the running daemon, with VRRP (root)',
  'npx kubeha elect --etcd http://127.0.0.1:2379 --name backup -- ./backup.sh': 'needs etcd on 127.0.0.1:2379 (test/election-etcd)',
  'npx kubeha lint /etc/keepalived/keepalived.conf /etc/haproxy/haproxy.cfg': 'the live files of an LB host',
  'npx kubeha doctor --inventory examples/inventory.yaml': 'the live cluster of the example, on 10.8.4.0/24',
  'npx kubeha check --config /etc/kubeha/kubeha.yaml': 'the config of an installed node',
  'apt-get install nftables conntrack': 'installs packages on an LB host (npm test installs them as root for the kernel tier)',
  'apt-get install nftables conntrack conntrackd': 'installs packages on an LB host (npm test installs them as root for the kube-apiserver tier, whose kernel-failover test runs conntrackd)',
  'sysctl -w net.ipv4.ip_forward=1': 'changes this host\'s forwarding (test/kernel-netns/daemon.test.ts sets it in its LB namespace after kubeha refused to start without it)',
  'kubeha check --config /etc/kubeha/kubeha.yaml': 'the config of an installed node (test/lint/kubeha-rules.test.ts has the kernel warnings)',
  'npx kubeha run --config /etc/kubeha/kubeha.yaml': 'the daemon of an installed node',
  'ln -sf "$(npm prefix -g)/bin/kubeha" /usr/bin/kubeha': 'root: writes /usr/bin',
  'ln -sf /opt/kubeha/bin/kubeha.js /usr/bin/kubeha': 'root: writes /usr/bin',
  'kubeha maintenance on --config /etc/kubeha/kubeha.yaml': 'the running daemon of an installed node',
  'kubeha maintenance off --config /etc/kubeha/kubeha.yaml': 'the running daemon of an installed node',
  'kubeha elect --etcd https://10.8.4.91:2379,https://10.8.4.92:2379,https://10.8.4.93:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/kubernetes/pki/apiserver-etcd-client.crt --key /etc/kubernetes/pki/apiserver-etcd-client.key --name nightly-backup -- /usr/local/bin/backup.sh': 'the etcd of a cluster',
  'kubeha elect --etcd ... --name nightly-backup --observe': 'the etcd of a cluster',
  'kubeha status --config /etc/kubeha/kubeha.yaml': 'the running daemon of an installed node',
  'kubeha doctor --inventory inventory.yaml [--cacert /etc/kubernetes/pki/ca.crt] [--json]': 'a synopsis; the live cluster',
  'curl -X POST -d \'{"state":"drain"}\' http://127.0.0.1:9000/api/v1/backends/apiservers/servers/master2': 'the admin API of a running daemon',
  'curl -X POST -d \'{"state":"ready","weight":50}\' http://127.0.0.1:9000/api/v1/backends/apiservers/servers/master2': 'the admin API of a running daemon',
  'kubeha lint /etc/keepalived/keepalived.conf /etc/haproxy/haproxy.cfg /etc/kubernetes/kubelet.conf': 'the live files of an LB host',
  'kubeha lint --nginx-context stream /etc/nginx/conf.d/k8s.conf': 'the live files of an LB host',
  'kubeha import /etc/keepalived/keepalived.conf /etc/haproxy/haproxy.cfg > kubeha.yaml': 'the live files of an LB host (test/lint/import.test.ts imports such files)',
  'kubeha lint /etc/keepalived/keepalived.conf /etc/haproxy/haproxy.cfg': 'the live files of lb1, after the copy',
  'apt-get install haproxy nginx libnginx-mod-stream wrk': 'root and the Debian mirror',
  'apt-get install keepalived iproute2': 'root and the Debian mirror',
  'apt-get install etcd-server': 'root and the Debian mirror',
  'npm run bench:proxy': 'a benchmark: minutes, haproxy, nginx and wrk',
  'npm run bench:kernel': 'a benchmark: minutes, root, network namespaces, haproxy, nginx and wrk',
  'apt-get install haproxy nginx libnginx-mod-stream wrk nftables conntrack': 'installs the kernel benchmark\'s packages as root (npm test installs what the tiers need, wrk is only the benchmarks\')',
  'npm run bench:failover': 'a benchmark: root, minutes',
  'npm run bench:vrrp-flood': 'a benchmark: root, minutes',
  'npm run bench:election': 'a benchmark: etcd, minutes',
  'npm install -g kubeha@NEW': 'root and the registry',
  'systemctl kill --kill-whom=main --signal=SIGUSR2 kubeha': 'the systemd unit of an installed node (test/e2e/restart-handover.test.ts sends the SIGUSR2)',
};

function allCommands(): DocCommand[] {
  let block = 0;
  return DOCS.flatMap((doc) => {
    const found = docCommands(doc, readFileSync(join(ROOT, doc), 'utf8'), block);
    block = Math.max(block, ...found.map((c) => c.block)) + 1;
    return found;
  });
}

const where = (c: DocCommand) => `${c.doc}:${c.line}: ${c.text}`;

test('every command the docs show is run here (RUNNABLE) or listed with the reason it cannot (NOT_HERE)', () => {
  const commands = allCommands();
  assert.ok(commands.length > 30, `found ${commands.length}`);
  const unknown = commands.filter((c) => !(c.text in RUNNABLE) && !(c.text in NOT_HERE)).map(where);
  assert.deepEqual(unknown, [], 'a new command in the docs: add it to RUNNABLE (what it claims) or to NOT_HERE (why it cannot run here)');
  const both = Object.keys(RUNNABLE).filter((k) => k in NOT_HERE);
  assert.deepEqual(both, []);
  const shown = new Set(commands.map((c) => c.text));
  assert.deepEqual([...Object.keys(RUNNABLE), ...Object.keys(NOT_HERE)].filter((k) => !shown.has(k)), [], 'no doc shows these any more: remove them');
  for (const c of commands.filter((c) => c.output && c.text in NOT_HERE)) assert.deepEqual(c.output, [], `${where(c)}: output shown for a command that does not run here`);
});

/** Runs the commands of one block in order, in a fresh directory; returns what each printed. */
function runBlock(t: { after(fn: () => void): void }, commands: DocCommand[]): { command: DocCommand; status: number | null; output: string }[] {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-docs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, '.bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'kubeha'), `#!/bin/sh\nexec "${process.execPath}" "${KUBEHA_BIN}" "$@"\n`);
  writeFileSync(join(bin, 'npx'), `#!/bin/sh\n[ "$1" = kubeha ] || { echo "npx $1: not this test's" >&2; exit 127; }\nshift\nexec "${process.execPath}" "${KUBEHA_BIN}" "$@"\n`);
  chmodSync(join(bin, 'kubeha'), 0o755);
  chmodSync(join(bin, 'npx'), 0o755);
  const results = [];
  for (const c of commands) {
    const r = RUNNABLE[c.text];
    if (!r) continue;
    for (const [to, from] of Object.entries(r.files ?? {})) {
      const src = join(ROOT, from);
      assert.ok(existsSync(src), `${where(c)} needs ${from}, which does not exist`);
      mkdirSync(dirname(join(dir, to)), { recursive: true });
      copyFileSync(src, join(dir, to));
    }
    const script = c.text.replace(/(^|\s)\/tmp\//g, `$1${dir}/tmp/`);
    const run = spawnSync('/bin/sh', ['-c', `${script} 2>&1`], {
      cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, NO_COLOR: '1' },
    });
    results.push({ command: c, status: run.status, output: (run.stdout ?? '').split(`${dir}/tmp/`).join('/tmp/').split(`${dir}/`).join('') });
  }
  return results;
}

/** Whether `actual` lines are what the doc shows, `...` standing for any lines. */
export function matchesShown(shown: string[], actual: string[]): boolean {
  const re = new RegExp(`^${shown.map((l) => (l === '...' ? '(?:[^\\n]*\\n)*?' : `${l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`)).join('')}$`);
  return re.test(actual.map((l) => `${l}\n`).join(''));
}

const blocks = new Map<number, DocCommand[]>();
for (const c of allCommands()) blocks.set(c.block, [...(blocks.get(c.block) ?? []), c]);
for (const commands of [...blocks.values()].filter((cs) => cs.some((c) => c.text in RUNNABLE))) {
  const first = commands[0]!;
  test(`${first.doc}:${first.line}: the commands of this block do what the doc says`, (t) => {
    for (const { command, status, output } of runBlock(t, commands)) {
      const r = RUNNABLE[command.text]!;
      assert.equal(status, r.exit, `${where(command)}: exit ${status}, the doc says ${r.exit} (${r.claim})\n${output}`);
      assert.match(output, r.out, `${where(command)}: ${r.claim}`);
      if (command.output) {
        const actual = output.split('\n').map((l) => l.trimEnd());
        while (actual.length > 0 && actual[actual.length - 1] === '') actual.pop();
        assert.ok(matchesShown(command.output, actual), `${where(command)}: the doc shows\n${command.output.join('\n')}\nbut it prints\n${actual.join('\n')}`);
      }
    }
  });
}

test('the convention: sh lines with comments and continuations, console blocks with their output, "..." for any lines', () => {
  const text = [
    '```sh', 'kubeha check --config a.yaml   # ok', '# a comment line', 'kubeha elect --etcd x \\', '  --name n -- ./run.sh', '```',
    'prose', '```console', '$ kubeha lint --no-host a.cfg   # clean', '1 file(s): 0 error(s), 0 warning(s)', '', '$ kubeha render --out x', '...', '```',
    '```yaml', 'a: 1 # not a command', '```',
  ].join('\n');
  assert.deepEqual(docCommands('x.md', text), [
    { doc: 'x.md', line: 2, block: 1, text: 'kubeha check --config a.yaml' },
    { doc: 'x.md', line: 4, block: 1, text: 'kubeha elect --etcd x --name n -- ./run.sh' },
    { doc: 'x.md', line: 9, block: 2, text: 'kubeha lint --no-host a.cfg', output: ['1 file(s): 0 error(s), 0 warning(s)'] },
    { doc: 'x.md', line: 12, block: 2, text: 'kubeha render --out x', output: ['...'] },
  ]);
  assert.ok(matchesShown(['a (b)', '...', 'z'], ['a (b)', 'c', 'd', 'z']));
  assert.ok(matchesShown(['...'], []));
  assert.ok(!matchesShown(['a (b)'], ['a (b)', 'extra']));
  assert.ok(!matchesShown(['1 file(s): 0 error(s)'], ['1 file(s): 1 error(s)']));
  assert.equal(withoutComment(`curl -d '{"a":"#1"}' http://x # post`), `curl -d '{"a":"#1"}' http://x `);
});

/** The options `kubeha [sub...] --help` lists, and its subcommands. */
function helpOf(words: string[]): { options: Set<string>; commands: Set<string> } {
  const r = spawnSync(process.execPath, [KUBEHA_BIN, ...words, '--help'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `kubeha ${words.join(' ')} --help: ${r.stderr}`);
  const section = (name: string) => r.stdout.split(/\n(?=\S)/).find((s) => s.startsWith(`${name}:`))?.split('\n').slice(1) ?? [];
  const options = new Set(section('Options').flatMap((l) => [...l.matchAll(/(?:^\s+|, )(--?[A-Za-z][\w-]*)/g)].map((m) => m[1]!)));
  const commands = new Set(section('Commands').map((l) => /^\s+([a-z][\w-]*)/.exec(l)?.[1]).filter((c): c is string => c !== undefined && c !== 'help'));
  return { options, commands };
}

/** Every `kubeha ...` the docs name: the block commands, and the inline code that starts with kubeha. */
function namedCommands(): { doc: string; text: string }[] {
  const blocks = allCommands().filter((c) => /^(npx )?kubeha /.test(c.text)).map((c) => ({ doc: c.doc, text: c.text }));
  const inline = DOCS.flatMap((doc) => [...readFileSync(join(ROOT, doc), 'utf8').matchAll(/`((?:npx )?kubeha [^`\n]+)`/g)].map((m) => ({ doc, text: m[1]! })));
  return [...blocks, ...inline];
}

test('every kubeha command the docs name, run here or not, names a command and options that exist', () => {
  const helps = new Map<string, ReturnType<typeof helpOf>>();
  const help = (words: string[]) => {
    const key = words.join(' ');
    if (!helps.has(key)) helps.set(key, helpOf(words));
    return helps.get(key)!;
  };
  const wrong: string[] = [];
  const named = namedCommands();
  assert.ok(named.length > 50, `found ${named.length}`);
  for (const { doc, text } of named) {
    const words = text.replace(/^npx /, '').split(/\s+/).slice(1);
    const end = words.findIndex((w) => ['--', '|', '>', '&&', ';'].includes(w));
    const args = (end < 0 ? words : words.slice(0, end)).map((w) => w.replace(/^[[(]+|[\])]+$/g, ''));
    const path: string[] = [];
    while (args.length > 0 && help(path).commands.has(args[0]!)) path.push(args.shift()!);
    if (path.length === 0) {
      wrong.push(`${doc}: ${text}: no command ${args[0]}`);
      continue;
    }
    const { options } = help(path);
    for (const flag of args.filter((a) => a.startsWith('-')).map((a) => a.replace(/=.*$/, ''))) {
      if (!options.has(flag)) wrong.push(`${doc}: ${text}: kubeha ${path.join(' ')} has no option ${flag}`);
    }
  }
  assert.deepEqual(wrong, []);
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

/** Paths in the docs that are not this repository's. */
const NOT_OURS = new Set(['src/tcpcheck.c']); // haproxy's source

test('every link of the docs and every repository path they name exist (with the heading a link points at)', () => {
  const wrong: string[] = [];
  for (const doc of DOCS) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [file, anchor] = target!.split('#') as [string, string | undefined];
      const path = file === '' ? join(ROOT, doc) : join(ROOT, dirname(doc), file);
      if (!existsSync(path)) {
        wrong.push(`${doc}: link ${target}: no such file`);
        continue;
      }
      if (anchor !== undefined && path.endsWith('.md')) {
        const headings = readFileSync(path, 'utf8').split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, '')));
        if (!headings.includes(anchor)) wrong.push(`${doc}: link ${target}: no such heading`);
      }
    }
    for (const [, , path] of text.matchAll(/(^|[\s`(])(?:\.\.\/)?((?:src|test|examples|bin|scripts|bench|docs)\/[\w./-]*[\w/])/g)) {
      if (!NOT_OURS.has(path!) && !existsSync(join(ROOT, path!))) wrong.push(`${doc}: ${path}: no such file in the repository`);
    }
  }
  assert.deepEqual(wrong, []);
});
