// The dashboard served at `/`: one self-contained page (no external assets: it must work on an
// air-gapped control-plane node). It holds no data itself; it polls /api/v1/state every second
// with the bearer token the user enters (kept in sessionStorage) when the admin API needs one.

export const DASHBOARD_STYLE = `
:root { --up:#1a7f37; --down:#cf222e; --warn:#bf8700; --bg:#f6f8fa; --card:#fff; --fg:#1f2328; --muted:#656d76; --line:#d0d7de; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --card:#161b22; --fg:#e6edf3; --muted:#8d96a0; --line:#30363d; } }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif; background:var(--bg); color:var(--fg); }
header { display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:baseline; padding:.75rem 1rem; border-bottom:1px solid var(--line); background:var(--card); position:sticky; top:0; }
header h1 { font-size:1.1rem; margin:0; }
#status { color:var(--muted); font-size:.85rem; }
#status.stale { color:var(--down); }
main { padding:1rem; display:grid; grid-template-columns:minmax(0,1fr); gap:1rem; max-width:1200px; margin:0 auto; }
section, .servers > * { min-width:0; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:.75rem 1rem; }
h2 { font-size:1rem; margin:0 0 .5rem; display:flex; gap:.5rem; align-items:baseline; flex-wrap:wrap; }
h2 small { color:var(--muted); font-weight:normal; }
.servers { display:grid; grid-template-columns:repeat(auto-fill,minmax(260px,1fr)); gap:.75rem; }
.server { border:1px solid var(--line); border-left:6px solid var(--muted); border-radius:6px; padding:.5rem .75rem; }
.server.up { border-left-color:var(--up); }
.server.down { border-left-color:var(--down); background:color-mix(in srgb, var(--down) 8%, var(--card)); }
.server.drain, .server.maint { border-left-color:var(--warn); }
.server .name { font-weight:600; display:flex; justify-content:space-between; gap:.5rem; }
.badge { font-size:.75rem; padding:0 .4rem; border-radius:1rem; color:#fff; background:var(--muted); }
.up .badge { background:var(--up); } .down .badge { background:var(--down); } .drain .badge, .maint .badge { background:var(--warn); }
.kv { display:grid; grid-template-columns:auto 1fr; gap:0 .75rem; font-size:.85rem; color:var(--muted); }
.kv b { color:var(--fg); font-weight:500; }
svg.spark { width:100%; height:28px; display:block; margin:.25rem 0; }
.detail { font-size:.8rem; color:var(--muted); overflow-wrap:anywhere; }
button { font:inherit; font-size:.8rem; padding:.2rem .6rem; border-radius:4px; border:1px solid var(--line); background:var(--bg); color:var(--fg); cursor:pointer; }
button:hover { border-color:var(--muted); }
.actions { display:flex; gap:.4rem; margin-top:.4rem; }
table { width:100%; border-collapse:collapse; font-size:.85rem; }
th, td { text-align:left; padding:.25rem .5rem .25rem 0; border-bottom:1px solid var(--line); }
th { color:var(--muted); font-weight:500; }
.scroll { overflow-x:auto; }
#events li { font-size:.85rem; margin:.15rem 0; }
#events .t { color:var(--muted); font-variant-numeric:tabular-nums; }
.ev-up { color:var(--up); } .ev-down { color:var(--down); }
#auth { display:none; gap:.5rem; align-items:center; }
#auth.show { display:flex; }
#auth input { font:inherit; padding:.2rem .4rem; border:1px solid var(--line); border-radius:4px; background:var(--bg); color:var(--fg); }
#msg { color:var(--down); font-size:.85rem; }
#health ul { margin:0; padding-left:1.2rem; font-size:.9rem; }
#health .problem { color:var(--down); font-weight:600; } #health .warning { color:var(--warn); }
#health.bad { border-color:var(--down); } #health.degraded { border-color:var(--warn); }
`;

const SCRIPT = `
const $ = (s) => document.querySelector(s);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;' })[c]);
let token = sessionStorage.getItem('kubeha-token') || '';
let prev = null, prevAt = 0;
const headers = () => token ? { authorization: 'Bearer ' + token } : {};

function spark(history) {
  if (!history.length) return '';
  const max = Math.max(1, ...history.map((c) => c.latencyMs));
  const w = 100, h = 28, step = history.length > 1 ? w / (history.length - 1) : 0;
  const pts = history.map((c, i) => [i * step, h - 2 - (c.latencyMs / max) * (h - 4)]);
  const line = pts.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' ');
  const fails = history.map((c, i) => c.ok ? '' : '<line x1="' + pts[i][0].toFixed(1) + '" x2="' + pts[i][0].toFixed(1) + '" y1="' + (h - 6) + '" y2="' + h + '" stroke="var(--down)" stroke-width="3" vector-effect="non-scaling-stroke"/>').join('');
  return '<svg class="spark" viewBox="0 0 100 28" preserveAspectRatio="none" aria-label="check latency"><polyline fill="none" stroke="currentColor" stroke-width="1" vector-effect="non-scaling-stroke" points="' + line + '"/>' + fails + '</svg>';
}

function serverCard(b, s) {
  const cls = s.adminState !== 'ready' ? s.adminState : s.state;
  const label = s.adminState !== 'ready' ? s.adminState.toUpperCase() + (s.state === 'down' ? ', DOWN' : '') : s.state.toUpperCase();
  const lc = s.lastCheck;
  const weight = s.effectiveWeight !== s.weight ? s.effectiveWeight + ' / ' + s.weight : String(s.weight);
  const action = s.adminState === 'ready'
    ? '<button data-act="drain" data-b="' + esc(b.name) + '" data-s="' + esc(s.name) + '">Drain</button>'
    : '<button data-act="ready" data-b="' + esc(b.name) + '" data-s="' + esc(s.name) + '">Ready</button>';
  return '<div class="server ' + esc(cls) + '" data-server="' + esc(s.name) + '" data-state="' + esc(s.state) + '" data-admin="' + esc(s.adminState) + '">'
    + '<div class="name"><span>' + esc(s.name) + '</span><span class="badge">' + esc(label) + '</span></div>'
    + '<div class="detail">' + esc(s.address) + '</div>'
    + spark(s.checkHistory || [])
    + '<div class="kv"><span>sessions</span><b>' + s.sessions.active + ' open, ' + s.sessions.total + ' total</b>'
    + '<span>weight</span><b>' + weight + '</b>'
    + '<span>check</span><b>' + (lc ? lc.latencyMs.toFixed(1) + ' ms, ' + esc(lc.detail) : 'not yet') + '</b>'
    + '<span>health</span><b>' + s.health.value + ' (rise ' + s.health.rise + ', fall ' + s.health.fall + ')</b>'
    + '<span>errors</span><b>' + s.connectErrors + ' connect, ' + s.retries + ' retries</b>'
    + '<span>changed</span><b>' + new Date(s.lastChange.at).toLocaleTimeString() + ' (' + esc(s.lastChange.cause) + ')</b></div>'
    + '<div class="actions">' + action + '</div></div>';
}

function render(st, rates) {
  const h = st.health || { problems: [], warnings: [] };
  const issues = h.problems.map((p) => '<li class="problem">' + esc(p) + '</li>').concat(h.warnings.map((w) => '<li class="warning">' + esc(w) + '</li>'));
  $('#health').style.display = issues.length ? '' : 'none';
  $('#health').className = h.problems.length ? 'bad' : 'degraded';
  $('#health').innerHTML = issues.length ? '<h2>' + (h.problems.length ? 'Not serving' : 'Degraded') + '</h2><ul>' + issues.join('') + '</ul>' : '';
  $('#frontends').innerHTML = '<h2>Frontends</h2><div class="scroll"><table><tr><th>name</th><th>bind</th><th>backend</th><th>open</th><th>conn/s</th><th>accepted</th><th>refused</th></tr>'
    + st.frontends.map((f) => '<tr data-frontend="' + esc(f.name) + '"><td>' + esc(f.name) + '</td><td>' + esc(f.bind) + (f.port ? ' (:' + f.port + ')' : '') + (f.dataPlane === 'kernel' ? ' <small>kernel</small>' + (f.listening ? '' : ' <b style="color:var(--down)">not programmed</b>') : f.listening ? '' : ' <b style="color:var(--down)">not bound</b>') + '</td><td>' + esc(f.backend) + '</td><td>' + f.active + '</td>'
      + (f.dataPlane === 'kernel' ? '<td>-</td><td>-</td><td>-</td>' : '<td>' + (rates[f.name] ?? 0).toFixed(1) + '</td><td>' + f.accepted + '</td><td>' + Object.values(f.rejected).reduce((a, b) => a + b, 0) + '</td>') + '</tr>').join('')
    + '</table></div>'
    + st.frontends.filter((f) => f.kernel).map((f) => '<h2>' + esc(f.name) + ' <small>in the kernel: nftables counters, conntrack entries' + (st.kernel ? ', ' + st.kernel.updates + ' table updates' + (st.kernel.failures ? ', ' + st.kernel.failures + ' failed' : '') + (st.kernel.adopted ? ', adopted' : '') : '') + (st.conntrackSync ? ', <span data-conntrack-sync="' + (st.conntrackSync.running ? 'up' : 'down') + '">flows replicated to ' + esc(st.conntrackSync.peer) + (st.conntrackSync.running ? '' : ' (conntrackd NOT RUNNING)') + '</span>' : '') + '</small></h2><div class="scroll"><table data-kernel="' + esc(f.name) + '"><tr><th>server</th><th>flows</th><th>established</th><th>packets</th><th>bytes</th></tr>'
      + f.kernel.servers.map((x) => '<tr data-kernel-server="' + esc(x.name) + '"><td>' + esc(x.name) + '</td><td>' + x.flows + '</td><td>' + x.established + '</td><td>' + x.packets + '</td><td>' + x.bytes + '</td></tr>').join('') + '</table></div>').join('');
  $('#backends').innerHTML = st.backends.map((b) => '<section data-backend="' + esc(b.name) + '"><h2>' + esc(b.name) + ' <small>' + esc(b.balance) + ', ' + b.servers.filter((s) => s.state === 'up' && s.adminState === 'ready').length + '/' + b.servers.length + ' up, queue ' + b.queue.length + (b.discovery ? ', servers from ' + esc(b.discovery.source) + (b.discovery.api ? ' (' + esc(b.discovery.api) + ')' : '') + ', generation ' + b.discovery.generation + (b.discovery.errors ? ', ' + b.discovery.errors + ' discovery errors' : '') : '') + '</small></h2><div class="servers">' + b.servers.map((s) => serverCard(b, s)).join('') + '</div></section>').join('');
  const vrrp = st.vrrp || [];
  $('#vrrp').style.display = vrrp.length ? '' : 'none';
  if (vrrp.length) $('#vrrp').innerHTML = '<h2>VRRP</h2><div class="scroll"><table><tr><th>instance</th><th>state</th><th>priority</th><th>master</th><th>VIPs</th><th>adverts</th><th>dropped</th><th>dup. VIP</th><th>2nd master</th><th></th></tr>'
    + vrrp.map((v) => '<tr data-vrrp="' + esc(v.name) + '"><td>' + esc(v.name) + ' <small>' + esc(v.interface) + ' vrid ' + v.virtualRouterId + ' v' + v.version + '</small></td>'
      + (v.maintenance ? '<td><b style="color:var(--warn)">MAINTENANCE</b></td>'
        : '<td><b style="color:var(' + (v.state === 'master' ? '--up' : v.state === 'fault' ? '--down' : '--muted') + ')">' + esc(v.state.toUpperCase()) + '</b>' + (v.fault ? ' <small>' + esc(v.fault) + '</small>' : '') + '</td>')
      + '<td>' + v.effectivePriority + (v.effectivePriority !== v.priority ? ' <small>(' + v.priority + ')</small>' : '') + '</td>'
      + '<td>' + (v.master ? esc(v.master.address) + ' <small>(' + v.master.priority + ')</small>' : '-') + '</td>'
      + '<td>' + v.vips.map(esc).join(' ') + '</td>'
      + '<td>' + v.adverts.sent + ' out, ' + v.adverts.received + ' in</td>'
      + '<td>' + Object.values(v.adverts.dropped).reduce((a, b) => a + b, 0)
        + (v.adverts.droppedBySource.length ? ' <small>most from ' + esc(v.adverts.droppedBySource[0].source) + '</small>' : '') + '</td>'
      + '<td>' + v.duplicateVip.events + '</td>'
      + '<td>' + v.secondMaster.events + (v.secondMaster.last ? ' <small>' + esc(v.secondMaster.last.source) + '</small>' : '') + '</td>'
      + '<td><button data-vrrp-maint="' + (v.maintenance ? 'off' : 'on') + '" data-i="' + esc(v.name) + '">' + (v.maintenance ? 'Resume' : 'Maintenance') + '</button></td></tr>').join('') + '</table></div>';
  const e = st.vipElection;
  $('#election').style.display = e ? '' : 'none';
  if (e) $('#election').innerHTML = '<h2>VIP election <small>' + esc(e.name) + '</small></h2><div class="kv" data-election="' + esc(e.name) + '">'
    + '<span>role</span><b class="' + (e.leader ? 'ev-up' : '') + '">' + (e.leader ? 'LEADER, epoch ' + esc(e.epoch) : 'follower') + '</b>'
    + '<span>identity</span><b>' + esc(e.identity) + '</b><span>VIPs</span><b>' + e.vips.map(esc).join(', ') + '</b>'
    + '<span>transitions</span><b>' + e.transitions + '</b><span>keepalives</span><b>' + (e.lastKeepAliveMs === null ? '-' : e.lastKeepAliveMs.toFixed(1) + ' ms') + ', ' + e.keepAliveFailures + ' failed</b>'
    + (e.lastLoss ? '<span>last loss</span><b>' + esc(e.lastLoss) + '</b>' : '') + '</div>';
  const g = st.bgp;
  $('#bgp').style.display = g ? '' : 'none';
  if (g) $('#bgp').innerHTML = '<h2>BGP <small>AS ' + g.localAsn + ', router id ' + esc(g.routerId) + (g.maintenance ? ', <b style="color:var(--warn)">MAINTENANCE</b>' : '') + '</small></h2>'
    + '<div class="scroll"><table><tr><th>VIP</th><th>announced</th><th>MED</th><th>LOCAL_PREF</th><th>prepend</th></tr>'
    + g.announcements.map((a) => '<tr data-bgp-vip="' + esc(a.vip) + '" data-announced="' + a.announced + '"><td>' + esc(a.vip) + '</td><td><b style="color:var(' + (a.announced ? '--up' : '--down') + ')">' + (a.announced ? 'yes' : 'NO') + '</b>' + (a.announced ? '' : ' <small>' + esc(a.reason) + '</small>') + '</td><td>' + (a.med ?? '-') + '</td><td>' + (a.localPref ?? '-') + '</td><td>' + a.prepend + '</td></tr>').join('')
    + '</table></div><div class="scroll"><table><tr><th>peer</th><th>AS</th><th>state</th><th>up</th><th>BFD</th><th>messages</th><th>advertised</th><th>last error</th></tr>'
    + g.peers.map((p) => '<tr data-bgp-peer="' + esc(p.address) + '" data-state="' + esc(p.state) + '"><td>' + esc(p.address) + (p.routerId ? ' <small>' + esc(p.routerId) + '</small>' : '') + '</td><td>' + p.asn + '</td>'
      + '<td><b style="color:var(' + (p.state === 'established' ? '--up' : '--down') + ')">' + esc(p.state.toUpperCase()) + '</b></td><td>' + (p.uptimeS === null ? '-' : p.uptimeS + ' s') + '</td>'
      + '<td>' + (p.bfd ? '<span data-bfd="' + esc(p.bfd.state) + '">' + esc(p.bfd.state.toUpperCase()) + ' <small>' + p.bfd.detectionMs + ' ms</small></span>' : '-') + '</td>'
      + '<td>' + p.counters.messagesIn + ' in, ' + p.counters.messagesOut + ' out</td><td>' + p.advertised.map(esc).join(' ') + '</td><td><small>' + esc(p.lastError ?? '') + '</small></td></tr>').join('') + '</table></div>';
  const ev = (st.events || []).slice().reverse();
  $('#events').innerHTML = '<h2>Last transitions</h2>' + (ev.length ? '<ul>' + ev.map((e) => '<li><span class="t">' + new Date(e.at).toLocaleTimeString() + '</span> <b class="' + (e.up ? 'ev-up' : 'ev-down') + '">' + esc(e.backend) + '/' + esc(e.server) + ' ' + (e.up ? 'UP' : 'DOWN') + '</b> ' + esc(e.cause) + ': ' + esc(e.detail) + '</li>').join('') + '</ul>' : '<div class="detail">none since start</div>');
}

async function tick() {
  try {
    const res = await fetch('api/v1/state', { headers: headers(), cache: 'no-store' });
    if (res.status === 401) { $('#auth').classList.add('show'); $('#status').textContent = 'token needed'; return; }
    const st = await res.json();
    const now = performance.now();
    const rates = {};
    if (prev) for (const f of st.frontends) { const p = prev.frontends.find((x) => x.name === f.name); if (p) rates[f.name] = Math.max(0, (f.accepted - p.accepted) / ((now - prevAt) / 1000)); }
    prev = st; prevAt = now;
    render(st, rates);
    $('#status').textContent = 'updated ' + new Date().toLocaleTimeString() + ', up since ' + new Date(st.startedAt).toLocaleString();
    $('#status').classList.remove('stale');
  } catch (err) {
    $('#status').textContent = 'no answer from kubeha: ' + err.message;
    $('#status').classList.add('stale');
  }
}

document.addEventListener('click', async (e) => {
  const btn = e.target.closest('button[data-act], button[data-vrrp-maint]');
  if (!btn) return;
  const [path, body] = btn.dataset.act
    ? ['api/v1/backends/' + encodeURIComponent(btn.dataset.b) + '/servers/' + encodeURIComponent(btn.dataset.s), { state: btn.dataset.act }]
    : ['api/v1/vrrp/' + encodeURIComponent(btn.dataset.i), { maintenance: btn.dataset.vrrpMaint === 'on' }];
  const res = await fetch(path, { method: 'POST', headers: { ...headers(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  $('#msg').textContent = res.ok ? '' : 'refused: HTTP ' + res.status + (res.status === 401 ? ' (enter the admin token)' : '');
  tick();
});
$('#auth').addEventListener('submit', (e) => { e.preventDefault(); token = $('#token').value.trim(); sessionStorage.setItem('kubeha-token', token); $('#auth').classList.remove('show'); tick(); });
tick();
setInterval(tick, 1000);
`;

/** The dashboard page, complete. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kubeha</title><style>${DASHBOARD_STYLE}</style></head>
<body><header><h1>kubeha</h1><span id="status">loading…</span>
<form id="auth"><input id="token" type="password" placeholder="admin token" autocomplete="off"><button>Use</button></form><span id="msg"></span></header>
<main><section id="health" style="display:none"></section><section id="frontends"></section><div id="backends"></div><section id="vrrp" style="display:none"></section><section id="election" style="display:none"></section><section id="bgp" style="display:none"></section><section id="events"></section></main>
<script>${SCRIPT}</script></body></html>
`;
