// A restart without a gap (SIGUSR2, like nginx's binary upgrade and HAProxy's -x/-sf): the running
// process forks its successor from the code on disk (a new version after an upgrade), hands it the
// listening sockets — frontends and admin API — and what it knew of every server's health over the
// IPC channel, waits until the successor serves, tells it which VRRP instances it is master of,
// waits until the successor advertises for them too (both advertise from one address for a moment,
// which a peer cannot tell from one master), then stops its VRRP without a word, closes its own
// copies of the sockets and drains its sessions. The kernel socket never closes, so no connection
// is refused; both processes accept during the overlap. Under systemd (Type=notify, NotifyAccess=all) the successor tells systemd it
// is the main process now.
import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Daemon, Inheritance, InheritedHealth } from './daemon.js';
import type { Logger } from './observe/logger.js';

/** The environment variable that tells a forked `kubeha run` it is a successor. */
const SUCCESSOR_ENV = 'KUBEHA_HANDOVER';

/** Messages from the successor. */
type FromSuccessor = { type: 'hello' } | { type: 'ready' } | { type: 'vrrp-started' } | { type: 'failed'; error: string };
/** Messages to the successor (a listener or admin message carries the socket as its handle). */
type ToSuccessor =
  | { type: 'listener'; bind: string }
  | { type: 'admin' }
  | { type: 'health'; entries: [string, InheritedHealth][] }
  | { type: 'sent' }
  | { type: 'vrrp'; masters: string[] }
  | { type: 'released' };

/** How long the running process waits for its successor to serve before it gives up and keeps serving. */
const SUCCESSOR_TIMEOUT_MS = 60_000;

/**
 * The running process's side: forks the successor and hands over. Resolves true once the successor
 * serves (the caller then drains and exits), false when it failed (this process keeps serving).
 */
export function handOver(daemon: Daemon, log: Logger): Promise<boolean> {
  const script = process.argv[1];
  if (!script) return Promise.resolve(false);
  log.info({ event: 'handover-start' }, 'SIGUSR2: starting a successor and handing it the sockets');
  const child: ChildProcess = fork(script, process.argv.slice(2), {
    // a release tarball's wrapper names its runtime by the stable path, so an upgraded runtime runs the successor
    ...(process.env.KUBEHA_RUNTIME ? { execPath: process.env.KUBEHA_RUNTIME } : {}),
    env: { ...process.env, [SUCCESSOR_ENV]: '1' },
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const send = (m: ToSuccessor, handle?: NetServer) =>
    new Promise<void>((resolve, reject) => child.send(m, handle, {}, (err) => (err ? reject(err) : resolve())));
  return new Promise<boolean>((resolve) => {
    let settled = false;
    const finish = (ok: boolean, why?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!ok) {
        log.error({ event: 'handover-failed', reason: why }, `restart without a gap failed (${why}): this process keeps serving`);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      if (child.connected) child.disconnect();
      child.unref();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false, `the successor did not serve within ${SUCCESSOR_TIMEOUT_MS / 1000}s`), SUCCESSOR_TIMEOUT_MS);
    let released = false;
    child.on('exit', (code, signal) => (released ? finish(true) : finish(false, `the successor exited (${signal ?? code})`)));
    child.on('error', (err) => finish(false, err.message));
    child.on('message', (m: FromSuccessor) => {
      void (async () => {
        if (m.type === 'hello') {
          const inh = daemon.inheritanceForSuccessor();
          for (const l of inh.listeners) await send({ type: 'listener', bind: l.bind }, l.server);
          if (inh.admin) await send({ type: 'admin' }, inh.admin);
          await send({ type: 'health', entries: inh.health });
          await send({ type: 'sent' });
        } else if (m.type === 'ready') {
          await send({ type: 'vrrp', masters: daemon.masterInstances() });
        } else if (m.type === 'vrrp-started') {
          // From here on the successor runs VRRP and the admin API alone: whatever happens next,
          // this process drains (it has nothing left to advertise with).
          released = true;
          const masters = await daemon.releaseToSuccessor();
          log.info({ event: 'handover-done', successor: child.pid, masters }, `handed over to pid ${child.pid}: draining here`);
          await send({ type: 'released' }).catch(() => {});
          finish(true);
        } else if (m.type === 'failed') {
          finish(false, m.error);
        }
      })().catch((err: unknown) => finish(false, err instanceof Error ? err.message : String(err)));
    });
  });
}

/**
 * A listening socket received from the predecessor. Node starts accepting on a received server at
 * once, with no one listening for its connections, and our listener exists only once the config
 * is applied: until then a holder (configured like a frontend's server: nothing read before a
 * backend is connected) accepts into a queue, and the owner takes the socket and the queue.
 */
export class InheritedSocket {
  private readonly holder: NetServer;
  private held: Socket[] = [];

  constructor(received: NetServer) {
    this.holder = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (s) => this.held.push(s));
    this.holder.listen(received); // synchronous: no connection is accepted by `received` in between
  }

  /** `owner` listens on the socket from now on; the connections accepted meanwhile go to `onSocket`. */
  adopt(owner: NetServer, onSocket: (s: Socket) => void): void {
    owner.listen(this.holder);
    this.holder.removeAllListeners('connection');
    for (const s of this.held.splice(0)) onSocket(s);
  }

  /** Gives the socket up (the new config does not bind it). */
  close(): void {
    this.holder.close();
    for (const s of this.held.splice(0)) s.destroy();
  }
}

/** The successor's side, when this process was forked by {@link handOver}. */
export interface Succession {
  inheritance: Inheritance;
  /** Tells the predecessor we serve; resolves with the VRRP instances it is master of (still advertising). */
  ready(): Promise<string[]>;
  /** Tells the predecessor our VRRP runs; resolves once it stopped its own and let go of the sockets. */
  vrrpStarted(): Promise<void>;
  /** Tells the predecessor we could not start (it keeps serving). */
  failed(error: string): void;
}

/** Receives the sockets and health from the predecessor; undefined when this process is not a successor. */
export async function receiveInheritance(timeoutMs = 10_000): Promise<Succession | undefined> {
  if (process.env[SUCCESSOR_ENV] !== '1' || !process.send) return undefined;
  delete process.env[SUCCESSOR_ENV]; // our own successor gets it set again
  const inheritance: Inheritance = { listeners: new Map(), health: new Map() };
  const waiting: ((m: ToSuccessor, handle: unknown) => void)[] = [];
  const pending: [ToSuccessor, unknown][] = [];
  process.on('message', (m: ToSuccessor, received: unknown) => {
    // Wrapped at once, in the tick it arrives: a received server accepts from the next poll on.
    const handle = m.type === 'listener' || m.type === 'admin' ? new InheritedSocket(received as NetServer) : undefined;
    const waiter = waiting.shift();
    if (waiter) waiter(m, handle);
    else pending.push([m, handle]);
  });
  const next = () => new Promise<[ToSuccessor, unknown]>((resolve, reject) => {
    const queued = pending.shift();
    if (queued) return resolve(queued);
    const timer = setTimeout(() => reject(new Error('the predecessor stopped answering')), timeoutMs);
    waiting.push((m, h) => {
      clearTimeout(timer);
      resolve([m, h]);
    });
  });
  /** The next message of `type` (others, none expected between the steps, are passed over). */
  const nextOf = async <T extends ToSuccessor['type']>(type: T): Promise<Extract<ToSuccessor, { type: T }>> => {
    for (;;) {
      const [m] = await next();
      if (m.type === type) return m as Extract<ToSuccessor, { type: T }>;
    }
  };
  process.send({ type: 'hello' } satisfies FromSuccessor);
  for (;;) {
    const [m, handle] = await next();
    if (m.type === 'listener') inheritance.listeners.set(m.bind, handle as InheritedSocket);
    else if (m.type === 'admin') inheritance.admin = handle as InheritedSocket;
    else if (m.type === 'health') inheritance.health = new Map(m.entries);
    else if (m.type === 'sent') break;
  }
  return {
    inheritance,
    async ready() {
      process.send?.({ type: 'ready' } satisfies FromSuccessor);
      return (await nextOf('vrrp')).masters;
    },
    async vrrpStarted() {
      process.send?.({ type: 'vrrp-started' } satisfies FromSuccessor);
      await nextOf('released');
      process.disconnect?.();
    },
    failed(error) {
      process.send?.({ type: 'failed', error } satisfies FromSuccessor);
    },
  };
}
