import { formatProblem, loadConfigFile } from '../config/load.js';

/** `kubeha check --config F`: validates a config; prints file:line:col problems and returns 1, or 0. */
export async function checkCommand(file: string, out = process.stdout, err = process.stderr): Promise<number> {
  const result = await loadConfigFile(file);
  if (!result.ok) {
    for (const p of result.problems) err.write(`${formatProblem(p)}\n`);
    err.write(`${file}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  const c = result.config;
  const servers = c.backends.reduce((n, b) => n + b.servers.length, 0);
  out.write(`${file}: ok (${c.frontends.length} frontends, ${c.backends.length} backends, ${servers} servers, ${c.vrrp?.instances.length ?? 0} vrrp instances)\n`);
  return 0;
}
