// The config parser's process (isolated-parse.ts): `node parse-child.js config|kubeconfig FILE`
// prints the result as one JSON document on stdout and exits.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { kubeconfigRefs } from '../discovery/kubeconfig.js';
import { loadConfigFile } from './load.js';

async function kubeconfig(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, error: `cannot read the kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}` };
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    return { ok: false, error: `the kubeconfig ${file} is not YAML: ${err instanceof Error ? err.message : String(err)}` };
  }
  try {
    return { ok: true, refs: kubeconfigRefs(doc, file) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

const [kind, file] = process.argv.slice(2);
if ((kind !== 'config' && kind !== 'kubeconfig') || !file) {
  process.stderr.write('usage: parse-child.js config|kubeconfig FILE\n');
  process.exitCode = 2;
} else {
  const answer = kind === 'config' ? await loadConfigFile(file) : await kubeconfig(file);
  process.stdout.write(JSON.stringify(answer));
}
