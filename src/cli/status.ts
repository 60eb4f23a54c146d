import { statusReport } from '../observe/status-report.js';
import { askDaemon, type AdminSelector } from './admin-client.js';

export interface StatusOptions extends AdminSelector {
  json?: boolean;
}

/**
 * `kubeha status`: asks a running daemon for its state and prints frontends, servers, VRRP and the
 * VIP election as tables, then what is wrong. Exit 0: serving (warnings allowed); 1: a problem that
 * stops this node from serving; 2: the daemon could not be asked.
 */
export async function statusCommand(o: StatusOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const asked = await askDaemon(o, err);
  if (typeof asked === 'number') return asked;
  const { state } = asked;
  const report = statusReport(state, Date.now());
  // Judged here, not taken from the daemon's `health`: the same verdict from any daemon version.
  out.write(o.json ? `${JSON.stringify({ ...state, health: { problems: report.problems, warnings: report.warnings } }, null, 2)}\n` : report.text);
  return report.problems.length > 0 ? 1 : 0;
}
