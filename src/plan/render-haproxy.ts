// haproxy.cfg: a complete file for `haproxy -c -f`, L4 (mode tcp) with /readyz checks.
import type { Plan } from './inventory.js';

/** The haproxy config of every LB host (the same file on each). */
export function renderHaproxy(plan: Plan): string {
  const servers = plan.inv.masters
    .map((m) => `    server ${m.name} ${m.ip}:${plan.inv.apiserverPort} check check-ssl verify none inter 1s fastinter 250ms fall 2 rise 2 slowstart 30s`)
    .join('\n');
  return `# haproxy for the ${plan.inv.cluster} control plane: ${plan.endpoint}
# Rendered by kubeha render.
global
    log stdout format raw local0 info
    maxconn ${plan.inv.lb.maxConnections}
    nbthread 2

defaults
    log global
    mode tcp
    option tcplog
    option dontlognull
    timeout connect 5s
    # Watches stay open for minutes: anything under an hour cuts them.
    timeout client 1h
    timeout server 1h
    timeout check 2s
    retries 3
    option redispatch

frontend apiserver
    bind *:${plan.frontendPort}${plan.vip6Address ? `\n    # dual stack: every IPv6 address, the IPv6 VIP (which comes and goes) included\n    bind :::${plan.frontendPort} v6only` : ''}
    mode tcp
    default_backend apiservers

backend apiservers
    mode tcp
    balance roundrobin
    # TLS passes through (mode tcp); the check is an HTTPS GET /readyz, which turns 500 as soon as
    # an apiserver starts shutting down.
    option httpchk GET /readyz
    http-check expect status 200
${servers}
`;
}
