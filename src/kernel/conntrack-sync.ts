// Stateful failover of the kernel data plane (issue 16), pure: the conntrack entries of the kernel
// frontends' flows are replicated to the other LB node by Debian's conntrackd (the tool of the
// field: the FTFW protocol, resync, bulk sends), configured by kubeha. With `sourceNat: vip` the
// servers answer the VIP, so the node that takes the VIP over receives both directions of every
// flow and, having its conntrack entry, translates them as the dead node did: the connection lives on.
//
// The entries are injected straight into the peer's kernel table (`DisableExternalCache on`), so a
// node that takes the VIP has them already: nothing has to be committed at the moment of failover,
// when a packet arriving before a commit would be taken for a new flow and sent to another server.
import type { Config, ConntrackSyncConfig } from '../config/schema.js';

/** The defaults of conntrackSync (the schema's, here so that the daemon need not load the schema). */
export const CONNTRACKD_DEFAULTS = { port: 3780, conntrackd: '/usr/sbin/conntrackd', runDir: '/run/kubeha/conntrackd' } as const;

/** conntrackSync with its defaults filled in from the VRRP instance. */
export interface ConntrackSyncSettings {
  peer: string;
  localAddress: string;
  interface: string;
  port: number;
  conntrackd: string;
  runDir: string;
}

/**
 * The settings, with what the config leaves out taken from the first VRRP instance (its only
 * unicast peer, its unicastSrcIp, its interface); a string says what is missing.
 */
export function resolveConntrackSync(config: Pick<Config, 'vrrp'>, c: ConntrackSyncConfig): ConntrackSyncSettings | string {
  const inst = config.vrrp?.instances[0];
  const peer = c.peer ?? (inst?.unicastPeers.length === 1 ? inst.unicastPeers[0] : undefined);
  const localAddress = c.localAddress ?? inst?.unicastSrcIp;
  const iface = c.interface ?? inst?.interface;
  const missing = [peer ? '' : 'peer', localAddress ? '' : 'localAddress', iface ? '' : 'interface'].filter(Boolean);
  if (missing.length > 0) {
    return `conntrackSync needs ${missing.join(', ')}: write ${missing.length > 1 ? 'them' : 'it'}, or give the first VRRP instance exactly one unicastPeers entry, a unicastSrcIp and its interface to take ${missing.length > 1 ? 'them' : 'it'} from`;
  }
  return { peer: peer!, localAddress: localAddress!, interface: iface!, port: c.port, conntrackd: c.conntrackd, runDir: c.runDir };
}

/** Where conntrackd's files live under the run folder. */
export function conntrackdPaths(runDir: string): { config: string; socket: string; lock: string; log: string } {
  return { config: `${runDir}/conntrackd.conf`, socket: `${runDir}/conntrackd.ctl`, lock: `${runDir}/conntrackd.lock`, log: `${runDir}/conntrackd.log` };
}

/**
 * conntrackd.conf for one LB node: FTFW (acknowledged, resent on loss) over unicast UDP to the
 * peer; TCP only; entries whose original or reply source is this node, its peer or loopback are
 * not replicated (the node's own connections: health checks, SSH, the sync itself), which leaves
 * the forwarded flows, whose sources are the clients and the servers.
 */
export function renderConntrackdConf(s: ConntrackSyncSettings): string {
  const paths = conntrackdPaths(s.runDir);
  const ignored = [...new Set(['127.0.0.1', s.localAddress, s.peer])];
  return `# written by kubeha (conntrackSync); changes are overwritten
Sync {
  Mode FTFW {
    DisableExternalCache on
    StartupResync on
  }
  UDP {
    IPv4_address ${s.localAddress}
    IPv4_Destination_Address ${s.peer}
    Port ${s.port}
    Interface ${s.interface}
    SndSocketBuffer 1249280
    RcvSocketBuffer 1249280
    Checksum on
  }
}
General {
  HashSize 32768
  HashLimit 131072
  LogFile ${paths.log}
  Syslog off
  LockFile ${paths.lock}
  UNIX {
    Path ${paths.socket}
  }
  NetlinkBufferSize 2097152
  NetlinkBufferSizeMaxGrowth 8388608
  Filter From Kernelspace {
    Protocol Accept {
      TCP
    }
    Address Ignore {
${ignored.map((a) => `      IPv4_address ${a}`).join('\n')}
    }
  }
}
`;
}
