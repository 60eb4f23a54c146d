import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { stringify } from 'yaml';
import { parseInventoryText } from '../plan/inventory.js';

/** Options of `kubeha inventory`. */
export interface InventoryOptions {
  masters: string;
  nodes?: string;
  vip: string;
  interface: string;
  lbFlavor?: 'kubeha' | 'haproxy' | 'nginx';
  cluster?: string;
  vrid?: string;
}

/** One host read from a list file: its address, and a name when the line gives one. */
interface ListedHost {
  ip: string;
  name?: string;
  line: number;
}

/**
 * Reads the `master_ip` / `node_ip` files install scripts use: one host a line, `IP` or `IP NAME`
 * (the /etc/hosts order); blank lines and `#` comments are skipped. Problems come as `FILE:LINE: ...`.
 */
export function parseHostList(text: string, file: string): { hosts: ListedHost[]; problems: string[] } {
  const hosts: ListedHost[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const [ip, name, ...rest] = line.split(/\s+/);
    if (!ip || !isIPv4(ip) || rest.length > 0) {
      problems.push(`${file}:${i + 1}: "${raw.trim()}" is not "IP" or "IP NAME" (one host a line, like 10.8.4.91 or 10.8.4.91 master1) [KUBEHA_ERR_INVENTORY]`);
      return;
    }
    hosts.push({ ip, ...(name ? { name: name.toLowerCase() } : {}), line: i + 1 });
  });
  if (hosts.length === 0 && problems.length === 0) problems.push(`${file}:1: no host in the file (one IP a line) [KUBEHA_ERR_INVENTORY]`);
  return { hosts, problems };
}

/**
 * `kubeha inventory --masters FILE [--nodes FILE] --vip CIDR --interface IF`: prints an inventory
 * (the one `kubeha render` and `kubeha apply` read) from the guides' plain lists of addresses,
 * validated like any inventory. Exit 1 with every problem at FILE:LINE.
 */
export async function inventoryCommand(o: InventoryOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const problems: string[] = [];
  const read = async (file: string, prefix: string) => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      problems.push(`${file}: cannot read: ${e instanceof Error ? e.message : String(e)} [KUBEHA_ERR_INVENTORY]`);
      return [];
    }
    const list = parseHostList(text, file);
    problems.push(...list.problems);
    return list.hosts.map((h, i) => ({ name: h.name ?? `${prefix}${i + 1}`, ip: h.ip, from: `${file}:${h.line}` }));
  };
  const masters = await read(o.masters, 'master');
  const workers = o.nodes ? await read(o.nodes, 'node') : [];
  const vrid = o.vrid === undefined ? undefined : Number(o.vrid);
  if (vrid !== undefined && !(Number.isInteger(vrid) && vrid >= 1 && vrid <= 255)) problems.push(`--vrid ${o.vrid}: a VRRP virtual router id is 1..255 [KUBEHA_ERR_USAGE]`);
  if (problems.length > 0) {
    for (const p of problems) err.write(`${p}\n`);
    return 1;
  }
  const inventory = {
    cluster: o.cluster ?? 'kubernetes',
    vip: o.vip,
    interface: o.interface,
    masters: masters.map(({ name, ip }) => ({ name, ip })),
    workers: workers.map(({ name, ip }) => ({ name, ip })),
    lb: { flavor: o.lbFlavor ?? 'kubeha' },
    ...(vrid !== undefined ? { vrrp: { virtualRouterId: vrid } } : {}),
  };
  const text = `# Written by kubeha inventory from ${[o.masters, o.nodes].filter(Boolean).join(' and ')}. Check it, then: kubeha render --inventory THIS_FILE --out DIR\n${stringify(inventory)}`;
  const checked = parseInventoryText(text, 'inventory');
  if (!checked.ok) {
    // Said where the user can fix it: the list's line for a host, the option for the rest.
    const where = (path: string) => {
      const m = /^(masters|workers)[.[](\d+)/.exec(path);
      if (m) return (m[1] === 'masters' ? masters : workers)[Number(m[2])]?.from ?? path;
      const named: Record<string, string | undefined> = {
        masters: o.masters, workers: o.nodes, vip: '--vip', interface: '--interface', cluster: '--cluster', 'lb.flavor': '--lb-flavor', 'vrrp.virtualRouterId': '--vrid',
      };
      return named[path] ?? path;
    };
    for (const p of checked.problems) err.write(`${where(p.path)}: ${p.message} [${p.code}]\n`);
    return 1;
  }
  out.write(text);
  return 0;
}
