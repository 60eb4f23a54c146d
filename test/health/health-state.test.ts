import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyCheck, applyConnectResult, checkedUp, effectiveWeight, initialHealth, nextCheckDelayMs, type HealthState,
} from '../../src/health/health-state.js';

const T = { rise: 2, fall: 3 };
const IV = { intervalMs: 2000, fastIntervalMs: 250, downIntervalMs: 5000 };

/** Runs a string of check results ("+" pass, "-" fail) and returns up/down after each. */
function walk(start: HealthState, results: string): string {
  let s = start;
  let out = '';
  let now = 0;
  for (const r of results) {
    now += 1000;
    s = applyCheck(s, r === '+', T, now);
    out += s.up ? 'U' : 'D';
  }
  return out;
}

test('health counter: rise/fall as one counter (HAProxy health), table', () => {
  const up = { ...initialHealth(T, 0), health: T.rise + T.fall - 1 };
  const down = { ...initialHealth(T, 0), health: 0, up: false };
  const table: [string, HealthState, string, string][] = [
    ['start-up state goes down on the first failure', initialHealth(T, 0), '-', 'D'],
    ['fully up needs `fall` failures', up, '---', 'UUD'],
    ['a pass in between restores one step', up, '--+-', 'UUUU'],
    ['so two more failures take it down', up, '--+--', 'UUUUD'],
    ['two passes restore it fully', up, '--++---', 'UUUUUUD'],
    ['fully down needs `rise` passes', down, '++', 'DU'],
    ['a failure while rising starts again', down, '+-++', 'DDDU'],
    ['after going up it takes `fall` failures again', down, '++---', 'DUUUD'],
    ['after going down it takes `rise` passes again', up, '---++', 'UUDDU'],
  ];
  for (const [name, start, results, expected] of table) assert.equal(walk(start, results), expected, name);
});

test('transitions record when and why', () => {
  let s = { ...initialHealth(T, 0), health: 0, up: false };
  s = applyCheck(s, true, T, 100);
  s = applyCheck(s, true, T, 200);
  assert.deepEqual([s.up, s.changedAtMs, s.cause, s.transitions, s.health], [true, 200, 'check', 1, 4]);
});

test('passive detection: consecutive connect failures mark down at once; a success resets', () => {
  const limit = 3;
  let s = { ...initialHealth(T, 0), health: 4 };
  s = applyConnectResult(s, false, limit, 10);
  s = applyConnectResult(s, false, limit, 20);
  assert.equal(s.up, true);
  s = applyConnectResult(s, true, limit, 30);
  assert.equal(s.passiveFailures, 0);
  for (const now of [40, 50, 60]) s = applyConnectResult(s, false, limit, now);
  assert.deepEqual([s.up, s.health, s.cause, s.changedAtMs], [false, 0, 'passive', 60]);
  // Coming back takes `rise` passed checks, as any other down.
  s = applyCheck(s, true, T, 100);
  assert.equal(s.up, false);
  s = applyCheck(s, true, T, 200);
  assert.equal(s.up, true);
  // Limit 0 turns it off.
  let off = initialHealth(T, 0);
  for (let i = 0; i < 10; i++) off = applyConnectResult(off, false, 0, i);
  assert.equal(off.up, true);
});

test('check interval: interval when steady, fastInterval in transition, downInterval when down', () => {
  const full = { ...initialHealth(T, 0), health: 4 };
  assert.equal(nextCheckDelayMs(full, T, IV), 2000);
  assert.equal(nextCheckDelayMs(applyCheck(full, false, T, 1), T, IV), 250, 'up but failing');
  const down = { ...full, up: false, health: 0 };
  assert.equal(nextCheckDelayMs(down, T, IV), 5000);
  assert.equal(nextCheckDelayMs(applyCheck(down, true, T, 1), T, IV), 250, 'down but passing');
});

test('slow start ramps weight after a recovery, not after start-up', () => {
  const start = initialHealth(T, 0);
  assert.equal(effectiveWeight(100, start, 30_000, 0), 100, 'start-up state is not ramped');
  let s = { ...start, up: false, health: 0, transitions: 1 };
  assert.equal(effectiveWeight(100, s, 30_000, 0), 0, 'down has weight 0');
  s = applyCheck(applyCheck(s, true, T, 1000), true, T, 2000);
  const table: [number, number][] = [[2000, 1], [2300, 1], [5000, 10], [17_000, 50], [31_999, 100], [32_000, 100], [90_000, 100]];
  for (const [now, w] of table) assert.equal(effectiveWeight(100, s, 30_000, now), w, `at ${now}ms`);
  assert.equal(effectiveWeight(100, s, 0, 2000), 100, 'slowStart 0 is off');
});

test('health: the start-up state serves but is not checked up until a check passes; a failure takes it down as before', () => {
  for (const t of [T, { rise: 1, fall: 1 }]) {
    const start = initialHealth(t, 0);
    assert.equal(start.up, true);
    assert.equal(checkedUp(start), false, 'start-up is not proof');
    const passed = applyCheck(start, true, t, 1000);
    assert.equal(checkedUp(passed), true);
    assert.equal(passed.transitions, 0, 'confirming is not a transition');
    assert.equal(applyCheck(start, false, t, 1000).up, false);
  }
});
