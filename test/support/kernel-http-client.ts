// Run inside a network namespace by test/kernel-netns (the client host of a kernel frontend):
// - `count URL N`: N HTTPS GETs one after another, each on a new connection; prints one JSON line
//   {answered: {name: n}, errors: {code: n}} (the name is the stand-in apiserver's x-kubeha-sim).
// - `hold URL K`: K keep-alive connections, one GET each, printed as {names: [...]}; each line on
//   stdin sends one more GET on each and prints {names, reused}: which server answered and whether
//   it came over the same connection (an established flow that lived through what the test did).
import { Agent, get } from 'node:https';
import { createInterface } from 'node:readline';

const [mode, url, nArg] = process.argv.slice(2) as [string, string, string];
const n = Number(nArg);

function once(agent: Agent | false): Promise<{ name?: string; error?: string; reused: boolean }> {
  return new Promise((resolve) => {
    const req = get(url, { agent, rejectUnauthorized: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ name: String(res.headers['x-kubeha-sim']), reused: req.reusedSocket }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message, reused: req.reusedSocket }));
  });
}

if (mode === 'count') {
  const answered: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await once(false);
    if (r.name) answered[r.name] = (answered[r.name] ?? 0) + 1;
    else errors[r.error!] = (errors[r.error!] ?? 0) + 1;
  }
  process.stdout.write(`${JSON.stringify({ answered, errors })}\n`);
} else {
  const agents = Array.from({ length: n }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  const round = async () => Promise.all(agents.map((a) => once(a)));
  const first = await round();
  process.stdout.write(`${JSON.stringify({ names: first.map((r) => r.name ?? r.error) })}\n`);
  createInterface({ input: process.stdin })
    .on('line', () => void round().then((rs) => process.stdout.write(`${JSON.stringify({ names: rs.map((r) => r.name ?? r.error), reused: rs.map((r) => r.reused) })}\n`)))
    .on('close', () => process.exit(0));
}
