import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { KubeconfigRefs } from '../discovery/kubeconfig.js';
import type { LoadResult } from './problem.js';

// The daemon parses its config and its kubeconfigs in a short-lived child process
// (parse-child.ts), so that the YAML parser and the schema library (zod, ~12 MiB resident once
// loaded, and an ES module is never unloaded) stay out of a process that runs for months on every
// node. The child prints its result as JSON: a parsed Config holds only JSON values (durations are
// milliseconds). docs/architecture.md, "Memory".

const CHILD = fileURLToPath(new URL('./parse-child.js', import.meta.url));
/** Long enough for a node starting on a loaded 2-core machine; a stuck parser is killed. */
const CHILD_TIMEOUT_MS = 60_000;

/** What parse-child.ts prints for `kind`. */
interface ChildAnswer {
  config: LoadResult;
  kubeconfig: { ok: true; refs: KubeconfigRefs } | { ok: false; error: string };
}

function runChild<K extends keyof ChildAnswer>(kind: K, file: string): Promise<ChildAnswer[K]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD, kind, file], { timeout: CHILD_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`the ${kind} parser (${CHILD}) failed: ${stderr.trim() || err.message}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as ChildAnswer[K]);
      } catch {
        reject(new Error(`the ${kind} parser (${CHILD}) printed no JSON: ${stdout.slice(0, 200)}`));
      }
    });
  });
}

/** loadConfigFile (load.ts) in a child process; never throws: a failed child is a problem of the file. */
export async function loadConfigIsolated(file: string): Promise<LoadResult> {
  try {
    return await runChild('config', file);
  } catch (err) {
    return { ok: false, problems: [{ code: 'KUBEHA_ERR_CONFIG_READ', file, line: 1, col: 1, path: '', message: `cannot check the config: ${err instanceof Error ? err.message : String(err)}` }] };
  }
}

/** A kubeconfig's references (kubeconfigRefs), its YAML parsed in a child process. Throws an Error naming the file. */
export async function parseKubeconfigIsolated(file: string): Promise<KubeconfigRefs> {
  const answer = await runChild('kubeconfig', file);
  if (!answer.ok) throw new Error(answer.error);
  return answer.refs;
}
