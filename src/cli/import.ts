import { readFile } from 'node:fs/promises';
import { parseConfigText, formatProblem } from '../config/load.js';
import { importConfigs, importedYaml } from '../lint/importer.js';
import { detectKind, lintFile, type LintFile } from '../lint/lint-model.js';
import { systemHost } from '../lint/lint.js';

/**
 * `kubeha import keepalived.conf haproxy.cfg|nginx.conf`: prints the equivalent kubeha.yaml, with
 * comments for what has no equivalent. The output is validated before it is printed.
 */
export async function importCommand(paths: string[]): Promise<number> {
  const files: LintFile[] = [];
  for (const path of paths) {
    const text = await readFile(path, 'utf8').catch((err: Error) => {
      process.stderr.write(`${path}: cannot read: ${err.message}\n`);
      return undefined;
    });
    if (text === undefined) return 1;
    const kind = detectKind(path, text);
    if (kind !== 'keepalived' && kind !== 'haproxy' && kind !== 'nginx') {
      process.stderr.write(`${path}: not a keepalived, haproxy or nginx config\n`);
      return 1;
    }
    files.push(lintFile(path, kind, text));
  }
  const yaml = importedYaml(importConfigs({ files, host: systemHost }), paths);
  const check = parseConfigText(yaml, 'imported kubeha.yaml');
  process.stdout.write(yaml);
  if (!check.ok) {
    for (const p of check.problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write('the imported config needs the changes above before kubeha can run it\n');
    return 1;
  }
  return 0;
}
