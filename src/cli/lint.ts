import { readFile } from 'node:fs/promises';
import { detectKind, lintFile, type LintFile } from '../lint/lint-model.js';
import { formatFinding, lintFiles, systemHost } from '../lint/lint.js';

/**
 * `kubeha lint FILE...`: reads haproxy.cfg, nginx.conf, keepalived.conf and kubeconfigs (by name or
 * content), prints every finding as `file:line: severity code: what; why; fix`, and exits 1 when
 * one is an error. Files given together are also checked against each other.
 */
export async function lintCommand(paths: string[]): Promise<number> {
  const files: LintFile[] = [];
  let failed = false;
  for (const path of paths) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      process.stderr.write(`${path}:1: error read: ${err instanceof Error ? err.message : String(err)}\n`);
      failed = true;
      continue;
    }
    const kind = detectKind(path, text);
    if (!kind) {
      process.stderr.write(`${path}:1: error unknown-file: not a keepalived, haproxy, nginx or kubeconfig file; name it keepalived.conf, haproxy.cfg, nginx.conf or *.kubeconfig\n`);
      failed = true;
      continue;
    }
    files.push(lintFile(path, kind, text));
  }
  const findings = lintFiles(files, systemHost);
  for (const f of findings) process.stdout.write(`${formatFinding(f)}\n`);
  const errors = findings.filter((f) => f.severity === 'error').length;
  process.stdout.write(`${files.length} file(s): ${errors} error(s), ${findings.length - errors} warning(s)\n`);
  return failed || errors > 0 ? 1 : 0;
}
