import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vrrpInstanceSchema } from '../../src/config/schema.js';
import { VrrpWorker } from '../../src/vrrp/vrrp-worker.js';
import { memoryLogger } from '../support/tcp.js';

test('VRRP thread: a thread that dies is replaced and given the last config and maintenance again', async (t) => {
  process.env.KUBEHA_TEST_CRASH_MARKER = join(mkdtempSync(join(tmpdir(), 'kubeha-crash-')), 'marker');
  const { log, lines } = memoryLogger();
  const w = new VrrpWorker(log, () => {}, new URL('../support/crashing-vrrp-worker.js', import.meta.url));
  t.after(() => w.stop());
  const inst = vrrpInstanceSchema.parse({ name: 'VI_1', interface: 'eth0', virtualRouterId: 1, vips: ['10.0.0.9/24'] });
  assert.deepEqual(await w.apply([inst]), []);
  assert.equal(w.setMaintenance('VI_9', true), false, 'no such instance');
  assert.equal(w.setMaintenance('VI_1', true), true);
  // The replacement gets the maintenance first, then the config (so an instance never starts outside
  // its maintenance): wait for both lines, in whichever order they are logged.
  const seen = (event: string) => lines().some((l) => l.event === event);
  for (let i = 0; i < 500 && !(seen('vrrp-thread-maintenance') && seen('vrrp-thread-restarted')); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(lines().some((l) => l.event === 'vrrp-thread-failed'), 'the failure is logged');
  const restarted = lines().find((l) => l.event === 'vrrp-thread-restarted');
  assert.equal(restarted?.instances, 1, 'the new thread got the last config');
  assert.deepEqual(lines().filter((l) => l.event === 'vrrp-thread-maintenance').map((l) => [l.name, l.on]), [['VI_1', true]], 'and the maintenance set before the crash');
});
