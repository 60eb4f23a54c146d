/**
 * The one registry of user-facing error codes. Every code here is documented in docs/errors.md
 * (a test checks it), and every message says what was wrong, where, and what to do.
 */
export const ERROR_CODES = {
  KUBEHA_ERR_CONFIG_READ: 'the config file could not be read',
  KUBEHA_ERR_CONFIG_YAML: 'the config file is not valid YAML',
  KUBEHA_ERR_CONFIG_UNKNOWN_KEY: 'a key that kubeha does not know (often a typo)',
  KUBEHA_ERR_CONFIG_MISSING_KEY: 'a required key is missing',
  KUBEHA_ERR_CONFIG_TYPE: 'a value has the wrong type or is out of range',
  KUBEHA_ERR_CONFIG_DURATION: 'a duration is not a number with a unit',
  KUBEHA_ERR_CONFIG_ADDRESS: 'an address is not host:port',
  KUBEHA_ERR_CONFIG_DUPLICATE_NAME: 'two items of one kind share a name',
  KUBEHA_ERR_CONFIG_UNKNOWN_BACKEND: 'a frontend or track names a backend that is not defined',
  KUBEHA_ERR_CONFIG_UNUSED_BACKEND: 'a backend that no frontend uses',
  KUBEHA_ERR_CONFIG_VRRP: 'a VRRP instance setting that cannot work on the wire',
  KUBEHA_ERR_CONFIG_BGP: 'a BGP setting that cannot work with a router',
  KUBEHA_ERR_CONFIG_ELECTION: 'a vipElection setting that cannot work',
  KUBEHA_ERR_CONFIG_KERNEL: 'a frontend with dataPlane: kernel that the kernel cannot forward (not an IPv4 address, a wildcard bind, leastconn)',
  KUBEHA_ERR_CONFIG_EMPTY: 'the config defines nothing to run',
  KUBEHA_ERR_CONFIG_ADMIN_TOKEN: 'an admin API reachable from other hosts without a token',
  KUBEHA_ERR_INVENTORY: 'an inventory that cannot give a working HA stack',
  KUBEHA_ERR_BIND: 'a listening socket could not be opened',
  KUBEHA_ERR_RELOAD_REJECTED: 'a reload was refused and the running config kept',
  KUBEHA_ERR_STATE_FILE: 'state kept across restarts (maintenance, the discovered apiservers) could not be read or saved',
  KUBEHA_ERR_DISCOVERY: 'discovery could not start, or a list or watch of the Kubernetes API failed (retried on the next apiserver)',
  KUBEHA_ERR_KERNEL: 'the in-kernel data plane cannot run (nftables, conntrack or ip_forward missing) or an update of its table failed (retried)',
  KUBEHA_ERR_ADMIN_UNREACHABLE: 'the admin API of the running daemon did not answer',
  KUBEHA_ERR_VRRP_PERMISSION: 'VRRP lacks CAP_NET_RAW or CAP_NET_ADMIN',
  KUBEHA_ERR_VRRP_UNSUPPORTED: 'VRRP cannot run on this platform (koffi or libc missing)',
  KUBEHA_ERR_VRRP_INTERFACE: 'a VRRP interface does not exist or has no IPv4 address',
  KUBEHA_ERR_VRRP_WEIGHT_GAP: 'a master whose tracked weights can never bring it below this backup',
  KUBEHA_ERR_USAGE: 'the command line is incomplete or contradictory',
  KUBEHA_ERR_SSH_HOST_KEY: 'apply refused a host whose key is unknown, changed or revoked',
  KUBEHA_ERR_SSH_CONNECT: 'apply could not connect or authenticate to a host',
  KUBEHA_ERR_APPLY_LOCKED: 'another apply holds the host',
  KUBEHA_ERR_APPLY_CHECK: "a file pushed by apply did not pass the host's own checker",
  KUBEHA_ERR_APPLY_UNIT: 'a systemd unit apply started, reloaded or restarted failed',
  KUBEHA_ERR_APPLY_QUORUM: 'the etcd quorum gate refused to restart a member',
  KUBEHA_ERR_APPLY_GATE: 'a host did not pass its health gate in time and was rolled back',
  KUBEHA_ERR_APPLY_HOST: 'a host is not fit for the stack (no systemd, no interface in the VIP subnet, a port taken) or the VIP is in use',
  KUBEHA_ERR_DRILL_DEGRADED: 'kubeha drill refused a cluster that kubeha doctor finds a failure in',
  KUBEHA_ERR_APPLY_PKI: 'the PKI of a fresh install could not be issued with kubeadm',
} as const;

/** A stable error code, e.g. `KUBEHA_ERR_CONFIG_DURATION`. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An error meant for a person: a code, what went wrong, and how to fix it. */
export class KubehaError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'KubehaError';
  }

  /** `what is wrong; what to do [CODE]` */
  override toString(): string {
    return `${this.message}${this.hint ? `; ${this.hint}` : ''} [${this.code}]`;
  }
}
