import { formatProblem, loadConfigFile } from '../config/load.js';
import { adminRequest, resolveAdmin } from './admin-client.js';

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
  const answer = await adminRequest(target, '/api/v1/reload', { method: 'POST', timeoutMs: 30_000, tokenHint: "the config's admin.tokenFile does not hold the daemon's token" });
  if (!answer.ok) {
    err.write(`${answer.error}\n`);
    return 1;
  }
  let body: { ok?: unknown; errors?: unknown };
  try {
    body = JSON.parse(answer.text) as { ok?: unknown; errors?: unknown };
  } catch {
    err.write(`${answer.url} answered HTTP ${answer.status} without JSON: is that kubeha's admin address? [KUBEHA_ERR_ADMIN_UNREACHABLE]\n`);
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
