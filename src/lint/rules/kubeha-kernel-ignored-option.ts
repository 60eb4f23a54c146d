import type { Path } from '../../config/load.js';
import type { Rule } from '../lint-model.js';
import { kubehaViews } from './kubeha-view.js';

/** What the kernel does instead of each option of a backend that only kernel frontends use. */
const IGNORED: Record<string, string> = {
  retries: 'the kernel sends each SYN to one server: one that refuses is answered by the client\'s own retry, which may land on the same server until the checks mark it down',
  maxQueue: 'nothing queues in the kernel: a flow goes to a server at once, or is refused when no server is in the map',
  queueTimeout: 'nothing queues in the kernel: a flow goes to a server at once, or is refused when no server is in the map',
  connectTimeout: 'the connect is the client\'s own: its timeout applies',
  idleTimeout: 'an idle flow lives as long as conntrack keeps it (net.netfilter.nf_conntrack_tcp_timeout_established, 5 days by default)',
  passiveFailures: 'kubeha sees no connects in kernel mode: only the active checks mark servers down',
  tcpUserTimeout: 'the sockets are the client\'s and the server\'s, not kubeha\'s',
  shutdownJitter: 'onMarkedDown: shutdown deletes the server\'s conntrack entries at once, with no jitter',
  maxConnPerServer: 'the kernel counts no connections per server',
};

/** Options a backend, a frontend or the access log write that mean nothing to a `dataPlane: kernel` frontend. */
export const kubehaKernelIgnoredOption: Rule = {
  code: 'kubeha-kernel-ignored-option',
  check(ctx) {
    return kubehaViews(ctx).flatMap((v) => {
      const c = v.config;
      const kernel = c.frontends.filter((f) => f.dataPlane === 'kernel');
      if (kernel.length === 0) return [];
      const fix = 'remove it, or put the frontend on dataPlane: userspace where it matters';
      const findings = c.backends.flatMap((b, i) => {
        const users = c.frontends.filter((f) => f.backend === b.name);
        if (users.length === 0 || users.some((f) => f.dataPlane !== 'kernel')) return [];
        const names = users.map((f) => f.name).join(', ');
        return Object.entries(IGNORED).flatMap(([key, why]) => {
          const path: Path = ['backends', i, key];
          if (!v.analysis.written(path)) return [];
          return v.report(this.code, 'warning', [path], `backend ${b.name} sets ${key}, which has no meaning for its frontend ${names} (dataPlane: kernel)`, why, fix);
        });
      });
      c.frontends.forEach((f, i) => {
        if (f.dataPlane !== 'kernel' || !v.analysis.written(['frontends', i, 'maxConn'])) return;
        findings.push(...v.report(this.code, 'warning', [['frontends', i, 'maxConn']], `frontend ${f.name} sets maxConn, which has no meaning with dataPlane: kernel`, 'the kernel counts no connections per frontend', fix));
      });
      if (c.accessLog && kernel.length === c.frontends.length) {
        findings.push(...v.report(this.code, 'warning', [['accessLog']], 'accessLog is set, but every frontend forwards in the kernel (dataPlane: kernel)', 'kubeha sees no session in kernel mode: there is nothing to log (the nftables counters and conntrack entries per server are in kubeha status and the metrics)', fix));
      }
      return findings;
    });
  },
};
