// The VRRP thread. The data plane's event loop can stall for tens of milliseconds under load or GC,
// and a backup declares the master dead after 3 adverts and a skew (~0.3 s at 100 ms), so adverts,
// the master-down timer and the sockets live here, on a loop that carries no proxy traffic.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { SystemClock } from '../clock.js';
import { RawHost } from './raw-host.js';
import { VrrpEngine } from './vrrp-engine.js';
import type { ToVrrpWorker, FromVrrpWorker } from './vrrp-worker.js';

const port = parentPort;
if (!port) throw new Error('engine-worker.ts runs as a worker thread');
const post = (m: FromVrrpWorker) => port.postMessage(m);

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let statusQueued = false;
const host = new RawHost();
const engine = new VrrpEngine(host, new SystemClock(), {
  log: (level, fields, msg) => post({ type: 'log', level, fields, msg }),
  changed: () => {
    if (statusQueued) return;
    statusQueued = true;
    setImmediate(sendStatus);
  },
});

function sendStatus(): void {
  statusQueued = false;
  post({ type: 'status', instances: engine.status(), loopDelayMs: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 } });
}
// Counters move with every advert; a status a second keeps the metrics fresh without a message per packet.
const periodic = setInterval(sendStatus, 1000);

port.on('message', (m: ToVrrpWorker) => {
  if (m.type === 'apply') {
    const errors = engine.apply(m.instances, new Set(m.takeover ?? []));
    post({ type: 'applied', id: m.id, errors });
    sendStatus();
  } else if (m.type === 'backend') {
    engine.setBackend(m.name, m.ok);
  } else if (m.type === 'maintenance') {
    engine.setMaintenance(m.name, m.on);
  } else if (m.type === 'stop') {
    engine.stop(m.silently);
    sendStatus();
    host.close();
    clearInterval(periodic);
    post({ type: 'stopped' });
    port.close();
  }
});
