// The full-stack demo's dashboard: the whole picture on one page — both LB nodes and which one holds
// the VIP, their VRRP states and priorities, the apiservers, the client's success rate and the last
// failover's client-seen outage, and every chaos step with what the client saw. Self-contained (no
// external assets); it polls GET /api/demo (stage.ts) twice a second. Same look as kubeha's own dashboard.
import { DASHBOARD_STYLE } from '../observe/dashboard-page.js';

const STYLE = `
.nodes { display:grid; grid-template-columns:repeat(auto-fill,minmax(240px,1fr)); gap:.75rem; }
.node.MASTER { border-left-color:var(--up); }
.node.gone { border-left-color:var(--down); background:color-mix(in srgb, var(--down) 8%, var(--card)); }
.node.BACKUP { border-left-color:var(--muted); } .node.FAULT { border-left-color:var(--warn); }
.node.MASTER .badge { background:var(--up); } .node.FAULT .badge { background:var(--warn); } .node.gone .badge { background:var(--down); }
.vip { font-weight:600; color:var(--up); }
.figure { font-size:1.6rem; font-weight:600; font-variant-numeric:tabular-nums; }
.figures { display:grid; grid-template-columns:repeat(auto-fill,minmax(150px,1fr)); gap:.5rem 1rem; }
.figures .kv { display:block; }
#events li.chaos { font-weight:500; } #events li.met { color:var(--up); } #events li.missed { color:var(--down); }
#alarm { display:none; border-color:var(--down); color:var(--down); font-weight:600; }
`;

const SCRIPT = `
const $ = (s) => document.querySelector(s);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;' })[c]);
const pct = (x) => x === null ? '–' : (100 * x).toFixed(x === 1 ? 0 : 1) + '%';

function node(n, vip) {
  const state = n.process !== 'running' ? n.process.toUpperCase() : (n.vrrp || 'starting');
  const cls = n.process !== 'running' || n.admin !== 'ok' ? 'gone' : esc(n.vrrp);
  const servers = Object.entries(n.servers).map(([s, st]) => '<span class="' + (st === 'up' ? 'ev-up' : 'ev-down') + '">' + esc(s) + '</span>').join(' ');
  return '<div class="server node ' + cls + '" data-node="' + esc(n.name) + '" data-vrrp="' + esc(state) + '" data-holds="' + n.holdsVip + '">'
    + '<div class="name">' + esc(n.name) + ' <span class="badge">' + esc(state) + '</span></div>'
    + '<div class="kv"><span>address</span><b>' + esc(n.ip) + '</b><span>priority</span><b>' + esc(n.effectivePriority ?? '–') + ' of ' + esc(n.priority) + '</b>'
    + '<span>VIP</span><b>' + (!n.holdsVip ? 'no' : n.process === 'running' ? '<span class="vip">holds ' + esc(vip) + '</span>' : '<span class="ev-down">still on its interface, left by the dead kubeha</span>') + '</b>'
    + '<span>checks</span><b>' + (servers || '–') + '</b></div></div>';
}

async function tick() {
  let s;
  try {
    s = await (await fetch('api/demo', { cache: 'no-store' })).json();
  } catch (e) {
    $('#status').textContent = 'the demo is not answering';
    $('#status').className = 'stale';
    return;
  }
  $('#status').textContent = 'VIP ' + s.vip + ':' + s.port + ' held by ' + (s.holders.join(' and ') || 'nobody') + (s.chaos.step ? ' · chaos: ' + s.chaos.step : '');
  $('#status').className = '';
  // two live nodes with the VIP: split brain (a dead process's leftover address is shown on its node)
  const live = s.nodes.filter((n) => n.holdsVip && n.process === 'running').map((n) => n.name);
  const alarm = $('#alarm');
  alarm.style.display = live.length > 1 ? 'block' : 'none';
  alarm.textContent = live.length > 1 ? 'Two VIP holders: ' + live.join(', ') + ' (their VRRP adverts do not reach each other)' : '';
  $('#nodes').innerHTML = s.nodes.map((n) => node(n, s.vip)).join('');
  $('#apiservers').innerHTML = s.apiservers.map((a) => '<span class="' + (a.running ? 'ev-up' : 'ev-down') + '" data-apiserver="' + esc(a.name) + '" data-running="' + a.running + '">' + esc(a.name) + ' ' + esc(a.ip) + (a.running ? '' : ' (down)') + '</span>').join(' · ');
  const c = s.client, f = c.lastFailover;
  $('#client').innerHTML = '<div class="figures">'
    + '<div class="kv"><span>requests/s</span><div class="figure">' + c.rps + '</div></div>'
    + '<div class="kv"><span>success, last minute</span><div class="figure" id="success">' + pct(c.successRate) + '</div></div>'
    + '<div class="kv"><span>answered / failed</span><div class="figure">' + c.ok + ' / ' + c.failed + '</div></div>'
    + '<div class="kv"><span>last failover: outage</span><div class="figure" id="last-failover">' + (f ? f.outageMs + ' ms' : '–') + '</div>'
    + (f ? '<small>' + esc(f.step) + ': ' + esc(f.vipBefore) + ' → ' + esc(f.vipAfter) + ', ' + f.failed + ' failed</small>' : '') + '</div></div>';
  // a chaos step's result line says whether its target was met; green or red says it at a glance
  $('#events ul').innerHTML = s.events.slice().reverse().map((e) => '<li class="' + esc(e.kind) + (e.result ? (e.result.met ? ' met' : ' missed') : '') + '" data-kind="' + esc(e.kind) + '"><span class="t">' + esc(e.at) + '</span> ' + esc(e.text) + '</li>').join('');
}
tick();
setInterval(tick, 500);
`;

/** The story page, complete. */
export function storyPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kubeha demo</title><style>${DASHBOARD_STYLE}${STYLE}</style></head>
<body><header><h1>kubeha demo</h1><span id="status">loading…</span></header>
<main><section id="alarm"></section>
<section><h2>LB nodes <small>kubeha in its own network namespace each, VRRP v3 every 100 ms</small></h2><div class="nodes" id="nodes"></div></section>
<section><h2>apiservers <small>stand-ins behind https /readyz checks</small></h2><div id="apiservers"></div></section>
<section><h2>the client <small>a new TLS connection through the VIP every 20 ms</small></h2><div id="client"></div></section>
<section id="events"><h2>events <small>chaos steps, VRRP moves, servers seen down or up</small></h2><ul></ul></section></main>
<script>${SCRIPT}</script></body></html>
`;
}
