import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAnnouncements, primaryMed, routeFor } from '../../src/bgp/announce.js';
import { bgpAnnounceSchema } from '../../src/config/schema.js';

const vip = (over: Record<string, unknown> = {}) => bgpAnnounceSchema.parse({ vip: '10.8.4.55/32', track: { backends: ['apiservers', 'spare'] }, ...over });

test('announce: a VIP goes out while one tracked backend serves, not in maintenance, not stopping; the reason says why not', () => {
  const table: [string, Map<string, boolean>, boolean, boolean, boolean, string][] = [
    ['one of two tracked backends serves', new Map([['apiservers', false], ['spare', true]]), false, false, true, 'announced'],
    ['none serves', new Map([['apiservers', false], ['spare', false]]), false, false, false, 'no tracked backend can serve (apiservers, spare)'],
    ['not known yet (no check passed)', new Map(), false, false, false, 'no tracked backend can serve (apiservers, spare)'],
    ['maintenance', new Map([['apiservers', true]]), true, false, false, 'maintenance'],
    ['stopping wins over everything', new Map([['apiservers', true]]), true, true, false, 'stopping'],
  ];
  for (const [name, backends, maintenance, stopping, announced, reason] of table) {
    const [d] = decideAnnouncements([vip()], { backends, maintenance, stopping });
    assert.deepEqual([d!.announced, d!.reason], [announced, reason], name);
  }
  const [untracked] = decideAnnouncements([vip({ track: { backends: [] } })], { backends: new Map(), maintenance: false, stopping: false });
  assert.equal(untracked!.announced, true, 'no track: always announced');
});

test('announce: all-active routes are equal (ECMP); primary carries MED 255 − priority, LOCAL_PREF = priority and its prepend', () => {
  assert.deepEqual(routeFor(vip({ communities: ['64512:1'] })), { prefix: '10.8.4.55/32', prepend: 0, communities: ['64512:1'] });
  assert.deepEqual(routeFor(vip({ mode: 'primary', priority: 200, prepend: 2 })), { prefix: '10.8.4.55/32', med: 55, localPref: 200, prepend: 2, communities: [] });
  assert.ok(primaryMed(200) < primaryMed(100), 'the higher priority has the lower (preferred) MED');
});
