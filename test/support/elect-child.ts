// The command `kubeha elect` runs in the tests: it prints JSON lines with Date.now() when it starts
// and stops, and, with FENCE_URL set, writes its epoch to that fenced resource every 50 ms.
import { request } from 'node:http';

const epoch = process.env.KUBEHA_EPOCH ?? '';
const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ...o, epoch, pid: process.pid, at: Date.now() })}\n`);
out({ event: 'start', leader: process.env.KUBEHA_LEADER });
const fence = process.env.FENCE_URL;
if (fence) {
  setInterval(() => {
    const req = request(fence, { method: 'POST', agent: false }, (res) => {
      res.resume();
      out({ event: 'write', status: res.statusCode });
    });
    req.on('error', () => {});
    req.end(epoch);
  }, 50);
}
process.on('SIGTERM', () => {
  out({ event: 'stop' });
  process.exit(0);
});
setInterval(() => {}, 1 << 30);
