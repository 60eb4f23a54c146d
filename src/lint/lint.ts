// Runs the rules over a set of files and formats the findings.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { ConfigProblem } from '../config/load.js';
import { finding, type Finding, type HostFacts, type LintFile, type Rule } from './lint-model.js';
import { RULES } from './rules/index.js';

/** `file:line: severity code: what is wrong; why it breaks HA; the fix`. */
export function formatFinding(f: Finding): string {
  return `${f.file}:${f.line}: ${f.severity} ${f.code}: ${f.what}; ${f.why}; ${f.fix}`;
}

/**
 * A problem kubeha's loader finds in kubeha.yaml, as a finding: its code is the error code
 * (docs/errors.md); the message's "what is wrong; what to do" become what and fix.
 */
function problemFinding(p: ConfigProblem): Finding {
  const cut = p.message.indexOf('; ');
  const what = cut < 0 ? p.message : p.message.slice(0, cut);
  const fix = cut < 0 ? `see docs/errors.md#${p.code.toLowerCase()}` : p.message.slice(cut + 2);
  return finding(p.code, 'error', p.file, p.line, what, 'kubeha run refuses the file and a reload with it keeps the old config', fix);
}

/** All findings for `files`: structural parse problems first, then by file and line (kubeha.yaml's loader problems first on a line). */
export function lintFiles(files: LintFile[], host: HostFacts, rules: Rule[] = RULES): Finding[] {
  const parse = files.flatMap((f) => f.tree.problems.map((p) => finding('parse', 'error', f.path, p.line, p.message, `${f.kind} will refuse the file or read it differently`, 'balance the braces')));
  const loaded = files.flatMap((f) => f.kubeha?.problems.map(problemFinding) ?? []);
  return [...parse, ...byFileAndLine(files, [...loaded, ...rules.flatMap((r) => r.check({ files, host }))])];
}

/** The findings of the rules alone (no parse or loader problems), by file and line. */
export function ruleFindings(files: LintFile[], host: HostFacts, rules: Rule[] = RULES): Finding[] {
  return byFileAndLine(files, rules.flatMap((r) => r.check({ files, host })));
}

function byFileAndLine(files: LintFile[], found: Finding[]): Finding[] {
  const order = new Map(files.map((f, i) => [f.path, i]));
  return found.sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.line - b.line);
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
