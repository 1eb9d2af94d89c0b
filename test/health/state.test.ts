import t from 'tap';
import { HealthStateMachine } from '../../src/health/state.js';

t.test('starts unknown and counts as healthy so boot traffic is not refused', async (t) => {
  const m = new HealthStateMachine(2, 3);
  t.equal(m.status, 'unknown');
  t.equal(m.healthy, true);
});

t.test('a first success moves unknown to up without reporting a flip', async (t) => {
  const m = new HealthStateMachine(3, 3);
  t.equal(m.observe(true), false);
  t.equal(m.status, 'up');
  t.equal(m.healthy, true);
});

t.test('a first failure moves unknown straight to down and reports a flip', async (t) => {
  const m = new HealthStateMachine(3, 3);
  t.equal(m.observe(false), true);
  t.equal(m.status, 'down');
  t.equal(m.healthy, false);
});

t.test('goes down only after fall consecutive failures', async (t) => {
  const m = new HealthStateMachine(2, 3);
  m.observe(true);
  t.equal(m.observe(false), false);
  t.equal(m.observe(false), false);
  t.equal(m.status, 'up');
  t.equal(m.observe(false), true);
  t.equal(m.status, 'down');
  t.equal(m.observe(false), false, 'further failures are not flips');
});

t.test('comes back up only after rise consecutive successes', async (t) => {
  const m = new HealthStateMachine(2, 1);
  m.observe(false);
  t.equal(m.observe(true), false);
  t.equal(m.status, 'down');
  t.equal(m.observe(true), true);
  t.equal(m.status, 'up');
  t.equal(m.observe(true), false, 'further successes are not flips');
});

t.test('an opposite observation resets the streak', async (t) => {
  const m = new HealthStateMachine(2, 2);
  m.observe(true);
  t.equal(m.observe(false), false);
  t.equal(m.observe(true), false, 'success breaks the failure streak');
  t.equal(m.observe(false), false, 'streak started again from one');
  t.equal(m.status, 'up');
  t.equal(m.observe(false), true);

  t.equal(m.observe(true), false);
  t.equal(m.observe(false), false, 'failure breaks the success streak');
  t.equal(m.observe(true), false);
  t.equal(m.status, 'down');
  t.equal(m.observe(true), true);
});

t.test('rise and fall of one flip on every change', async (t) => {
  const m = new HealthStateMachine(1, 1);
  m.observe(true);
  t.equal(m.observe(false), true);
  t.equal(m.observe(true), true);
  t.equal(m.observe(false), true);
});

t.test('rejects thresholds below one', async (t) => {
  t.throws(() => new HealthStateMachine(0, 1), RangeError);
  t.throws(() => new HealthStateMachine(1, 0), RangeError);
  t.throws(() => new HealthStateMachine(1.5, 1), RangeError);
});
