import { formatProblem, loadConfigFile } from '../config/load.js';
import { resolveAdmin, unreachable } from './admin-client.js';

/**
 * `kubeha reload --config F`: asks the daemon running with F (found through F's `admin.bind`) to
 * re-read it. Prints the daemon's answer; returns 1 when the daemon refused the config.
 */
export async function reloadCommand(file: string, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const loaded = await loadConfigFile(file);
  if (!loaded.ok) {
    for (const p of loaded.problems) err.write(`${formatProblem(p)}\n`);
    err.write('not sent: the running daemon would refuse this config too\n');
    return 1;
  }
  if (!loaded.config.admin) {
    err.write(`${file} has no admin: section, so the daemon has no API to reload through; send it SIGHUP instead [KUBEHA_ERR_USAGE]\n`);
    return 1;
  }
  const target = await resolveAdmin({ config: file });
  if (typeof target === 'string') {
    err.write(`${target}\n`);
    return 1;
  }
  const url = `${target.base}/api/v1/reload`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: target.headers, signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    err.write(`${unreachable(url, e)}\n`);
    return 1;
  }
  if (res.status === 401 || res.status === 403) {
    err.write(`${url} answered ${res.status}: the config's admin.tokenFile does not hold the daemon's token [KUBEHA_ERR_USAGE]\n`);
    return 1;
  }
  let body: { ok?: unknown; errors?: unknown };
  try {
    body = (await res.json()) as { ok?: unknown; errors?: unknown };
  } catch {
    err.write(`${url} answered HTTP ${res.status} without JSON: is that kubeha's admin address? [KUBEHA_ERR_ADMIN_UNREACHABLE]\n`);
    return 1;
  }
  if (body.ok === true) {
    out.write('reloaded\n');
    return 0;
  }
  for (const e of Array.isArray(body.errors) ? body.errors : []) err.write(`${String(e)}\n`);
  err.write('reload refused; the daemon keeps its running config [KUBEHA_ERR_RELOAD_REJECTED]\n');
  return 1;
}
