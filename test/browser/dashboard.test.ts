// Browser tier: the dashboard in headless Debian Chromium, driven by playwright-core.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { cluster, workspace, type Workspace } from '../support/cluster.js';

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

  const killedAt = Date.now();
  c.sims[1]!.proc.child.kill('SIGKILL');
  const down = await page.waitForSelector('[data-server="master2"].down', { timeout: 10_000 });
  const redAfterMs = Date.now() - killedAt;
  const border = await down.evaluate((el) => getComputedStyle(el).borderLeftColor);
  assert.equal(border, 'rgb(207, 34, 46)', 'a down server is red');
  assert.match((await down.textContent()) ?? '', /DOWN/);
  await page.waitForSelector('#events li.ev-down, #events b.ev-down', { timeout: 5000 });
  assert.match((await page.textContent('#events')) ?? '', /apiservers\/master2 DOWN/);

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
