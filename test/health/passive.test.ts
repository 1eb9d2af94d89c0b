import t from 'tap';
import type { PassiveConfig } from '../../src/config/types.js';
import { PassiveEjector } from '../../src/health/passive.js';
import { until } from './fixtures/helpers.js';

interface Change {
  readonly ejected: boolean;
  readonly reason: string;
  /** What the ejector reported inside the callback. */
  readonly seen: { readonly ejected: boolean; readonly ejectedUntil: number };
}

/** An ejector on a manual clock that records every onChange call. */
function setup(t: { teardown(fn: () => void): void }, config: PassiveConfig) {
  const clock = { now: 1_000_000 };
  const changes: Change[] = [];
  const ejector: PassiveEjector = new PassiveEjector(
    config,
    (ejected, reason) => {
      changes.push({ ejected, reason, seen: { ejected: ejector.ejected, ejectedUntil: ejector.ejectedUntil } });
    },
    () => clock.now,
  );
  t.teardown(() => ejector.close());
  return { clock, changes, ejector };
}

t.test('ejects after N consecutive failures and re-admits after the base ejection time', async (t) => {
  const { clock, changes, ejector } = setup(t, { consecutiveFailures: 3, baseEjectionMs: 30, maxEjectionMs: 1000 });
  ejector.recordFailure('connect refused');
  ejector.recordFailure('connect refused');
  t.equal(ejector.ejected, false, 'two failures are not enough');
  t.equal(changes.length, 0);

  const started = performance.now();
  ejector.recordFailure('reset');
  t.equal(ejector.ejected, true);
  t.equal(ejector.ejectedUntil, clock.now + 30);
  t.equal(ejector.ejections, 1);
  t.same(changes, [{ ejected: true, reason: 'reset', seen: { ejected: true, ejectedUntil: clock.now + 30 } }], 'onChange sees the new state');

  await until(() => changes.length === 2, 're-admission');
  t.ok(performance.now() - started >= 25, 'stayed out for about baseEjectionMs');
  t.same(changes[1], { ejected: false, reason: 're-admitted after 30ms', seen: { ejected: false, ejectedUntil: 0 } });
  t.equal(ejector.ejected, false);
  t.equal(ejector.ejectedUntil, 0);
});

t.test('a success in between resets the consecutive-failure count', async (t) => {
  const { changes, ejector } = setup(t, { consecutiveFailures: 3, baseEjectionMs: 30, maxEjectionMs: 1000 });
  ejector.recordFailure('a');
  ejector.recordFailure('b');
  ejector.recordSuccess();
  ejector.recordFailure('c');
  ejector.recordFailure('d');
  t.equal(ejector.ejected, false);
  t.equal(changes.length, 0);
  ejector.recordFailure('e');
  t.equal(ejector.ejected, true);
  t.equal(changes[0]?.reason, 'e');
});

t.test('ignores failures while ejected and counts afresh after re-admission', async (t) => {
  const { changes, ejector } = setup(t, { consecutiveFailures: 2, baseEjectionMs: 30, maxEjectionMs: 1000 });
  ejector.recordFailure('x');
  ejector.recordFailure('x');
  for (let i = 0; i < 10; i++) ejector.recordFailure('late failure from an earlier request');
  t.equal(changes.length, 1, 'only the one ejection');

  await until(() => changes.length === 2, 're-admission');
  ejector.recordFailure('y');
  t.equal(ejector.ejected, false, 'failures while ejected did not carry over');
  ejector.recordFailure('y');
  t.equal(ejector.ejected, true);
});

t.test('doubles the ejection time on repeated ejections and caps it at maxEjectionMs', async (t) => {
  // The clock stands still, so no decay between ejections.
  const { clock, changes, ejector } = setup(t, { consecutiveFailures: 1, baseEjectionMs: 30, maxEjectionMs: 100 });
  const durations: number[] = [];
  for (let i = 1; i <= 4; i++) {
    ejector.recordFailure('boom');
    durations.push(ejector.ejectedUntil - clock.now);
    await until(() => changes.length === i * 2, `re-admission ${i}`);
  }
  t.same(durations, [30, 60, 100, 100]);
  t.same(
    changes.filter((c) => !c.ejected).map((c) => c.reason),
    ['re-admitted after 30ms', 're-admitted after 60ms', 're-admitted after 100ms', 're-admitted after 100ms'],
  );
  t.equal(ejector.ejections, 3, 'the level stops growing at the cap');
});

t.test('the back-off decays by one level per full base period spent admitted', async (t) => {
  const { clock, changes, ejector } = setup(t, { consecutiveFailures: 1, baseEjectionMs: 30, maxEjectionMs: 1000 });
  for (let i = 1; i <= 3; i++) {
    ejector.recordFailure('boom');
    await until(() => changes.length === i * 2, `re-admission ${i}`);
  }
  t.equal(ejector.ejections, 3);

  clock.now += 29;
  t.equal(ejector.ejections, 3, 'less than a full period: no decay');
  clock.now += 1;
  t.equal(ejector.ejections, 2, 'one full period: one level');
  clock.now += 30;
  t.equal(ejector.ejections, 1);

  ejector.recordFailure('boom');
  t.equal(ejector.ejectedUntil - clock.now, 60, 'next ejection builds on the decayed level (1 → 2)');
  t.equal(ejector.ejections, 2);
  clock.now += 10_000;
  t.equal(ejector.ejections, 2, 'no decay while ejected');
  await until(() => changes.length === 8, 're-admission');

  clock.now += 10_000;
  t.equal(ejector.ejections, 0, 'fully decayed after a long clean run');
  ejector.recordFailure('boom');
  t.equal(ejector.ejectedUntil - clock.now, 30, 'back to the base ejection time');
});

t.test('is disabled when consecutiveFailures is 0', async (t) => {
  const { changes, ejector } = setup(t, { consecutiveFailures: 0, baseEjectionMs: 30, maxEjectionMs: 1000 });
  for (let i = 0; i < 1000; i++) ejector.recordFailure('boom');
  t.equal(ejector.ejected, false);
  t.equal(ejector.ejections, 0);
  t.equal(changes.length, 0);
});

t.test('close() cancels a pending re-admission', async (t) => {
  const closed = setup(t, { consecutiveFailures: 1, baseEjectionMs: 30, maxEjectionMs: 1000 });
  const witness = setup(t, { consecutiveFailures: 1, baseEjectionMs: 30, maxEjectionMs: 1000 });
  closed.ejector.recordFailure('boom');
  witness.ejector.recordFailure('boom');
  closed.ejector.close();
  // Equal timeouts fire in creation order, so once the witness is re-admitted the
  // closed ejector's timer would already have fired.
  await until(() => witness.changes.length === 2, 'witness re-admission');
  t.equal(closed.changes.length, 1, 'no re-admission call after close()');
  closed.ejector.recordFailure('boom');
  t.equal(closed.changes.length, 1, 'no ejection after close()');
});
