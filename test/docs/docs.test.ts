import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ERROR_CODES } from '../../src/errors.js';
import { allKeyPaths } from '../../src/config/schema-walk.js';
import { Daemon } from '../../src/daemon.js';
import { inventorySchema } from '../../src/plan/inventory.js';
import { RULES } from '../../src/lint/rules/index.js';

/** The repository root (tests run from dist/test/docs). */
const root = new URL('../../../', import.meta.url);
const doc = (name: string) => readFile(fileURLToPath(new URL(`../../../docs/${name}`, import.meta.url)), 'utf8');

test('every error code is documented in docs/errors.md', async () => {
  const text = await doc('errors.md');
  const missing = Object.keys(ERROR_CODES).filter((code) => !text.includes(`## ${code}\n`));
  assert.deepEqual(missing, []);
});

test('every config key is documented in docs/configuration.md', async () => {
  const text = await doc('configuration.md');
  const missing = allKeyPaths().filter((key) => !text.includes(`| \`${key}\` |`));
  assert.deepEqual(missing, []);
});

test('every kubeha_* metric is documented in docs/metrics.md', async () => {
  const text = await doc('metrics.md');
  const daemon = new Daemon({ log: pino({ level: 'silent' }) });
  const names = (await daemon.metrics.registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('kubeha_'));
  assert.ok(names.length > 15);
  assert.deepEqual(names.filter((n) => !text.includes(`| \`${n}\` |`)), []);
});

test('every inventory key is documented in docs/planner.md, and every lint rule', async () => {
  const text = await doc('planner.md');
  assert.deepEqual(allKeyPaths(inventorySchema).filter((key) => !text.includes(`| \`${key}\` |`)), []);
  assert.deepEqual(RULES.map((r) => r.code).filter((code) => !text.includes(`| \`${code}\` |`)), []);
});

test('every dependency with an install script is decided in package.json allowScripts (npm ci prints no advisory)', async () => {
  const pkg = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { allowScripts?: Record<string, boolean> };
  const lock = JSON.parse(await readFile(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
  const withScripts = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript).map(([path]) => path.replace(/^.*node_modules\//, ''));
  assert.ok(withScripts.length > 0, 'koffi has one');
  for (const name of withScripts) assert.equal(typeof pkg.allowScripts?.[name], 'boolean', `${name} is decided in allowScripts`);
});
