// A stand-in for engine-worker.ts: its first incarnation answers one apply and then throws (a bug
// in the VRRP thread); later ones answer normally. The marker file tells them apart.
import { existsSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { FromVrrpWorker, ToVrrpWorker } from '../../src/vrrp/vrrp-worker.js';

const marker = process.env.KUBEHA_TEST_CRASH_MARKER ?? '';
const first = !existsSync(marker);
writeFileSync(marker, 'started');
const post = (m: FromVrrpWorker) => parentPort?.postMessage(m);
parentPort?.on('message', (m: ToVrrpWorker) => {
  if (m.type === 'apply') {
    post({ type: 'applied', id: m.id, errors: [] });
    post({ type: 'status', instances: [], loopDelayMs: { p99: 0, max: 0 } });
    if (first) setTimeout(() => { throw new Error('bug in the VRRP thread'); }, 10);
    else post({ type: 'log', level: 'info', fields: { event: 'vrrp-thread-restarted', instances: m.instances.length }, msg: 'restarted' });
  } else if (m.type === 'maintenance' && !first) {
    post({ type: 'log', level: 'info', fields: { event: 'vrrp-thread-maintenance', name: m.name, on: m.on }, msg: 'maintenance' });
  } else if (m.type === 'stop') {
    post({ type: 'stopped' });
    parentPort?.close();
  }
});
