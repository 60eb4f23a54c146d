// The BGP thread: hold timers, keepalives and above all BFD (a 100 ms pace, Down after 300 ms of
// silence) must not wait behind the data plane's event loop, so the speaker lives on a loop of its own.
import { parentPort } from 'node:worker_threads';
import { SystemClock } from '../clock.js';
import { RawHost } from '../vrrp/raw-host.js';
import { BgpSpeaker } from './speaker.js';
import type { FromBgpWorker, ToBgpWorker } from './bgp-worker.js';

const port = parentPort;
if (!port) throw new Error('bgp-thread.ts runs as a worker thread');
const post = (m: FromBgpWorker) => port.postMessage(m);

let statusQueued = false;
const host = new RawHost();
const speaker = new BgpSpeaker(host, new SystemClock(), Math.random, (level, fields, msg) => post({ type: 'log', level, fields, msg }), () => {
  if (statusQueued) return;
  statusQueued = true;
  setImmediate(sendStatus);
});

function sendStatus(): void {
  statusQueued = false;
  post({ type: 'status', status: speaker.status() });
}
// counters move with every message; a status a second keeps the metrics fresh
const periodic = setInterval(sendStatus, 1000);

port.on('message', (m: ToBgpWorker) => {
  if (m.type === 'apply') {
    void speaker.apply(m.config).then((errors) => {
      post({ type: 'applied', id: m.id, errors });
      sendStatus();
    });
  } else if (m.type === 'backend') {
    speaker.setBackend(m.name, m.ok);
  } else if (m.type === 'maintenance') {
    speaker.setMaintenance(m.on);
  } else if (m.type === 'stop') {
    void speaker.stop().then(() => {
      sendStatus();
      host.close();
      clearInterval(periodic);
      post({ type: 'stopped' });
      port.close();
    });
  }
});
