// vipMode: bgp renders the router side too: the BIRD and FRR configs pass the real programs' checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePlan, parseInventoryText } from '../../src/plan/inventory.js';
import { renderBundle } from '../../src/plan/render-bundle.js';

const INVENTORY = new URL('../../../test/plan/inventories/kubeha-bgp.yaml', import.meta.url);

test('the rendered router configs pass bird -p -c, FRR bgpd -C and bfdd -C, for iBGP and eBGP, with and without BFD and MD5', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeha-router-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // FRR's daemons read their file as the Debian package's user frr
  chmodSync(dir, 0o755);
  const base = readFileSync(INVENTORY, 'utf8');
  const variants = { ebgp: base, ibgp: base.replace('localAsn: 64512', 'localAsn: 65000').replace('mode: primary', 'mode: all-active') };
  let checked = 0;
  for (const [variant, text] of Object.entries(variants)) {
    const r = parseInventoryText(text, 'i.yaml');
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    for (const [path, f] of renderBundle(makePlan(r.inventory))) {
      if (!path.startsWith('router-')) continue;
      const file = join(dir, `${variant}-${path.replace('/', '-')}`);
      writeFileSync(file, f.content, { mode: 0o644 });
      if (path.endsWith('bird.conf')) {
        const bird = spawnSync('bird', ['-p', '-c', file], { encoding: 'utf8' });
        assert.equal(bird.status, 0, `${variant} ${path}: ${bird.stderr}${bird.stdout}`);
      } else {
        // an integrated frr.conf: bfdd reads the bfd section, bgpd the rest (as vtysh -b hands them out)
        const [head, bgp] = f.content.split(/^ip prefix-list kubeha-vip/m);
        const bfdPart = head!.includes('\nbfd\n') ? head! : '';
        const bgpPart = head!.replace(/^bfd\n[\s\S]*?^exit\n/m, '') + 'ip prefix-list kubeha-vip' + bgp;
        const parts: [string, string][] = [['bgpd', bgpPart], ...(bfdPart ? [['bfdd', bfdPart] as [string, string]] : [])];
        for (const [daemon, part] of parts) {
          const pf = `${file}.${daemon}`;
          writeFileSync(pf, part, { mode: 0o644 });
          const c = spawnSync(`/usr/lib/frr/${daemon}`, ['-C', '-f', pf], { encoding: 'utf8' });
          // FRR's dry run exits 0 even on an unknown line: the message is the verdict
          const out = `${c.stdout}${c.stderr}`;
          assert.equal(c.status, 0, `${variant} ${path} (${daemon}): ${out}`);
          assert.doesNotMatch(out, /No such command|Unknown command|error|failed/i, `${variant} ${path} (${daemon}):\n${part}`);
        }
      }
      checked++;
    }
  }
  assert.equal(checked, 8, 'two routers × two programs × two variants');
  // the checks can fail: a broken line is caught by each
  writeFileSync(join(dir, 'bad.conf'), 'protocol bgp x { frobnicate; }\n');
  assert.notEqual(spawnSync('bird', ['-p', '-c', join(dir, 'bad.conf')]).status, 0);
  writeFileSync(join(dir, 'bad-frr.conf'), 'router bgp 65000\n neighbor 10.0.0.1 frobnicate\n', { mode: 0o644 });
  assert.match(`${spawnSync('/usr/lib/frr/bgpd', ['-C', '-f', join(dir, 'bad-frr.conf')], { encoding: 'utf8' }).stderr}`, /No such command/);
});
