// Real kube-apiservers for the end-to-end tier: a PKI, three apiservers on one 3-member etcd, and
// kubectl. The binaries come from scripts/kube-apiserver.sh (built from Debian's kubernetes source
// package), whose folder scripts/test.mjs passes in KUBEHA_K8S_BIN.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIE_WITH_TEST, freePort, type EtcdCluster } from './etcd.js';
import type { TestContextLike } from './tcp.js';

/** Where kube-apiserver and kubectl are. */
export const K8S_BIN = process.env.KUBEHA_K8S_BIN ?? '/var/cache/kubeha-k8s/bin';

/** The files of the test PKI. */
export interface KubePki {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

/** Runs openssl quietly. */
const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });

/**
 * A test CA (EC P-256, 30 days) and a service-account key pair (`sa.key`, `sa.pub`) in a new folder
 * removed after the test, and the function that signs a certificate with that CA: `name.crt` and
 * `name.key` in the folder, with the extension lines `ext`, returned as text too.
 */
export function testCa(t: TestContextLike, cn: string): { dir: string; sign: (name: string, subj: string, ext: string) => { crt: string; key: string } } {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-test-pki-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = (n: string) => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', ...ec, '-days', '30', '-subj', `/CN=${cn}`, '-keyout', f('ca.key'), '-out', f('ca.crt'));
  ossl('genrsa', '-out', f('sa.key'), '2048');
  ossl('rsa', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub'));
  const sign = (name: string, subj: string, ext: string) => {
    ossl('req', ...ec, '-subj', subj, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '30', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`));
    return { crt: readFileSync(f(`${name}.crt`), 'utf8'), key: readFileSync(f(`${name}.key`), 'utf8') };
  };
  return { dir, sign };
}

/** A CA, an apiserver serving cert (loopback, the advertise and VIP addresses, the service names), an admin client cert, a service-account key. */
export function makeKubePki(t: TestContextLike, ips: string[]): KubePki {
  const { dir, sign } = testCa(t, 'kubeha-test-kube-ca');
  const f = (n: string) => join(dir, n);
  const sans = ['127.0.0.1', ...ips].map((ip) => `IP:${ip}`).concat(['DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'IP:10.96.0.1']);
  sign('apiserver', '/CN=kube-apiserver', `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth`);
  sign('admin', '/CN=kubeha-admin/O=system:masters', 'extendedKeyUsage=clientAuth');
  return { dir, ca: f('ca.crt'), caKey: f('ca.key'), serverCert: f('apiserver.crt'), serverKey: f('apiserver.key'), adminCert: f('admin.crt'), adminKey: f('admin.key'), saKey: f('sa.key'), saPub: f('sa.pub') };
}

/** One kube-apiserver process that can be stopped and started again on the same port. */
export interface Apiserver {
  name: string;
  port: number;
  proc: ChildProcess | undefined;
  start(): void;
  /** Sends `signal` and resolves when the process has exited. */
  stop(signal: NodeJS.Signals): Promise<void>;
  /** Resolves once GET /readyz answers 200 (directly, not through kubeha). */
  ready(timeoutMs?: number): Promise<void>;
}

/** GET `path` on 127.0.0.1:`port` with the test CA; the status, or 0 when nothing answered. */
export function httpsStatus(port: number, path: string, pki: KubePki, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, ca: execCa(pki), agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

const caPems = new Map<string, Buffer>();
function execCa(pki: KubePki): Buffer {
  if (!caPems.has(pki.ca)) caPems.set(pki.ca, readFileSync(pki.ca));
  return caPems.get(pki.ca)!;
}

/**
 * Three kube-apiservers on loopback ports sharing `etcd` (or, per server, other etcd endpoints).
 * Each advertises a documentation address (192.0.2.x): the apiserver refuses loopback there.
 */
export async function startApiservers(t: TestContextLike, pki: KubePki, etcdServers: string[][], shutdownDelay = '5s'): Promise<Apiserver[]> {
  const servers: Apiserver[] = [];
  for (let i = 0; i < etcdServers.length; i++) {
    const port = await freePort();
    const name = `apiserver${i + 1}`;
    const certDir = mkdtempSync(join(tmpdir(), `kubeha-${name}-`));
    const s: Apiserver = {
      name, port, proc: undefined,
      start() {
        s.proc = spawn('setpriv', [...DIE_WITH_TEST, join(K8S_BIN, 'kube-apiserver'),
          `--etcd-servers=${etcdServers[i]!.join(',')}`,
          `--secure-port=${port}`, '--bind-address=127.0.0.1', `--advertise-address=192.0.2.${i + 1}`, '--insecure-port=0',
          `--tls-cert-file=${pki.serverCert}`, `--tls-private-key-file=${pki.serverKey}`, `--client-ca-file=${pki.ca}`,
          `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
          '--service-account-issuer=https://kubernetes.default.svc', '--service-cluster-ip-range=10.96.0.0/12',
          '--authorization-mode=RBAC', `--shutdown-delay-duration=${shutdownDelay}`, `--cert-dir=${certDir}`,
          '--profiling=false', '--endpoint-reconciler-type=lease', '--v=0',
        ], { stdio: 'ignore' });
      },
      async stop(signal) {
        const p = s.proc;
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill(signal);
        await exited;
      },
      async ready(timeoutMs = 60_000) {
        const end = Date.now() + timeoutMs;
        while (Date.now() < end) {
          if ((await httpsStatus(port, '/readyz', pki, 1000)) === 200) return;
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(`${name} did not become ready in ${timeoutMs} ms`);
      },
    };
    servers.push(s);
    t.after(async () => {
      await s.stop('SIGKILL');
      rmSync(certDir, { recursive: true, force: true });
    });
  }
  for (const s of servers) s.start();
  await Promise.all(servers.map((s) => s.ready()));
  return servers;
}

/** The etcd endpoint list every apiserver uses by default. */
export const endpointsOf = (etcd: EtcdCluster) => etcd.endpoints;

/** A kubeconfig for the admin user against `server`. */
export function writeKubeconfig(pki: KubePki, server: string): string {
  const file = join(pki.dir, `kubeconfig-${server.replace(/[^0-9a-z]/gi, '_')}`);
  writeFileSync(file, `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${server}
    certificate-authority: ${pki.ca}
users:
- name: admin
  user:
    client-certificate: ${pki.adminCert}
    client-key: ${pki.adminKey}
contexts:
- name: admin@test
  context: { cluster: test, user: admin }
current-context: admin@test
`);
  return file;
}

/** Runs kubectl once; exit code and output. */
export function kubectl(kubeconfig: string, args: string[], timeoutS = 10): { code: number; out: string } {
  const r = spawnSync(join(K8S_BIN, 'kubectl'), [`--kubeconfig=${kubeconfig}`, `--request-timeout=${timeoutS}s`, ...args], { encoding: 'utf8', timeout: (timeoutS + 5) * 1000 });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Runs kubectl asynchronously (for loops that must not block the test's event loop). */
export function kubectlAsync(kubeconfig: string, args: string[], timeoutS = 10): Promise<{ code: number; out: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const p = spawn(join(K8S_BIN, 'kubectl'), [`--kubeconfig=${kubeconfig}`, `--request-timeout=${timeoutS}s`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('exit', (code) => resolve({ code: code ?? 1, out, ms: Date.now() - started }));
  });
}

/** What {@link startApiserversIn} needs of a namespace host (test/support/netns.ts's BedHost). */
interface SpawningHost {
  ns: string;
  spawn(cmd: string, args: string[]): { waitLine(re: RegExp, timeoutMs?: number): Promise<unknown> };
}

/**
 * One etcd on the host's loopback and a kube-apiserver on each of `ips` (addresses of that host,
 * port 6443), all inside its namespace: the masters of a test bed. Resolves once etcd serves; the
 * apiservers become ready in the seconds after (their callers wait for the LB's checks).
 */
export async function startApiserversIn(host: SpawningHost, dir: string, pki: KubePki, ips: readonly string[], extraArgs: readonly string[] = []): Promise<void> {
  for (const ip of ips) execFileSync('ip', ['-n', host.ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  const etcd = host.spawn('etcd', ['--name', 'e', '--data-dir', join(dir, 'etcd'), '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
    '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 'e=http://127.0.0.1:2380']);
  await etcd.waitLine(/ready to serve client requests/, 20_000);
  ips.forEach((ip, i) => host.spawn(join(K8S_BIN, 'kube-apiserver'), [
    '--etcd-servers=http://127.0.0.1:2379', `--bind-address=${ip}`, `--advertise-address=${ip}`, '--secure-port=6443', '--insecure-port=0',
    `--tls-cert-file=${pki.serverCert}`, `--tls-private-key-file=${pki.serverKey}`, `--client-ca-file=${pki.ca}`,
    `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`, '--service-account-issuer=https://kubernetes.default.svc',
    '--service-cluster-ip-range=10.96.0.0/12', '--authorization-mode=RBAC', `--cert-dir=${join(dir, `certs${i}`)}`, '--profiling=false', ...extraArgs,
  ]));
}
