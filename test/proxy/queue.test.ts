import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { WaitQueue } from '../../src/proxy/queue.js';

test('queue: FIFO, bounded, times out, cancels', () => {
  const clock = new FakeClock();
  const q = new WaitQueue(clock, 2, 1000);
  const log: string[] = [];
  const cancelA = q.enqueue(() => log.push('a'), () => log.push('a-timeout'));
  clock.advance(500);
  q.enqueue(() => log.push('b'), () => log.push('b-timeout'));
  assert.equal(q.enqueue(() => log.push('c'), () => log.push('c-timeout')), undefined, 'full');
  assert.equal(q.overflows, 1);
  assert.ok(q.resumeNext());
  assert.deepEqual(log, ['a']);
  cancelA?.();
  clock.advance(999);
  assert.deepEqual(log, ['a'], 'b has waited 999ms');
  clock.advance(1);
  assert.deepEqual(log, ['a', 'b-timeout'], 'b waited 1000ms');
  assert.equal(q.timeouts, 1);
  assert.equal(q.length, 0);
  assert.equal(q.resumeNext(), false);
  const cancelD = q.enqueue(() => log.push('d'), () => log.push('d-timeout'));
  cancelD?.();
  clock.advance(5000);
  assert.equal(log.includes('d-timeout'), false, 'cancelled waiters never time out');
});
