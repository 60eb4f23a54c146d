import { formatProblem, loadConfigFile } from '../config/load.js';
import { resolveAdmin, unreachable } from './admin-client.js';

/**
 * `kubeha reload --config F`: asks the daemon running with F (found through F's `admin.bind`) to
 * re-read it. Prints the daemon's answer; returns 1 when the daemon refused the config.
 */
export async function reloadCommand(file: string): Promise<number> {
  const loaded = await loadConfigFile(file);
  if (!loaded.ok) {
    for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write('not sent: the running daemon would refuse this config too\n');
    return 1;
  }
  if (!loaded.config.admin) {
    process.stderr.write(`${file} has no admin: section, so the daemon has no API to reload through; send it SIGHUP instead [KUBEHA_ERR_USAGE]\n`);
    return 1;
  }
  const target = await resolveAdmin({ config: file });
  if (typeof target === 'string') {
    process.stderr.write(`${target}\n`);
    return 1;
  }
  const url = `${target.base}/api/v1/reload`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: target.headers, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    process.stderr.write(`${unreachable(url, err)}\n`);
    return 1;
  }
  const body = (await res.json()) as { ok: boolean; errors?: string[] };
  if (body.ok) {
    process.stdout.write('reloaded\n');
    return 0;
  }
  for (const e of body.errors ?? []) process.stderr.write(`${e}\n`);
  process.stderr.write('reload refused; the daemon keeps its running config [KUBEHA_ERR_RELOAD_REJECTED]\n');
  return 1;
}
