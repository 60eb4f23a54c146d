// Browser tier: the dashboard in headless Debian Chromium, driven by playwright-core.
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { pino } from 'pino';
import { FakeClock } from '../../src/clock.js';
import { vrrpInstanceSchema } from '../../src/config/schema.js';
import { ElectionStats } from '../../src/election/election-stats.js';
import { AdminServer } from '../../src/observe/admin-server.js';
import type { NodeState } from '../../src/observe/node-state.js';
import { VrrpEngine } from '../../src/vrrp/vrrp-engine.js';
import { cluster, workspace, type Workspace } from '../support/cluster.js';
import { FakeNetwork } from '../support/fake-vrrp-network.js';
import { spawnKubeha } from '../support/processes.js';
import { lbConfig, startDaemon, taggedBackend } from '../support/tcp.js';

const OUTPUT = fileURLToPath(new URL('../../../test-output/', import.meta.url));
let ws: Workspace;

before(async () => {
  ws = await workspace();
  await mkdir(OUTPUT, { recursive: true });
});

/** Debian's Chromium, with the flags this closed network needs (no background connections). */
async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The dashboard of an admin server that serves `state` (read on every poll), in a phone-sized page. */
async function dashboardOf(t: TestContext, state: () => NodeState) {
  const admin = new AdminServer({ bind: '127.0.0.1:0' }, {
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    state,
    reload: async () => ({ ok: true, errors: [] }),
    setServer: () => ({ status: 404, body: {} }),
    setVrrp: () => ({ status: 404, body: {} }),
  }, pino({ level: 'silent' }));
  await admin.start();
  t.after(() => admin.stop());
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(`http://127.0.0.1:${admin.port}/`);
  return page;
}

test('dashboard: a killed backend turns red, drain works, no external assets, fits a phone', async (t) => {
  const c = await cluster(t, ws, 'dashboard');
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  const origin = `http://127.0.0.1:${c.adminPort}`;
  const foreign: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(origin)) foreign.push(r.url());
  });
  await page.goto(`${origin}/`);
  for (const name of ['master1', 'master2', 'master3']) await page.waitForSelector(`[data-server="${name}"][data-state="up"]`, { timeout: 10_000 });
  assert.equal(await page.isVisible('#health'), false, 'no banner while all is well');

  const killedAt = Date.now();
  c.sims[1]!.proc.child.kill('SIGKILL');
  const down = await page.waitForSelector('[data-server="master2"].down', { timeout: 10_000 });
  const redAfterMs = Date.now() - killedAt;
  const border = await down.evaluate((el) => getComputedStyle(el).borderLeftColor);
  assert.equal(border, 'rgb(207, 34, 46)', 'a down server is red');
  assert.match((await down.textContent()) ?? '', /DOWN/);
  await page.waitForSelector('#events li.ev-down, #events b.ev-down', { timeout: 5000 });
  assert.match((await page.textContent('#events')) ?? '', /apiservers\/master2 DOWN/);
  // The banner says what `kubeha status` says: degraded (a warning), not "not serving".
  await page.waitForSelector('#health.degraded li.warning', { timeout: 5000 });
  assert.match((await page.textContent('#health')) ?? '', /^Degraded.*server apiservers\/master2 \(127\.0\.0\.1:\d+\) is down/);

  await page.screenshot({ path: `${OUTPUT}dashboard-phone.png`, fullPage: true });
  const overflow = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, view: window.innerWidth, wide: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).map((e) => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5) }));
  assert.ok(overflow.page <= overflow.view, `no horizontal scrolling at phone width: ${JSON.stringify(overflow)}`);

  await page.click('[data-server="master1"] button[data-act="drain"]');
  await page.waitForSelector('[data-server="master1"][data-admin="drain"]', { timeout: 5000 });
  const state = await c.state();
  assert.equal(state.backends[0]!.servers.find((s) => s.name === 'master1')!.adminState, 'drain', 'the button drained it through the API');
  await page.click('[data-server="master1"] button[data-act="ready"]');
  await page.waitForSelector('[data-server="master1"][data-admin="ready"]', { timeout: 5000 });

  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: `${OUTPUT}dashboard.png`, fullPage: true });
  assert.deepEqual(foreign, [], 'the page loads nothing from elsewhere');
  t.diagnostic(`master2 turned red ${redAfterMs} ms after SIGKILL; screenshots in test-output/`);
});

test('dashboard: the VRRP table shows state, effective priority, master and counters', async (t) => {
  // A genuine engine status: two instances elected on the in-memory network, one demoted by a track.
  const clock = new FakeClock(0);
  const net = new FakeNetwork(clock);
  const sink = { log: () => {}, changed: () => {} };
  const inst = (name: string, vrid: number, over: Record<string, unknown> = {}) =>
    vrrpInstanceSchema.parse({ name, interface: 'eth0', virtualRouterId: vrid, priority: 150, vips: [`10.0.0.${vrid}/24`], ...over });
  const engine = new VrrpEngine(net.host('a', '10.0.0.1'), clock, sink);
  new VrrpEngine(net.host('b', '10.0.0.2'), clock, sink).apply([inst('VI_1', 51, { priority: 100 }), inst('VI_2', 52, { priority: 100 })]);
  engine.apply([inst('VI_1', 51), inst('VI_2', 52, { track: { backends: ['be'], backendWeight: -80 } })]);
  clock.advance(2000);
  engine.setBackend('be', false);
  clock.advance(100);
  assert.deepEqual(engine.status().map((v) => v.duplicateVip.events), [0, 0], 'a preemption is not a duplicate VIP');

  const backend = await taggedBackend('s1');
  t.after(() => backend.close());
  const { daemon } = await startDaemon({ ...lbConfig([{ name: 's1', port: backend.port }]), admin: { bind: '127.0.0.1:0' } }, t);
  daemon.vrrp.instances = engine.status();
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(`http://127.0.0.1:${daemon.adminPort}/`);
  const row1 = await page.waitForSelector('[data-vrrp="VI_1"]', { timeout: 5000 });
  assert.match((await row1.textContent()) ?? '', /MASTER.*150.*10\.0\.0\.1.*10\.0\.0\.51/);
  const row2 = (await page.textContent('[data-vrrp="VI_2"]')) ?? '';
  assert.match(row2, /BACKUP/);
  assert.match(row2, /70 \(150\)/, 'effective priority with the configured one beside it');
  assert.match(row2, /10\.0\.0\.2 \(100\)/, 'the master it follows');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  assert.ok(overflow, 'no horizontal scrolling at phone width');
  await page.screenshot({ path: `${OUTPUT}dashboard-vrrp.png`, fullPage: true });
  // The Maintenance button asks the daemon (which runs no VRRP thread here, so it refuses): the
  // request is the dashboard's part; the maintenance itself is tested in namespaces.
  const asked = page.waitForRequest((r) => r.url().endsWith('/api/v1/vrrp/VI_1') && r.method() === 'POST');
  await page.click('[data-vrrp="VI_1"] button[data-vrrp-maint="on"]');
  assert.deepEqual((await asked).postDataJSON(), { maintenance: true });
  await page.waitForSelector('#msg >> text=refused: HTTP 404', { timeout: 5000 });
  // An instance in maintenance says so, and its button offers to resume.
  assert.equal(engine.setMaintenance('VI_1', true), true);
  clock.advance(200);
  daemon.vrrp.instances = engine.status();
  await page.waitForSelector('[data-vrrp="VI_1"] button[data-vrrp-maint="off"]', { timeout: 5000 });
  assert.equal(await page.textContent('[data-vrrp="VI_1"] button[data-vrrp-maint]'), 'Resume');
  assert.equal(await page.textContent('[data-vrrp="VI_1"] td:nth-child(2)'), 'MAINTENANCE');
});

test('dashboard: the VIP election card shows the role, epoch, identity and VIPs', async (t) => {
  // The page is a view of /api/v1/state: served here from a genuine ElectionStats.
  const stats = new ElectionStats('vip', 'lb1/4242');
  stats.onEvent({ kind: 'keepalive', ok: true, latencyMs: 3.25 });
  stats.elected(7n);
  const state: NodeState = {
    startedAt: new Date().toISOString(), configPath: null, reloads: { success: 0, failure: 0, lastErrors: [] }, events: [], vrrp: [],
    eventLoopDelayMs: { p99: 1, max: 2 }, vrrpThread: null, vipElection: { ...stats.toJSON(), vips: ['10.0.0.100/24'] },
    frontends: [], backends: [], health: { problems: [], warnings: [] },
  };
  const page = await dashboardOf(t, () => state);
  const card = await page.waitForSelector('[data-election="vip"]', { timeout: 5000 });
  const text = (await card.textContent()) ?? '';
  assert.match(text, /LEADER, epoch 7/);
  assert.match(text, /lb1\/4242/);
  assert.match(text, /10\.0\.0\.100\/24/);
  assert.match(text, /3\.3 ms, 0 failed/);
  stats.lost('lease expired');
  state.vipElection = { ...stats.toJSON(), vips: ['10.0.0.100/24'] };
  await page.waitForSelector('[data-election="vip"] >> text=follower', { timeout: 5000 });
  assert.match((await page.textContent('[data-election="vip"]')) ?? '', /last loss.*lease expired/);
});

test('dashboard: a kernel frontend shows its flows, and each server\'s conntrack entries and nftables counters', async (t) => {
  const state: NodeState = {
    startedAt: new Date().toISOString(), configPath: null, reloads: { success: 0, failure: 0, lastErrors: [] }, events: [], vrrp: [],
    eventLoopDelayMs: { p99: 1, max: 2 }, vrrpThread: null, vipElection: null,
    kernel: { updates: 4, failures: 0, lastError: null, lastUpdate: new Date().toISOString(), adopted: true, holding: false, flowsDeleted: 0 },
    conntrackSync: { peer: '10.0.0.12', running: true, adopted: false, starts: 1, lastError: null },
    frontends: [{
      name: 'apiserver', bind: '10.0.0.100:6443', port: 6443, addresses: ['10.0.0.100'], listening: true, backend: 'apiservers', accepted: 0, active: 7,
      rejected: { maxconn: 0, 'queue-full': 0, 'queue-timeout': 0, 'no-server': 0 }, dataPlane: 'kernel',
      kernel: { programmed: true, servers: [{ name: 'm1', packets: 1234, bytes: 567890, flows: 9, established: 7 }, { name: 'm2', packets: 0, bytes: 0, flows: 0, established: 0 }] },
    }],
    backends: [], health: { problems: [], warnings: [] },
  };
  const page = await dashboardOf(t, () => state);
  const row = await page.waitForSelector('[data-kernel="apiserver"] [data-kernel-server="m1"]', { timeout: 5000 });
  assert.deepEqual(await row.$$eval('td', (tds) => tds.map((td) => td.textContent)), ['m1', '9', '7', '1234', '567890']);
  assert.match((await page.textContent('[data-frontend="apiserver"]')) ?? '', /10\.0\.0\.100:6443 \(:6443\) kernel.*apiservers7---/);
  assert.match((await page.textContent('#frontends')) ?? '', /4 table updates, adopted, flows replicated to 10\.0\.0\.12/);
  assert.equal(await page.getAttribute('[data-conntrack-sync]', 'data-conntrack-sync'), 'up');
});

test('dashboard: the BGP card shows each VIP\'s announcement and each peer\'s session and BFD', async (t) => {
  const counters = { messagesIn: 20, messagesOut: 22, updatesIn: 0, updatesOut: 1, notificationsIn: 0, notificationsOut: 0, treatAsWithdraw: 0, established: 1 };
  const state: NodeState = {
    startedAt: new Date().toISOString(), configPath: null, reloads: { success: 0, failure: 0, lastErrors: [] }, events: [], vrrp: [],
    eventLoopDelayMs: { p99: 1, max: 2 }, vrrpThread: null, vipElection: null, frontends: [], backends: [], health: { problems: [], warnings: [] },
    bgp: {
      localAsn: 65001, routerId: '10.8.4.21', maintenance: false, bfdDropped: {},
      announcements: [{ vip: '10.8.4.55/32', announced: true, reason: 'announced', med: 155, localPref: 100, prepend: 0, onInterface: true }],
      peers: [
        { address: '10.8.4.1', asn: 65000, state: 'established', uptimeS: 42, holdTimeS: 9, routerId: '10.8.4.1', localAddress: '10.8.4.21', families: ['ipv4'], nextHop6: null, advertised: ['10.8.4.55/32'], withheld: [], lastError: null, counters, bfd: { state: 'up', upCount: 1, detectionMs: 300 } },
        { address: '10.8.4.2', asn: 65000, state: 'active', uptimeS: null, holdTimeS: 9, routerId: null, localAddress: null, families: null, nextHop6: null, advertised: [], withheld: [], lastError: 'the connection closed', counters, bfd: null },
      ],
    },
  };
  const page = await dashboardOf(t, () => state);
  await page.waitForSelector('[data-bgp-peer="10.8.4.1"][data-state="established"] [data-bfd="up"]', { timeout: 5000 });
  assert.match((await page.textContent('[data-bgp-vip="10.8.4.55/32"]')) ?? '', /^10\.8\.4\.55\/32yes155100/);
  assert.match((await page.textContent('[data-bgp-peer="10.8.4.2"]')) ?? '', /ACTIVE.*the connection closed/);
  assert.match((await page.textContent('#bgp h2')) ?? '', /AS 65001, router id 10\.8\.4\.21/);
  state.bgp!.announcements[0] = { ...state.bgp!.announcements[0]!, announced: false, reason: 'maintenance' };
  await page.waitForSelector('[data-bgp-vip="10.8.4.55/32"][data-announced="false"]', { timeout: 5000 });
  assert.match((await page.textContent('[data-bgp-vip="10.8.4.55/32"]')) ?? '', /NO maintenance/);
});

test('demo dashboard: both LB nodes, the VIP holder, the client, and each chaos step with what the client saw', async (t) => {
  const demo = spawnKubeha(['demo', '--chaos', '--chaos-interval', '1500ms', '--chaos-rounds', '1'], t);
  await demo.waitFor((l) => String(l.text ?? '').startsWith('Ctrl-C stops it'), 60_000, 'the demo banner');
  const banner = demo.lines.map((l) => String(l.text ?? '')).join('\n');
  assert.match(banner, /two kubeha LB nodes floating a VIP/, 'the full stack (user and network namespaces), not the fallback');
  const origin = `http://127.0.0.1:${/^  dashboard\s+http:\/\/127\.0\.0\.1:(\d+)\//m.exec(banner)![1]}`;
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const foreign: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(origin)) foreign.push(r.url());
  });
  await page.goto(`${origin}/`);
  await page.waitForSelector('[data-node="lb1"]', { timeout: 10_000 });
  // one snapshot of the page: the chaos may already be moving the VIP, so the holder's card and the status line are read
  // together, at a moment when one node holds it (between chaos steps there always is one)
  const held = await page.waitForFunction(() => {
    const holders = [...document.querySelectorAll('[data-holds="true"][data-vrrp="MASTER"]')].map((n) => n.getAttribute('data-node'));
    const status = document.querySelector('#status')?.textContent ?? '';
    return holders.length === 1 && status.startsWith(`VIP 10.8.4.55:6443 held by ${holders[0]}`) ? { holder: holders[0], status } : false;
  }, undefined, { timeout: 60_000 });
  const { holder, status } = (await held.jsonValue()) as { holder: string; status: string };
  assert.match(holder, /^lb[12]$/);
  assert.match(status, /^VIP 10\.8\.4\.55:6443 held by lb[12]/);
  assert.equal(await page.locator('[data-node]').count(), 2, 'both LB nodes');
  assert.equal(await page.locator('[data-apiserver][data-running="true"]').count(), 3, 'three apiservers up');
  // the graceful handover's result, then the killed holder's: the last failover's outage is the killed one's
  await page.waitForSelector('#events li[data-kind="chaos"]:has-text("result: VIP handover")', { timeout: 60_000 });
  await page.screenshot({ path: `${OUTPUT}demo-dashboard-handover.png`, fullPage: true });
  await page.waitForSelector('#events li[data-kind="chaos"]:has-text("result: VIP holder killed")', { timeout: 60_000 });
  const killed = (await page.textContent('#events li[data-kind="chaos"]:has-text("result: VIP holder killed")')) ?? '';
  const outage = /outage (\d+) ms/.exec(killed);
  assert.ok(outage, killed);
  assert.match((await page.textContent('#last-failover')) ?? '', new RegExp(`^${outage[1]} ms$`), 'the last failover is the killed holder\'s');
  assert.match(killed, /\(target: outage ≤ 500 ms, (met|MISSED)\)$/);
  assert.equal(await page.locator('#events li[data-kind="chaos"].met, #events li[data-kind="chaos"].missed').count(), 2, 'each result coloured by its target');
  await page.waitForFunction(() => /^\d+(\.\d)?%$/.test(document.querySelector('#success')?.textContent ?? ''), undefined, { timeout: 5000 });
  await page.screenshot({ path: `${OUTPUT}demo-dashboard.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  assert.ok(overflow, 'no horizontal scrolling at phone width');
  await page.screenshot({ path: `${OUTPUT}demo-dashboard-phone.png`, fullPage: true });
  assert.deepEqual(foreign, [], 'the page loads nothing from elsewhere');
  assert.equal(await demo.exited, 0, demo.stderr());
  t.diagnostic(`holder killed: ${killed}; screenshots in test-output/demo-dashboard*.png`);
});
