import { readFile } from 'node:fs/promises';
import { detectKind, lintFile, NEUTRAL_HOST, type LintFile, type NginxContext } from '../lint/lint-model.js';
import { formatFinding, lintFiles, systemHost } from '../lint/lint.js';

/** Options of `kubeha lint`. */
export interface LintOptions {
  /** The context an nginx snippet (a conf.d file without http/stream blocks) is included in; default http. */
  nginxContext?: NginxContext;
  /** false (`--no-host`): know nothing of this machine (files, interfaces, addresses), as in CI; default true. */
  host?: boolean;
}

/**
 * `kubeha lint FILE...`: reads kubeha.yaml, haproxy.cfg, nginx.conf (or a conf.d snippet),
 * keepalived.conf and kubeconfigs (by name or content), prints every finding as `file:line:
 * severity code: what; why; fix`, and exits 1 when one is an error or a file could not be linted.
 * Files given together are also checked against each other.
 */
export async function lintCommand(paths: string[], o: LintOptions = {}, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const files: LintFile[] = [];
  let unreadable = 0;
  let unknown = 0;
  for (const path of paths) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      err.write(`${path}:1: error read: ${e instanceof Error ? e.message : String(e)}\n`);
      unreadable++;
      continue;
    }
    const kind = detectKind(path, text);
    if (!kind) {
      err.write(`${path}:1: error unknown-file: not a kubeha.yaml, keepalived, haproxy, nginx or kubeconfig file; name it kubeha.yaml, keepalived.conf, haproxy.cfg, nginx.conf or *.kubeconfig\n`);
      unknown++;
      continue;
    }
    files.push(lintFile(path, kind, text, { nginxContext: o.nginxContext }));
  }
  const findings = lintFiles(files, o.host === false ? NEUTRAL_HOST : systemHost);
  for (const f of findings) out.write(`${formatFinding(f)}\n`);
  const errors = findings.filter((f) => f.severity === 'error').length;
  const summary = [
    ...(files.length > 0 ? [`${files.length} file(s): ${errors} error(s), ${findings.length - errors} warning(s)`] : []),
    ...(unreadable > 0 ? [`${unreadable} file(s) unreadable`] : []),
    ...(unknown > 0 ? [`${unknown} file(s) of unknown kind`] : []),
  ];
  out.write(`${summary.join('; ')}\n`);
  return unreadable + unknown > 0 || errors > 0 ? 1 : 0;
}
