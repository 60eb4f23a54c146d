import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContextLike } from './tcp.js';

/**
 * `setpriv` arguments that make a child die with the test process, even when the runner kills a
 * test file that timed out before its cleanup ran (an etcd or apiserver left behind holds ports and memory).
 */
export const DIE_WITH_TEST = ['--pdeathsig', 'SIGKILL', '--'];

/** A free loopback port. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** One member of a test etcd cluster. */
export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  proc: ChildProcess | undefined;
  /** SIGKILLs the member. */
  kill(): Promise<void>;
  /** Starts it again with its data dir. */
  start(): void;
}

/** A 3-member etcd cluster (Debian etcd-server) on loopback, removed when the test ends. */
export interface EtcdCluster {
  members: EtcdMember[];
  endpoints: string[];
  /** The member that is raft leader now. */
  leader(): Promise<EtcdMember>;
}

export async function startEtcd(t: TestContextLike, size = 3): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-etcd-'));
  const ports = await Promise.all(Array.from({ length: size * 2 }, freePort));
  const names = Array.from({ length: size }, (_, i) => `m${i + 1}`);
  const peer = (i: number) => `http://127.0.0.1:${ports[size + i]}`;
  const initialCluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  const members: EtcdMember[] = names.map((name, i) => {
    const m: EtcdMember = {
      name,
      clientUrl: `http://127.0.0.1:${ports[i]}`,
      peerUrl: peer(i),
      proc: undefined,
      start() {
        m.proc = spawn('setpriv', [...DIE_WITH_TEST, 'etcd',
          '--name', name, '--data-dir', join(dir, name),
          '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl,
          '--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl,
          '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'kubeha-test',
          '--heartbeat-interval', '100', '--election-timeout', '1000', '--log-level', 'error',
        ], { stdio: 'ignore' });
      },
      async kill() {
        const p = m.proc;
        if (!p || p.exitCode !== null) return;
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await exited;
        m.proc = undefined;
      },
    };
    return m;
  });
  t.after(async () => {
    for (const m of members) await m.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const m of members) m.start();
  const endpoints = members.map((m) => m.clientUrl);
  const cluster: EtcdCluster = {
    members, endpoints,
    async leader() {
      for (const m of members) {
        try {
          const r = await fetch(`${m.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
          const s = (await r.json()) as { header: { member_id: string }; leader: string };
          if (s.leader === s.header.member_id) return m;
        } catch {
          // down or not ready
        }
      }
      throw new Error('no etcd leader');
    },
  };
  // Ready when a write goes through.
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const r = await fetch(`${endpoints[0]}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: 'cmVhZHk=', value: 'MQ==' }), signal: AbortSignal.timeout(1000) });
      if (r.ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error('etcd did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return cluster;
}

/** Files of a small PKI: a CA, etcd serving and peer certs for `ips`, a client cert. */
export interface TestPki {
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/**
 * Makes a CA and certificates signed by it with the openssl command, named as etcd's PKI folder
 * has them: ca.crt, server.crt/key, peer.crt/key (SANs: `ips`), client.crt/key.
 */
export function makePki(dir: string, ips: string[] = ['127.0.0.1']): TestPki {
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', ...ec, '-days', '30', '-subj', '/CN=kubeha-test-ca', '-keyout', f('ca.key'), '-out', f('ca.crt'));
  const sans = `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}`;
  // etcd's JSON gateway dials etcd itself with the serving certificate, so it needs clientAuth too.
  const certs: [string, string][] = [
    ['server', `${sans}\nextendedKeyUsage=serverAuth,clientAuth`],
    ['peer', `${sans}\nextendedKeyUsage=serverAuth,clientAuth`],
    ['client', 'extendedKeyUsage=clientAuth'],
  ];
  for (const [name, ext] of certs) {
    ossl('req', ...ec, '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '30', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`));
  }
  return { caFile: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') };
}

/** A one-member etcd that serves clients over TLS and requires a client certificate. */
export async function startTlsEtcd(t: TestContextLike): Promise<{ endpoint: string; pki: TestPki }> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-etcd-tls-'));
  const pki = makePki(dir);
  const [client, peer] = await Promise.all([freePort(), freePort()]);
  const endpoint = `https://127.0.0.1:${client}`;
  const proc = spawn('setpriv', [...DIE_WITH_TEST, 'etcd',
    '--name', 'tls', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `tls=http://127.0.0.1:${peer}`,
    '--cert-file', pki.serverCert, '--key-file', pki.serverKey, '--client-cert-auth', '--trusted-ca-file', pki.caFile, '--log-level', 'error',
  ], { stdio: 'ignore' });
  t.after(async () => {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise((r) => setTimeout(r, 1500)); // the TLS endpoint is probed by the test's own client
  return { endpoint, pki };
}
