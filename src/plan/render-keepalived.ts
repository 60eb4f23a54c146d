// keepalived.conf and the check script for the classic flavors (haproxy or nginx + keepalived).
import { interfaceOf, type LbHost, type Plan } from './inventory.js';

/** The script keepalived runs to see that the local LB accepts connections on its port. */
export function checkScriptPath(plan: Plan): string {
  return checkScriptPathIn(plan.inv.keepalivedScriptDir);
}

/** The check script's path in the script folder `dir`. */
export function checkScriptPathIn(dir: string): string {
  return `${dir.replace(/\/$/, '')}/check_lb.sh`;
}

/** A check of the local LB (not of `ps`: a script that greps ps finds itself). */
export function renderCheckScript(plan: Plan): string {
  return `#!/bin/bash
# keepalived track script: exits 0 when the local ${plan.inv.lb.flavor} accepts TCP on port ${plan.frontendPort}.
# Rendered by kubeha render.
exec timeout 1 bash -c '</dev/tcp/127.0.0.1/${plan.frontendPort}' 2>/dev/null
`;
}

/** keepalived.conf for one LB host. */
export function renderKeepalived(plan: Plan, host: LbHost): string {
  const inv = plan.inv;
  const iface = interfaceOf(plan, host);
  const peers = plan.lbHosts.filter((h) => h.name !== host.name);
  const interval = inv.vrrp.version === 2 ? String(Math.max(1, Math.round(plan.advertIntervalMs / 1000))) : String(plan.advertIntervalMs / 1000);
  const lines = [
    `# keepalived on ${host.name} (${host.ip}) for the VIP ${inv.vip}. Rendered by kubeha render.`,
    'global_defs {',
    `    router_id ${host.name}`,
    `    vrrp_version ${inv.vrrp.version}`,
    '    script_user root',
    '    enable_script_security',
    '}',
    '',
    'vrrp_script chk_lb {',
    `    script "${checkScriptPath(plan)}"`,
    // keepalived takes whole seconds (2.2.7: "interval '0.5' must be between 1 and 4294"): 1 s is its fastest
    '    interval 1',
    '    timeout 2',
    '    fall 2',
    '    rise 2',
    // A negative weight would only lower the priority, and the peers' preempt_delay would leave the
    // VIP on a node whose LB died for those 15 s (kubeha drill measured it); FAULT releases it at once.
    '    # weight 0: while the check fails the instance is in FAULT and gives the VIP away at once',
    '    weight 0',
    '}',
    '',
    `vrrp_instance VI_${inv.cluster.replace(/[^A-Za-z0-9_]/g, '_')} {`,
    '    state BACKUP',
    `    interface ${iface}`,
    `    virtual_router_id ${plan.virtualRouterId}`,
    `    priority ${plan.priorities.get(host.name)}`,
    `    advert_int ${interval}`,
    // keepalived.conf(5): "Seconds after startup or seeing a lower priority master until preemption"; needs state BACKUP.
    `    preempt_delay ${plan.preemptDelayS}`,
  ];
  if (inv.vrrp.version === 2 && inv.vrrp.authPass) lines.push('    authentication {', '        auth_type PASS', `        auth_pass ${inv.vrrp.authPass}`, '    }');
  if (inv.vrrp.unicast) lines.push(`    unicast_src_ip ${host.ip}`, '    unicast_peer {', ...peers.map((p) => `        ${p.ip}`), '    }');
  lines.push('    virtual_ipaddress {', `        ${inv.vip} dev ${iface}`, '    }', '    track_script {', '        chk_lb', '    }', '}', '');
  if (!inv.vip6) return lines.join('\n');
  // Dual stack: a VRRPv3-over-IPv6 instance (the same VRID: the families' VRID spaces are separate),
  // in one sync group with the IPv4 one, so that both VIPs leave a node together.
  const v4Name = lines.find((l) => l.startsWith('vrrp_instance '))!.split(' ')[1]!;
  lines.push(
    `vrrp_instance ${v4Name}_6 {`,
    '    state BACKUP',
    `    interface ${iface}`,
    `    virtual_router_id ${plan.virtualRouterId}`,
    `    priority ${plan.priorities.get(host.name)}`,
    `    advert_int ${String(plan.advertIntervalMs / 1000)}`,
    `    preempt_delay ${plan.preemptDelayS}`,
  );
  if (inv.vrrp.unicast) lines.push(`    unicast_src_ip ${host.ip6}`, '    unicast_peer {', ...peers.map((p) => `        ${p.ip6}`), '    }');
  lines.push('    virtual_ipaddress {', `        ${inv.vip6} dev ${iface}`, '    }', '    track_script {', '        chk_lb', '    }', '}', '',
    `vrrp_sync_group ${v4Name}_G {`, '    group {', `        ${v4Name}`, `        ${v4Name}_6`, '    }', '}', '');
  return lines.join('\n');
}
