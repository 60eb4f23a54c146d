// What this node announces, decided from tracked backend health and maintenance. Pure.
//
// The same in-process tracking VRRP uses (a backend can serve when one of its servers passed a check
// and a frontend serves it): a node whose apiservers are all down stops attracting traffic at once,
// where kube-vip's BGP mode kept announcing (kube-vip #1145).

import type { BgpAnnounceConfig } from '../config/schema.js';
import type { RouteIntent } from './session.js';
import { familyOf } from '../vrrp/packet.js';

/** What the announcement decision depends on. */
export interface AnnounceInputs {
  /** Tracked backend name → whether it can serve (absent: not known yet, so not serving). */
  backends: ReadonlyMap<string, boolean>;
  /** `kubeha maintenance on` for BGP: every VIP withdrawn. */
  maintenance: boolean;
  /** The process is stopping (SIGTERM): withdraw before the listeners close. */
  stopping: boolean;
}

/** One VIP's decision, for the speaker and the state API. */
export interface Announcement {
  vip: string;
  announced: boolean;
  /** Why: "announced", "maintenance", "stopping", or the tracked backends that cannot serve. */
  reason: string;
  route: RouteIntent;
}

/** Whether any VIP of `list` is IPv6: then every session offers IPv6 unicast (RFC 4760), and `nextHop6` has a use. */
export function announcesIpv6(list: readonly BgpAnnounceConfig[]): boolean {
  return list.some((a) => familyOf(a.vip) === 6);
}

/** RFC 4271 §5.1.4 MED (lower wins) for primary mode: 255 − priority, so priority 200 beats 100. */
export function primaryMed(priority: number): number {
  return 255 - priority;
}

/** The route `a` stands for, with the preference its mode gives it. */
export function routeFor(a: BgpAnnounceConfig): RouteIntent {
  // all-active: every node the same (no MED, default LOCAL_PREF, no prepend), so routers keep them all (ECMP)
  if (a.mode === 'all-active') return { prefix: a.vip, prepend: 0, communities: a.communities };
  return { prefix: a.vip, med: primaryMed(a.priority), localPref: a.priority, prepend: a.prepend, communities: a.communities };
}

/** Decides every announcement. */
export function decideAnnouncements(list: readonly BgpAnnounceConfig[], inputs: AnnounceInputs): Announcement[] {
  return list.map((a) => {
    const route = routeFor(a);
    if (inputs.stopping) return { vip: a.vip, announced: false, reason: 'stopping', route };
    if (inputs.maintenance) return { vip: a.vip, announced: false, reason: 'maintenance', route };
    const tracked = a.track.backends;
    if (tracked.length > 0 && !tracked.some((b) => inputs.backends.get(b) === true)) {
      return { vip: a.vip, announced: false, reason: `no tracked backend can serve (${tracked.join(', ')})`, route };
    }
    return { vip: a.vip, announced: true, reason: 'announced', route };
  });
}
