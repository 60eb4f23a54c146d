// Runs the rules over a set of files and formats the findings.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { finding, type Finding, type HostFacts, type LintFile, type Rule } from './lint-model.js';
import { RULES } from './rules/index.js';

/** `file:line: severity code: what is wrong; why it breaks HA; the fix`. */
export function formatFinding(f: Finding): string {
  return `${f.file}:${f.line}: ${f.severity} ${f.code}: ${f.what}; ${f.why}; ${f.fix}`;
}

/** All findings for `files`, structural parse problems first, then by file and line. */
export function lintFiles(files: LintFile[], host: HostFacts, rules: Rule[] = RULES): Finding[] {
  const parse = files.flatMap((f) => f.tree.problems.map((p) => finding('parse', 'error', f.path, p.line, p.message, `${f.kind} will refuse the file or read it differently`, 'balance the braces')));
  const found = rules.flatMap((r) => r.check({ files, host }));
  const order = new Map(files.map((f, i) => [f.path, i]));
  return [...parse, ...found.sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.line - b.line)];
}

/** The facts of the machine `kubeha lint` runs on. */
export const systemHost: HostFacts = {
  exists: (p) => existsSync(p),
  executable: (p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  },
  readFile: (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
  interfaceCidrs: (name) => networkInterfaces()[name]?.map((a) => a.cidr ?? '').filter(Boolean),
  localAddresses: () => Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address)),
};
