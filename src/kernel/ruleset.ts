// The in-kernel data plane's nftables program (issue 16), pure: kubeha decides, the kernel forwards.
// One table, `inet kubeha`, that kubeha owns and nothing else touches. Per kernel frontend:
// - a slot map `fe_NAME`: SLOTS integer keys → server address . port. A server's share of the
//   slots is its weight (slow start and drain included); down or drained servers hold none. The
//   DNAT rule picks a slot with `numgen inc` (roundrobin: the slots are interleaved, so successive
//   flows take turns like smooth weighted round robin) or `jhash ip saddr` (source). The modulus is
//   fixed, so every change of health, weight or membership is one map update, never a rule change.
// - a DNAT rule at prerouting (an LB host: traffic to the VIP from elsewhere) or at output (a
//   node-local LB: the node's own clients), and a masquerade at postrouting (for output, of flows
//   that leave the host), so the replies come back through this host and conntrack reverses both
//   translations; or, with `sourceNat: vip`, a SNAT to the VIP, so the replies come back to the
//   VIP's holder (stateful failover, with the conntrack entries replicated by conntrack-sync.ts).
// - per-server named counters, counted in both directions by a filter chain after the DNAT.
// A map with no element (no usable server) makes the DNAT lookup fail: the packet goes on to the
// VIP itself, where nothing listens on the port, and the client's SYN is answered by a reset.
// The text is for `nft -f -`, which applies a whole script as one transaction.
import { isIPv4 } from 'node:net';

/** The table kubeha owns. */
export const KERNEL_TABLE = 'kubeha';
/** Slots per frontend map: weights are shares of these (a weight-1 server among weight-256 ones still gets one). */
export const SLOTS = 256;

export interface KernelServer {
  /** The server's name in the config (its counter is named after it). */
  name: string;
  ip: string;
  port: number;
  /** Its current share: 0 for a server that takes no new flows (down, drained, maintenance). */
  weight: number;
}

export interface KernelFrontend {
  name: string;
  /** The address clients connect to (the VIP, or a node-local service address). */
  vip: string;
  port: number;
  balance: 'roundrobin' | 'source';
  /** prerouting: clients on other hosts (an LB host); output: this host's own clients (node-local). */
  hook: 'prerouting' | 'output';
  /**
   * The source the servers see: `node` (masquerade: this host's address on the way out) or `vip`
   * (SNAT to the VIP: the replies go to whichever host holds the VIP, which with the conntrack
   * entries replicated can carry the flow on; prerouting only). Default node.
   */
  sourceNat?: 'node' | 'vip';
  servers: KernelServer[];
}

/** An nftables identifier from a config name: letters, digits and `_` (a config name may hold `-` and `.`). */
export function nftName(prefix: string, name: string): string {
  return `${prefix}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/**
 * The slots of a frontend in order: each server with weight w gets round(SLOTS × w / Σw) of them
 * (largest remainders, so they add up to SLOTS, and at least one for any positive weight), spread by
 * smooth weighted round robin so that a run of successive slots takes every server in turn. Empty
 * when no server has a weight.
 */
export function slotOrder(servers: readonly KernelServer[]): KernelServer[] {
  const live = servers.filter((s) => s.weight > 0);
  const total = live.reduce((n, s) => n + s.weight, 0);
  if (live.length === 0) return [];
  const exact = live.map((s) => (SLOTS * s.weight) / total);
  const counts = exact.map((x) => Math.max(1, Math.floor(x)));
  // hand out (or take back) the slots the rounding left, largest remainder first
  const byRemainder = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i);
  let left = SLOTS - counts.reduce((n, c) => n + c, 0);
  for (let k = 0; left > 0; k = (k + 1) % byRemainder.length, left--) counts[byRemainder[k]!.i]!++;
  for (let k = byRemainder.length - 1; left < 0; k = (k - 1 + byRemainder.length) % byRemainder.length) {
    const i = byRemainder[k]!.i;
    if (counts[i]! > 1) {
      counts[i]!--;
      left++;
    }
  }
  // smooth weighted round robin over the counts: exactly counts[i] picks of server i in SLOTS steps
  const current = counts.map(() => 0);
  const order: KernelServer[] = [];
  for (let step = 0; step < SLOTS; step++) {
    let best = 0;
    for (let i = 0; i < counts.length; i++) {
      current[i]! += counts[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= SLOTS;
    order.push(live[best]!);
  }
  return order;
}

const target = (s: KernelServer) => `${s.ip} . ${s.port}`;

/** `{ 0 : a . p, 1 : ... }`, or undefined for an empty map. */
function slotElements(f: KernelFrontend): string | undefined {
  const order = slotOrder(f.servers);
  return order.length ? `{ ${order.map((s, i) => `${i} : ${target(s)}`).join(', ')} }` : undefined;
}

/** The problems that keep a frontend out of the kernel (IPv4 only for now; names that collide once made nftables identifiers). */
export function checkKernelFrontends(frontends: readonly KernelFrontend[]): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const f of frontends) {
    const id = nftName('fe', f.name);
    const other = seen.get(id);
    if (other !== undefined) problems.push(`frontends ${other} and ${f.name} are both ${id} in nftables: rename one (letters, digits and _ are kept, the rest become _)`);
    seen.set(id, f.name);
    if (!isIPv4(f.vip)) problems.push(`frontend ${f.name}: the kernel data plane takes an IPv4 address, not ${f.vip}`);
    if (f.servers.length > SLOTS) problems.push(`frontend ${f.name}: ${f.servers.length} servers, more than the ${SLOTS} slots of its map`);
    const names = new Set<string>();
    for (const s of f.servers) {
      if (!isIPv4(s.ip)) problems.push(`frontend ${f.name}: server ${s.name} (${s.ip}) is not an IPv4 address`);
      const counter = counterName(f, s);
      if (names.has(counter)) problems.push(`frontend ${f.name}: two servers are ${counter} in nftables: rename one`);
      names.add(counter);
    }
  }
  return problems;
}

/** The counter of `server` of frontend `f`. */
export const counterName = (f: { name: string }, server: { name: string }) => nftName(nftName('srv', f.name), server.name);

/**
 * The whole table as one `nft -f` script: created if missing, then replaced in the same transaction
 * (`delete table` + the new definition), so traffic sees the old table or the new one, never a
 * half. Established flows keep their translation: it lives in conntrack, not in the table.
 * `seed` carries the counters over (by name) from the table this one replaces.
 * Call only on frontends that passed {@link checkKernelFrontends}.
 */
export function renderTable(frontends: readonly KernelFrontend[], seed: ReadonlyMap<string, { packets: number; bytes: number }> = new Map()): string {
  const body: string[] = [];
  const chains = { prerouting: [] as string[], output: [] as string[], postrouting: [] as string[], countForward: [] as string[], countOutput: [] as string[], countInput: [] as string[] };
  for (const f of frontends) {
    const map = nftName('fe', f.name);
    const counters = `${map}_counters`;
    const elements = slotElements(f);
    body.push(`  map ${map} {\n    typeof numgen inc mod ${SLOTS} : ip daddr . tcp dport\n${elements ? `    elements = ${elements}\n` : ''}  }`);
    for (const s of f.servers) {
      const was = seed.get(counterName(f, s));
      body.push(`  counter ${counterName(f, s)} {${was ? ` packets ${was.packets} bytes ${was.bytes}` : ''} }`);
    }
    const counted = f.servers.length ? `{ ${f.servers.map((s) => `${target(s)} : "${counterName(f, s)}"`).join(', ')} }` : undefined;
    body.push(`  map ${counters} {\n    type ipv4_addr . inet_service : counter\n${counted ? `    elements = ${counted}\n` : ''}  }`);
    const pick = f.balance === 'source' ? `jhash ip saddr mod ${SLOTS}` : `numgen inc mod ${SLOTS}`;
    chains[f.hook].push(`ip daddr ${f.vip} tcp dport ${f.port} dnat ip to ${pick} map @${map}`);
    // replies must come back through this host: for the node's own clients only when the flow leaves
    // it (a source of 127.0.0.1 or the service address itself is no use to a server elsewhere)
    const translate = f.sourceNat === 'vip' && f.hook === 'prerouting' ? `snat ip to ${f.vip}` : 'masquerade';
    chains.postrouting.push(`ct status dnat ct original ip daddr ${f.vip} ${f.hook === 'output' ? 'oifname != "lo" ' : ''}${translate}`);
    // requests after the DNAT (daddr is the server), replies before the reverse translation (saddr is)
    const toServer = `ct status dnat ct original ip daddr ${f.vip} ct direction original counter name ip daddr . tcp dport map @${counters}`;
    const fromServer = `ct status dnat ct original ip daddr ${f.vip} ct direction reply counter name ip saddr . tcp sport map @${counters}`;
    if (f.hook === 'prerouting') chains.countForward.push(toServer, fromServer);
    else {
      chains.countOutput.push(toServer);
      chains.countInput.push(fromServer);
    }
  }
  const chain = (name: string, type: string, hook: string, priority: string, rules: string[]) =>
    `  chain ${name} {\n    type ${type} hook ${hook} priority ${priority}; policy accept;\n${rules.map((r) => `    ${r}\n`).join('')}  }`;
  body.push(
    chain('prerouting', 'nat', 'prerouting', 'dstnat', chains.prerouting),
    chain('output', 'nat', 'output', '-100', chains.output),
    chain('postrouting', 'nat', 'postrouting', 'srcnat', chains.postrouting),
    chain('count_forward', 'filter', 'forward', 'filter', chains.countForward),
    chain('count_output', 'filter', 'output', 'filter', chains.countOutput),
    chain('count_input', 'filter', 'input', 'filter', chains.countInput),
  );
  return `add table inet ${KERNEL_TABLE}\ndelete table inet ${KERNEL_TABLE}\ntable inet ${KERNEL_TABLE} {\n${body.join('\n')}\n}\n`;
}

/**
 * One frontend's new slots as one transaction: what a health, weight or drain change costs (the
 * rules and the counters stay). New flows take the new slots; established ones keep their server.
 */
export function renderSlotUpdate(f: KernelFrontend): string {
  const map = nftName('fe', f.name);
  const elements = slotElements(f);
  return `flush map inet ${KERNEL_TABLE} ${map}\n${elements ? `add element inet ${KERNEL_TABLE} ${map} ${elements}\n` : ''}`;
}
