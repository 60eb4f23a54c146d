import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigIsolated, parseKubeconfigIsolated } from '../../src/config/isolated-parse.js';
import { loadConfigFile } from '../../src/config/load.js';
import { readKubeconfig } from '../../src/discovery/kubeconfig.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));

test('a config parsed in the child process is the config parsed in this one, problems at the same file:line', async (t) => {
  const files = (await readdir(examples)).filter((f) => f.startsWith('kubeha') && f.endsWith('.yaml')).map((f) => join(examples, f));
  assert.ok(files.length >= 2);
  for (const file of files) {
    const here = await loadConfigFile(file);
    assert.equal(here.ok, true, file);
    assert.deepEqual(await loadConfigIsolated(file), JSON.parse(JSON.stringify(here)), `${file}: a Config is JSON (durations in ms), so it crosses the pipe whole`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-isolated-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'frontends:\n  - name: fe\n    bind: 127.0.0.1:6443\n    backend: nope\nbackends: []\nglobl: {}\n');
  const badHere = await loadConfigFile(bad);
  const badThere = await loadConfigIsolated(bad);
  assert.equal(badThere.ok, false);
  assert.deepEqual(badThere, badHere);
  const missing = await loadConfigIsolated(join(dir, 'missing.yaml'));
  assert.ok(!missing.ok && missing.problems[0]!.code === 'KUBEHA_ERR_CONFIG_READ');
});

test('a kubeconfig is parsed in the child process, again when the file changes; the key material it names is read at every call', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeha-isolated-kc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'kubelet.conf');
  const kubeconfig = (server: string) => `apiVersion: v1
kind: Config
current-context: ctx
clusters:
- name: c
  cluster: { server: '${server}', certificate-authority-data: ${Buffer.from('CA').toString('base64')} }
users:
- name: u
  user: { client-certificate: pki/client.crt, client-key: pki/client.key, token: tok }
contexts:
- name: ctx
  context: { cluster: c, user: u }
`;
  await writeFile(file, kubeconfig('https://10.0.0.1:6443'));
  const refs = await parseKubeconfigIsolated(file);
  assert.deepEqual(refs, {
    server: 'https://10.0.0.1:6443',
    insecure: false,
    ca: { data: Buffer.from('CA').toString('base64') },
    cert: { file: join(dir, 'pki/client.crt') },
    key: { file: join(dir, 'pki/client.key') },
    token: { text: 'tok' },
  });
  await mkdir(join(dir, 'pki'));
  await writeFile(join(dir, 'pki/client.crt'), 'CERT');
  await writeFile(join(dir, 'pki/client.key'), 'KEY');
  assert.deepEqual(await readKubeconfig(file), { server: 'https://10.0.0.1:6443', ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from('KEY'), token: 'tok', insecure: false });
  // The files it names are read at every call (the kubelet rotates them in place).
  await writeFile(join(dir, 'pki/client.crt'), 'CERT2');
  assert.deepEqual((await readKubeconfig(file)).cert, Buffer.from('CERT2'));
  await rm(join(dir, 'pki'), { recursive: true, force: true });
  await assert.rejects(readKubeconfig(file), /cannot read client-(certificate|key) .*client\.(crt|key) of the kubeconfig/);
  await writeFile(file, kubeconfig('https://10.0.0.2:6443').replace('client-certificate: pki/client.crt, client-key: pki/client.key, ', ''));
  assert.deepEqual(await readKubeconfig(file), { server: 'https://10.0.0.2:6443', ca: Buffer.from('CA'), token: 'tok', insecure: false });
  await writeFile(file, 'clusters: [unclosed');
  await assert.rejects(readKubeconfig(file), /the kubeconfig .* is not YAML/);
  await writeFile(file, 'clusters: []\n');
  await assert.rejects(readKubeconfig(file), /names no cluster with a server/);
  await assert.rejects(readKubeconfig(join(dir, 'missing.conf')), /cannot read the kubeconfig/);
});

/** The packages a module reaches through static imports (an `import()` is left out: it loads only when run). */
async function staticPackages(entry: string): Promise<Map<string, string>> {
  const seen = new Set<string>();
  const packages = new Map<string, string>();
  const walk = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'|^import\s+'([^']+)'/gm)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) await walk(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:') && !packages.has(spec)) packages.set(spec, file);
    }
  };
  await walk(entry);
  return packages;
}

test('the daemon never loads the YAML parser or the schema library: its static imports reach neither', async () => {
  const run = fileURLToPath(new URL('../../src/cli/run.js', import.meta.url));
  assert.ok(existsSync(run));
  const packages = await staticPackages(run);
  assert.ok(packages.has('pino'), 'the walk follows the graph (pino is the logger)');
  for (const heavy of ['zod', 'yaml', 'commander', 'ssh2']) assert.equal(packages.get(heavy), undefined, `${heavy} is imported by ${packages.get(heavy)}`);
  // and the child that parses does load them
  const child = await staticPackages(fileURLToPath(new URL('../../src/config/parse-child.js', import.meta.url)));
  assert.ok(child.has('zod') && child.has('yaml'));
});
