// Run inside a network namespace by test/kernel-netns: `node fake-kube-runner.js DIR IP...` starts
// the fake apiservers of fake-kube-api.ts on IP:PORT (one port, picked), prints one JSON line
// {"port":N,"kubeconfig":PATH}, then reads commands on stdin, one JSON object a line:
// {"list":[IP...]} sets the addresses the `kubernetes` EndpointSlice lists (every watch is told),
// and answers each with {"ok":true}.
import { createInterface } from 'node:readline';
import { fakeKubeCluster } from './fake-kube-api.js';

const [dir, ...ips] = process.argv.slice(2) as [string, ...string[]];
const { cluster, kubeconfig } = await fakeKubeCluster(dir, ips, ['v1']);
process.stdout.write(`${JSON.stringify({ port: cluster.port, kubeconfig })}\n`);
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const command = JSON.parse(line) as { list?: string[] };
    if (command.list) cluster.setIps(command.list);
    process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
  })
  .on('close', () => process.exit(0));
