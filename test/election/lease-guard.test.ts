import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTiming, keepAliveIntervalMs, LeaseGuard } from '../../src/election/lease-guard.js';

const T = { ttlMs: 5000, marginMs: 1000 };

test('lease guard: the deadline is the last acked keepalive\'s send time + TTL - margin, table', () => {
  const table: [string, [number, number][], number, boolean][] = [
    // [what, keepalive acks as [sentAt, ttl], time asked, valid?]
    ['fresh grant (sent at 0)', [], 3999, true],
    ['fresh grant, at the deadline', [], 4000, false],
    ['an ack moves the deadline from its send time, not its arrival', [[1600, 5000]], 5599, true],
    ['...and no further', [[1600, 5000]], 5600, false],
    ['a late ack of an early keepalive does not move it back', [[3200, 5000], [1600, 5000]], 7199, true],
    ['TTL 0: the lease is gone at once', [[1600, 0]], 1700, false],
    ['a keepalive sent after the deadline cannot revive the term (SIGSTOP, then resume)', [[9000, 5000]], 9500, false],
  ];
  for (const [what, acks, at, valid] of table) {
    const g = new LeaseGuard(T, 0, 5000);
    for (const [sent, ttl] of acks) g.onKeepAliveAck(sent, ttl);
    assert.equal(g.valid(at), valid, what);
  }
});

test('lease guard: expire() ends the term; timing checks', () => {
  const g = new LeaseGuard(T, 0, 5000);
  g.expire();
  assert.equal(g.valid(1), false);
  assert.equal(g.deadlineMs, -Infinity);
  assert.equal(keepAliveIntervalMs(T), 5000 / 3);
  assert.equal(checkTiming(T), undefined);
  assert.match(checkTiming({ ttlMs: 1000, marginMs: 100 }) ?? '', /minimum of 2s/);
  assert.match(checkTiming({ ttlMs: 5000, marginMs: 4000 }) ?? '', /margin/);
});
