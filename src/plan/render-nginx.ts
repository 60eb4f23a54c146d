// nginx.conf: a complete file for `nginx -t -c` with Debian's module layout (the stream module
// comes from libnginx-mod-stream through modules-enabled).
import type { Plan } from './inventory.js';

/** The nginx config of every LB host. */
export function renderNginx(plan: Plan): string {
  const servers = plan.inv.masters.map((m) => `        server ${m.ip}:${plan.inv.apiserverPort} max_fails=2 fail_timeout=10s;`).join('\n');
  return `# nginx stream proxy for the ${plan.inv.cluster} control plane: ${plan.endpoint}
# Rendered by kubeha render. Needs libnginx-mod-stream. Open-source nginx has passive checks only.
include /etc/nginx/modules-enabled/*.conf;
worker_processes auto;
pid /run/nginx-kubeha.pid;
error_log /var/log/nginx/error.log warn;

events {
    worker_connections 8192;
}

stream {
    upstream apiservers {
${servers}
    }

    server {
        listen ${plan.frontendPort};${plan.vip6Address ? `\n        # dual stack: every IPv6 address, the IPv6 VIP included (ipv6only is nginx's default)\n        listen [::]:${plan.frontendPort};` : ''}
        proxy_pass apiservers;
        # The default 60s connect timeout holds a client on a dead master for a minute.
        proxy_connect_timeout 2s;
        # Watches stay open for minutes: the default 10m cuts them.
        proxy_timeout 1h;
        proxy_next_upstream on;
        proxy_next_upstream_tries 3;
    }
}
`;
}
