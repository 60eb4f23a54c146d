import type { NodeState } from '../observe/node-state.js';
import { statusReport } from '../observe/status-report.js';
import { resolveAdmin, unreachable, type AdminSelector } from './admin-client.js';

export interface StatusOptions extends AdminSelector {
  json?: boolean;
}

/**
 * `kubeha status`: asks a running daemon for its state and prints frontends, servers, VRRP and the
 * VIP election as tables, then what is wrong. Exit 0: serving (warnings allowed); 1: a problem that
 * stops this node from serving; 2: the daemon could not be asked.
 */
export async function statusCommand(o: StatusOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const target = await resolveAdmin(o);
  if (typeof target === 'string') {
    err.write(`${target}\n`);
    return 2;
  }
  const url = `${target.base}/api/v1/state`;
  let body: string;
  try {
    const res = await fetch(url, { headers: target.headers, signal: AbortSignal.timeout(10_000) });
    if (res.status === 401 || res.status === 403) {
      err.write(`${url} answered ${res.status}: give the admin token with --token-file or the config's admin.tokenFile [KUBEHA_ERR_USAGE]\n`);
      return 2;
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.text();
  } catch (e) {
    err.write(`${unreachable(url, e)}\n`);
    return 2;
  }
  // Whatever answered may be another program, or a daemon of another version: judge, never crash.
  let state: NodeState;
  let report: ReturnType<typeof statusReport>;
  try {
    state = JSON.parse(body) as NodeState;
    if (!Array.isArray(state?.frontends) || !Array.isArray(state.backends) || typeof state.startedAt !== 'string') throw new Error('no frontends, backends or startedAt');
    report = statusReport({ ...state, vrrp: state.vrrp ?? [], events: state.events ?? [] }, Date.now());
  } catch (e) {
    err.write(`${url} did not answer with a kubeha state (${e instanceof Error ? e.message : String(e)}): is that kubeha's admin address? [KUBEHA_ERR_ADMIN_UNREACHABLE]\n`);
    return 2;
  }
  // Judged here, not taken from the daemon's `health`: the same verdict from any daemon version.
  out.write(o.json ? `${JSON.stringify({ ...state, health: { problems: report.problems, warnings: report.warnings } }, null, 2)}\n` : report.text);
  return report.problems.length > 0 ? 1 : 0;
}
