import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContextLike } from './tcp.js';

/**
 * `setpriv` arguments that make a child die with the test process, even when the runner kills a
 * test file that timed out before its cleanup ran (an etcd or apiserver left behind holds ports and memory).
 */
export const DIE_WITH_TEST = ['--pdeathsig', 'SIGKILL', '--'];

/** The kernel's ephemeral range (net.ipv4.ip_local_port_range): what listen(0) and connect() take ports from. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi) return [lo, hi];
  } catch {
    // not Linux: the IANA range
  }
  return [49152, 65535];
}

/** Ports freePort has returned in this process. */
const handedOut = new Set<number>();

/** Whether `port` can be bound on `host` now. */
function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * A port free on every one of `hosts` (loopback by default), for a child process that must be told
 * its port. Between this check and the child's bind the port is unheld, so it is picked at random
 * outside the kernel's ephemeral range: no listen(0) or outgoing connection of a test file running
 * at the same time can take it meanwhile (a port from listen(0) could be handed out again at once).
 */
export async function freePort(hosts: readonly string[] = ['127.0.0.1']): Promise<number> {
  const [lo, hi] = ephemeralRange();
  const [from, to] = lo > 11_000 ? [10_000, lo - 1] : [hi + 1, 65_535];
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (handedOut.has(port)) continue; // given to another child of this process, maybe not bound yet
    let free = true;
    for (const h of hosts) if (!(free = await bindable(port, h))) break;
    if (!free) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${from}-${to} on ${hosts.join(', ')}`);
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
  const ports: number[] = [];
  for (let i = 0; i < size * 2; i++) ports.push(await freePort());
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
  const [client, peer] = [await freePort(), await freePort()];
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
  // Ready when /health answers over TLS with the client certificate (a readiness check, not a sleep).
  const tls = { ca: readFileSync(pki.caFile), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) };
  const health = () => new Promise<number>((resolve) => {
    const req = request({ host: '127.0.0.1', port: client, path: '/health', agent: false, timeout: 1000, ...tls }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
  const deadline = Date.now() + 20_000;
  while ((await health()) !== 200) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`TLS etcd on ${endpoint} did not become ready (exit code ${proc.exitCode})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoint, pki };
}
