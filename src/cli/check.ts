import { analyzeConfigFile, formatProblem } from '../config/load.js';
import { NEUTRAL_HOST, type LintFile } from '../lint/lint-model.js';
import { formatFinding, ruleFindings, systemHost } from '../lint/lint.js';

/** Options of `kubeha check`. */
export interface CheckOptions {
  /** Also check against this machine: the files the config names, its interfaces and subnets, local addresses. */
  host?: boolean;
}

/**
 * `kubeha check --config F [--host]`: validates a config and runs the lint rules for kubeha.yaml
 * on it, every problem in one pass. Without `--host` the rules know nothing of the machine (those
 * that need it skip), so a config can be checked anywhere; the rendered unit's ExecStartPre runs it
 * with `--host`. Prints problems (`file:line:col: ... [CODE]`) and findings (`file:line: severity
 * code: ...`) by line; returns 1 on any problem or error finding, 0 otherwise (warnings included).
 */
export async function checkCommand(file: string, o: CheckOptions = {}, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const { text, analysis } = await analyzeConfigFile(file);
  const lint: LintFile = { path: file, kind: 'kubeha', text, tree: { directives: [], problems: [] }, kubeha: analysis };
  const findings = analysis.config ? ruleFindings([lint], o.host ? systemHost : NEUTRAL_HOST) : [];
  const lines = [
    ...analysis.problems.map((p) => ({ line: p.line, text: formatProblem(p) })),
    ...findings.map((f) => ({ line: f.line, text: formatFinding(f) })),
  ].sort((a, b) => a.line - b.line);
  for (const l of lines) err.write(`${l.text}\n`);
  const errors = analysis.problems.length + findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - findings.filter((f) => f.severity === 'error').length;
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const warned = warnings > 0 ? `, ${plural(warnings, 'warning')}` : '';
  const hostNote = o.host ? '' : '; not checked against this host (--host checks files, interfaces, addresses)';
  if (errors > 0 || !analysis.config) {
    err.write(`${file}: ${plural(errors, 'problem')}${warned}\n`);
    return 1;
  }
  const c = analysis.config;
  const servers = c.backends.reduce((n, b) => n + b.servers.length, 0);
  out.write(`${file}: ok (${c.frontends.length} frontends, ${c.backends.length} backends, ${servers} servers, ${c.vrrp?.instances.length ?? 0} vrrp instances)${warned}${hostNote}\n`);
  return 0;
}
