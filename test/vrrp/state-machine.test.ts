import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAUSE_HOLD_DOWN_MS, VrrpMachine, type MachineSettings, type VrrpEffect } from '../../src/vrrp/state-machine.js';

const base: MachineSettings = { version: 3, priority: 100, advertIntervalCs: 100, preempt: true, preemptDelayMs: 0, primaryAddress: '10.0.0.2' };
const machine = (over: Partial<MachineSettings> = {}) => new VrrpMachine({ ...base, ...over });

/** Effects as short strings: `master`, `advert:100`, `addVips`, `garp`, `removeVips`. */
const brief = (fx: VrrpEffect[]) =>
  fx.map((e) => (e.kind === 'transition' ? e.to : e.kind === 'sendAdvert' ? `advert:${e.priority}` : e.kind)).join(' ');

/** Ticks at every deadline up to `until`, collecting effects with their times. */
function runUntil(m: VrrpMachine, until: number): [number, string][] {
  const out: [number, string][] = [];
  for (let d = m.deadline; d !== undefined && d <= until; d = m.deadline) {
    const fx = m.tick(d);
    if (fx.length) out.push([d, brief(fx)]);
  }
  return out;
}

test('state machine: RFC 5798 timers (skew, master down interval) for v3 and v2, table', () => {
  const table: [string, Partial<MachineSettings>, number, number][] = [
    // [what, settings, skew ms, master down ms]
    ['v3 1 s, priority 100', {}, (156 * 1000) / 256, 3000 + (156 * 1000) / 256],
    ['v3 100 ms, priority 200', { advertIntervalCs: 10, priority: 200 }, (56 * 100) / 256, 300 + (56 * 100) / 256],
    ['v3 100 ms, priority 254', { advertIntervalCs: 10, priority: 254 }, (2 * 100) / 256, 300 + (2 * 100) / 256],
    ['v2 1 s, priority 100: skew is (256 - p) / 256 s', { version: 2 }, (156 * 1000) / 256, 3000 + (156 * 1000) / 256],
    ['v2 3 s, priority 50', { version: 2, advertIntervalCs: 300, priority: 50 }, (206 * 1000) / 256, 9000 + (206 * 1000) / 256],
  ];
  for (const [what, s, skew, down] of table) {
    const m = machine(s);
    assert.equal(m.skewMs(), skew, what);
    assert.equal(m.masterDownIntervalMs(), down, what);
  }
});

test('state machine: startup, master down timer, adverts every interval', () => {
  const m = machine({ advertIntervalCs: 10, priority: 200 });
  assert.equal(brief(m.start(0)), 'backup');
  const down = m.masterDownIntervalMs();
  assert.equal(m.deadline, down);
  assert.deepEqual(runUntil(m, 530), [
    [down, 'master addVips advert:200 garp'],
    [down + 100, 'advert:200'],
    [down + 200, 'advert:200'],
  ]);
  assert.equal(m.state, 'master');
});

test('state machine: priority 255 (address owner) is master at once', () => {
  const m = machine({ priority: 255 });
  assert.equal(brief(m.start(0)), 'master addVips advert:255 garp');
});

test('state machine: a backup that hears a higher or equal master resets its down timer and learns the v3 interval', () => {
  const m = machine({ advertIntervalCs: 100 });
  m.start(0);
  for (let t = 500; t <= 5000; t += 500) assert.deepEqual(m.receive(t, { src: '10.0.0.9', priority: 150, advertIntervalCs: 50 }), []);
  assert.equal(m.state, 'backup');
  assert.equal(m.masterAdverIntervalCs, 50);
  assert.equal(m.deadline, 5000 + 1500 + (156 * 500) / 256, 'Master_Down_Interval uses the learnt interval');
  assert.equal(m.masterAddress, '10.0.0.9');
  m.receive(5100, { src: '10.0.0.1', priority: 100, advertIntervalCs: 100 });
  assert.equal(m.state, 'backup', 'equal priority in backup is accepted (no address tie-break there)');
});

test('state machine: priority 0 from the master → backup takes over after Skew_Time', () => {
  const m = machine({ priority: 200, advertIntervalCs: 10 });
  m.start(0);
  m.receive(100, { src: '10.0.0.9', priority: 250, advertIntervalCs: 10 });
  m.receive(150, { src: '10.0.0.9', priority: 0, advertIntervalCs: 10 });
  const skew = (56 * 100) / 256;
  assert.equal(m.deadline, 150 + skew);
  assert.deepEqual(runUntil(m, 150 + skew), [[150 + skew, 'master addVips advert:200 garp']]);
});

test('state machine: master meets another master, table (priority, then primary address)', () => {
  const table: [string, number, string, string, string][] = [
    // [what, their priority, their address, effects, resulting state]
    ['higher priority wins', 150, '10.0.0.1', 'backup removeVips', 'backup'],
    ['equal priority, higher address wins', 100, '10.0.0.3', 'backup removeVips', 'backup'],
    ['equal priority, lower address loses: we answer at once', 100, '10.0.0.1', 'advert:100', 'master'],
    ['lower priority: we answer at once (a healed partition ends in one round trip)', 50, '10.0.0.200', 'advert:100', 'master'],
    ['priority 0 (a master leaving): we answer', 0, '10.0.0.200', 'advert:100', 'master'],
    ['our own advert looped back', 100, '10.0.0.2', '', 'master'],
  ];
  for (const [what, priority, src, fx, state] of table) {
    const m = machine();
    m.start(0);
    runUntil(m, m.masterDownIntervalMs());
    assert.equal(m.state, 'master');
    assert.equal(brief(m.receive(4000, { src, priority, advertIntervalCs: 100 })), fx, what);
    assert.equal(m.state, state, what);
  }
});

test('state machine: preempt — a higher-priority backup takes over at the first lower advert; nopreempt never does', () => {
  const pre = machine({ priority: 150 });
  pre.start(0);
  assert.equal(brief(pre.receive(100, { src: '10.0.0.9', priority: 100, advertIntervalCs: 100 })), 'master addVips advert:150 garp');

  const nopre = machine({ priority: 150, preempt: false });
  nopre.start(0);
  for (let t = 100; t < 10_000; t += 1000) assert.deepEqual(nopre.receive(t, { src: '10.0.0.9', priority: 100, advertIntervalCs: 100 }), []);
  assert.equal(nopre.state, 'backup', 'keepalived nopreempt: a lower-priority master keeps the VIP');
  assert.equal(runUntil(nopre, 9999).length, 0);
  // ...but when that master dies, the nopreempt backup takes over as usual.
  assert.equal(runUntil(nopre, 20_000)[0]?.[1], 'master addVips advert:150 garp');
});

test('state machine: strangers worse than us cannot move a backup while a better master is alive, table', () => {
  // The backup (10.0.0.2, priority 100, 100 ms) follows master 10.0.0.9 at priority 200.
  const m100 = { src: '10.0.0.9', priority: 200, advertIntervalCs: 10 };
  const table: [string, { src: string; priority: number; advertIntervalCs: number }, string][] = [
    ['lower priority', { src: '10.0.0.7', priority: 1, advertIntervalCs: 10 }, 'ignoredAdvert'],
    ['lower priority, another interval (would stretch the down timer)', { src: '10.0.0.7', priority: 2, advertIntervalCs: 300 }, 'ignoredAdvert'],
    ['priority 0 (a forged "I resign")', { src: '10.0.0.7', priority: 0, advertIntervalCs: 10 }, 'ignoredAdvert'],
    ['equal priority, lower address', { src: '10.0.0.1', priority: 100, advertIntervalCs: 10 }, 'ignoredAdvert'],
    ['equal priority, higher address: accepted (RFC 5798 §6.4.2)', { src: '10.0.0.8', priority: 100, advertIntervalCs: 10 }, ''],
    ['higher priority than us, lower than the master: accepted', { src: '10.0.0.7', priority: 150, advertIntervalCs: 10 }, ''],
  ];
  for (const [what, advert, want] of table) {
    for (const preempt of [true, false]) {
      const m = machine({ advertIntervalCs: 10, preempt });
      m.start(0);
      m.receive(100, m100);
      const downAt = m.deadline;
      const fx = m.receive(150, advert);
      assert.equal(brief(fx), want, `${what}, preempt ${preempt}`);
      assert.equal(m.state, 'backup', what);
      if (want) {
        assert.deepEqual(fx[0], { kind: 'ignoredAdvert', src: advert.src, priority: advert.priority, master: '10.0.0.9', masterPriority: 200 });
        assert.equal(m.deadline, downAt, `${what}: the Master_Down_Timer is untouched`);
        assert.equal(m.masterAddress, '10.0.0.9', what);
        assert.equal(m.masterAdverIntervalCs, 10, what);
      }
    }
  }
});

test('state machine: a stranger flooding low-priority adverts never moves the backup; the master\'s own lowered priority still does, at once', () => {
  const m = machine({ advertIntervalCs: 10 });
  m.start(0);
  const transitions: string[] = [];
  for (let t = 100; t < 10_000; t++) {
    // The master every 100 ms; the stranger every millisecond in between.
    const fx = t % 100 === 0 ? m.receive(t, { src: '10.0.0.9', priority: 200, advertIntervalCs: 10 }) : m.receive(t, { src: '10.0.0.7', priority: 1, advertIntervalCs: 10 });
    for (const e of fx) if (e.kind === 'transition') transitions.push(e.to);
    for (const [, e] of runUntil(m, t)) transitions.push(e);
  }
  assert.deepEqual(transitions, []);
  // The master's own advert at a priority below ours: fast preemption, as before.
  assert.equal(brief(m.receive(10_000, { src: '10.0.0.9', priority: 50, advertIntervalCs: 10 })), 'master addVips advert:100 garp');
});

test('state machine: when the better master falls silent, the stranger does not hold the backup off, and a third router can take over', () => {
  // The master dies; the stranger keeps sending priority 1: the backup takes over at its Master_Down_Timer.
  const m = machine({ advertIntervalCs: 10 });
  m.start(0);
  m.receive(100, { src: '10.0.0.9', priority: 200, advertIntervalCs: 10 });
  const downAt = m.deadline!;
  for (let t = 110; t < downAt; t += 10) assert.equal(brief(m.receive(t, { src: '10.0.0.7', priority: 1, advertIntervalCs: 10 })), 'ignoredAdvert');
  assert.equal(brief(m.tick(downAt)), 'master addVips advert:100 garp');
  // Three routers: A (200) dies, C (150) takes over first (its skew is shorter); B (100) follows C
  // although A was heard within B's own down interval: C is better than B.
  const b = machine({ advertIntervalCs: 10 });
  b.start(0);
  b.receive(100, { src: '10.0.0.9', priority: 200, advertIntervalCs: 10 });
  assert.deepEqual(b.receive(380, { src: '10.0.0.3', priority: 150, advertIntervalCs: 10 }), []);
  assert.equal(b.masterAddress, '10.0.0.3');
  assert.equal(runUntil(b, 500).length, 0, 'no takeover: C is master');
});

test('state machine: a master answers a lower-priority master at once, but at most once a quarter interval', () => {
  const m = machine({ priority: 200, advertIntervalCs: 100 });
  m.start(0);
  runUntil(m, m.deadline!);
  assert.equal(m.state, 'master');
  const t0 = 10_000;
  runUntil(m, t0); // advertising all along (a master silent for 3 intervals is a paused one: see below)
  const answers = [];
  for (let t = t0; t < t0 + 1000; t += 10) answers.push(brief(m.receive(t, { src: '10.0.0.7', priority: 1, advertIntervalCs: 100 })));
  assert.deepEqual(answers.filter(Boolean), ['advert:200', 'advert:200', 'advert:200', 'advert:200'], 'four answers in one 1 s interval');
});

test('state machine: preemptDelay holds a lower-priority master until the delay is over (keepalived preempt_delay)', () => {
  const m = machine({ priority: 150, preemptDelayMs: 5000, advertIntervalCs: 100 });
  m.start(0);
  for (let t = 100; t < 5000; t += 1000) assert.deepEqual(m.receive(t, { src: '10.0.0.9', priority: 100, advertIntervalCs: 100 }), [], `t=${t}`);
  assert.equal(m.state, 'backup');
  assert.deepEqual(runUntil(m, 5000), [[5000, 'master addVips advert:150 garp']]);

  // Long after start-up, a newly lower master is given the delay again from when it is first seen.
  const late = machine({ priority: 150, preemptDelayMs: 2000 });
  late.start(0);
  late.receive(10_000, { src: '10.0.0.9', priority: 200, advertIntervalCs: 100 });
  assert.deepEqual(late.receive(11_000, { src: '10.0.0.9', priority: 100, advertIntervalCs: 100 }), []);
  assert.deepEqual(late.receive(12_000, { src: '10.0.0.9', priority: 100, advertIntervalCs: 100 }), []);
  assert.equal(brief(late.receive(13_000, { src: '10.0.0.9', priority: 100, advertIntervalCs: 100 })), 'master addVips advert:150 garp');
});

test('state machine: a master whose priority drops (track) tells the backups at once; a backup whose priority rises preempts', () => {
  const m = machine({ priority: 150 });
  m.start(0);
  runUntil(m, 5000);
  assert.equal(m.state, 'master');
  assert.equal(brief(m.setPriority(5100, 90)), 'advert:90');
  assert.equal(m.deadline, 5100 + 1000, 'the advert timer restarts');
  assert.deepEqual(m.setPriority(5200, 90), [], 'no change, no advert');

  const b = machine({ priority: 90 });
  b.start(0);
  b.receive(100, { src: '10.0.0.9', priority: 100, advertIntervalCs: 100 });
  assert.equal(brief(b.setPriority(200, 110)), 'master addVips advert:110 garp');
});

test('state machine: shutdown sends priority 0 and releases the VIPs; fault does the same and recovers to backup', () => {
  const m = machine();
  m.start(0);
  runUntil(m, 4000);
  assert.equal(brief(m.shutdown(4100)), 'initialize advert:0 removeVips');
  assert.equal(m.deadline, undefined, 'no timers after shutdown');

  const f = machine();
  f.start(0);
  runUntil(f, 4000);
  assert.equal(brief(f.setFault(4100, true, 'eth0 down')), 'fault advert:0 removeVips');
  assert.deepEqual(f.receive(4200, { src: '10.0.0.9', priority: 50, advertIntervalCs: 100 }), [], 'FAULT ignores adverts');
  assert.equal(f.deadline, undefined);
  assert.equal(brief(f.setFault(5000, false, 'eth0 up')), 'backup');
  assert.equal(f.deadline, 5000 + f.masterDownIntervalMs());

  const early = machine();
  early.setFault(0, true, 'eth0 down');
  assert.equal(brief(early.start(0)), 'fault', 'a fault before start-up starts in FAULT');
});

test('state machine: two machines on a fake wire elect one master; the loser of an equal-priority race yields', () => {
  const a = machine({ primaryAddress: '10.0.0.1' });
  const b = machine({ primaryAddress: '10.0.0.2' });
  a.start(0);
  b.start(0); // same priority, same timers: both fire together
  const deliver = (from: VrrpMachine, to: VrrpMachine, fx: VrrpEffect[], now: number) => {
    for (const e of fx) if (e.kind === 'sendAdvert') to.receive(now, { src: from.settings.primaryAddress, priority: e.priority, advertIntervalCs: 100 });
  };
  const t = a.deadline!;
  const fa = a.tick(t);
  const fb = b.tick(t);
  assert.equal(a.state, 'master');
  assert.equal(b.state, 'master');
  deliver(a, b, fa, t + 1);
  deliver(b, a, fb, t + 1);
  assert.equal(a.state, 'backup', 'equal priority: the lower primary address yields');
  assert.equal(b.state, 'master');
});

test('state machine: a master paused longer than the backups wait yields to the one that took over, and preempts only after the hold-down', () => {
  // [what, order on resume, pause]: the queued advert may be read before or after the late timer fires
  for (const order of ['advert first', 'timer first'] as const) {
    const m = machine({ priority: 150, advertIntervalCs: 10 }); // 100 ms adverts
    m.start(0);
    runUntil(m, 1000);
    assert.equal(m.state, 'master');
    const resumedAt = 1000 + 600; // stopped for 600 ms: a priority-100 backup took over after ~361 ms
    const theirs = { src: '10.0.0.9', priority: 100, advertIntervalCs: 10 };
    let fx: VrrpEffect[];
    if (order === 'timer first') {
      assert.equal(brief(m.tick(resumedAt)), '', 'no advert yet: queued adverts are read first');
      fx = m.receive(resumedAt + 1, theirs);
    } else {
      fx = m.receive(resumedAt, theirs);
    }
    assert.equal(brief(fx), 'backup removeVips', order);
    const t = fx.find((e) => e.kind === 'transition');
    assert.match(t?.kind === 'transition' ? t.reason : '', /silent for \d+ ms \(paused\?\): 10\.0\.0\.9 took over; not preempting it for 10000 ms/);
    // it follows the new master through the hold-down, then preempts
    for (let at = resumedAt + 100; at < resumedAt + PAUSE_HOLD_DOWN_MS; at += 100) {
      assert.deepEqual(m.receive(at, theirs), [], `t=${at}`);
      runUntil(m, at);
    }
    assert.equal(m.state, 'backup', order);
    runUntil(m, resumedAt + PAUSE_HOLD_DOWN_MS + 1);
    assert.equal(m.state, 'master', `${order}: preempts once the hold-down is over`);
  }
  // paused, but nobody took over (a lone node, or a pause shorter than the backups wait): it just advertises
  const lone = machine({ priority: 150, advertIntervalCs: 10 });
  lone.start(0);
  runUntil(lone, 1000);
  assert.equal(brief(lone.tick(1600)), '');
  assert.equal(brief(lone.tick(1605)), 'advert:150', 'after the short check, as before');
  assert.equal(lone.state, 'master');
  assert.equal(brief(lone.receive(1650, { src: '10.0.0.9', priority: 100, advertIntervalCs: 10 })), 'advert:150', 'a lower master heard after we spoke again is answered as before');
});
