import { readFile } from 'node:fs/promises';
import { parseHostPort, formatHostPort } from '../config/address.js';
import { formatProblem, loadConfigFile } from '../config/load.js';

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
  const admin = loaded.config.admin;
  if (!admin) {
    process.stderr.write(`${file} has no admin: section, so the daemon has no API to reload through; send it SIGHUP instead [KUBEHA_ERR_USAGE]\n`);
    return 1;
  }
  const hp = parseHostPort(admin.bind, true);
  if (typeof hp === 'string') return 1;
  const host = hp.host === '0.0.0.0' ? '127.0.0.1' : hp.host === '::' ? '::1' : hp.host;
  const headers: Record<string, string> = {};
  if (admin.tokenFile) headers.authorization = `Bearer ${(await readFile(admin.tokenFile, 'utf8')).trim()}`;
  const url = `http://${formatHostPort(host, hp.port)}/api/v1/reload`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    process.stderr.write(`cannot reach the daemon at ${url}: ${err instanceof Error ? err.message : String(err)}; is kubeha running with this config? [KUBEHA_ERR_ADMIN_UNREACHABLE]\n`);
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
