import { adminRequest, askDaemon, type AdminSelector } from './admin-client.js';
import { BGP_MAINTENANCE_NAME } from '../bgp/bgp-worker.js';

export interface MaintenanceOptions extends AdminSelector {
  /** One VRRP instance; default every instance of the daemon. */
  instance?: string;
}

/**
 * `kubeha maintenance on|off`: takes this node's VRRP instances out of the election (a master
 * hands its VIP to a peer at once, as on shutdown, while the proxy keeps serving) or brings them
 * back. keepalived users do this with a track_file; here it is the admin API. Exit 0 done, 1 refused,
 * 2 the daemon could not be asked.
 */
export async function maintenanceCommand(mode: string, o: MaintenanceOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  if (mode !== 'on' && mode !== 'off') {
    err.write(`maintenance takes "on" or "off", not "${mode}" [KUBEHA_ERR_USAGE]\n`);
    return 2;
  }
  const asked = await askDaemon(o, err);
  if (typeof asked === 'number') return asked;
  const { target, state } = asked;
  // VRRP instances, and the VIP election (addressed by its name, as an instance).
  const e = state.vipElection;
  const elected = (on: boolean, st: string) => (on
    ? st === 'master' ? 'it was MASTER: the VIP moves to a peer now' : `it was ${st.toUpperCase()}: it will not take the VIP`
    : 'back in the election (a higher priority preempts)');
  const instances = [
    ...state.vrrp.map((v) => ({ name: v.name, effect: (on: boolean) => elected(on, v.state) })),
    ...(e ? [{ name: e.name, effect: (on: boolean) => elected(on, e.leader ? 'master' : 'follower') }] : []),
    ...(state.bgp ? [{ name: BGP_MAINTENANCE_NAME, effect: (on: boolean) => (on ? `it was ${state.bgp!.announcements.some((a) => a.announced) ? 'announcing' : 'withdrawn'}: every VIP is withdrawn from the routers now` : 'VIPs are announced again where their backends serve') }] : []),
  ].filter((v) => o.instance === undefined || v.name === o.instance);
  if (instances.length === 0) {
    err.write(`${o.instance ? `no VRRP instance, VIP election or bgp called ${o.instance}` : 'no VRRP instance, no VIP election and no bgp'} on this daemon [KUBEHA_ERR_USAGE]\n`);
    return 1;
  }
  let failed = 0;
  for (const v of instances) {
    const r = await adminRequest(target, `/api/v1/vrrp/${encodeURIComponent(v.name)}`, { method: 'POST', body: { maintenance: mode === 'on' } });
    if (!r.ok) {
      err.write(`${r.error}\n`);
      return 2;
    }
    if (r.status !== 200) {
      failed++;
      err.write(`${v.name}: refused (${r.status}): ${errorOf(r.text)}\n`);
      continue;
    }
    out.write(`${v.name}: maintenance ${mode}; ${v.effect(mode === 'on')}\n`);
  }
  return failed > 0 ? 1 : 0;
}

/** The `error` of a JSON answer, or '' (another program may have answered). */
function errorOf(text: string): string {
  try {
    return String((JSON.parse(text) as { error?: unknown }).error ?? '');
  } catch {
    return '';
  }
}
