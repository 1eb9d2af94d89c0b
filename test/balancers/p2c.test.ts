import t from 'tap';
import { PowerOfTwoChoices } from '../../src/balancers/p2c.js';
import { CTX, counts, mulberry32, srv, type Srv } from './fixtures/servers.js';

/** A "random" source that replays the given values in order. */
function scripted(values: readonly number[]): () => number {
  let i = 0;
  return () => {
    const v = values[i++ % values.length];
    if (v === undefined) throw new Error('empty script');
    return v;
  };
}

t.test('sends the request to the less loaded of the two drawn', async (t) => {
  // Equal weights over 4: 0.1 → index 0; second draw over the other three:
  // 0.9 × 3 = 2.7 lies past index 0's span, shifted by 1 → 3.7 → index 3.
  const list = [srv('a', 1, 5), srv('b', 1, 0), srv('c', 1, 0), srv('d', 1, 1)];
  const b = new PowerOfTwoChoices<Srv>(scripted([0.1, 0.9]));
  t.equal(b.pick(list, CTX)?.id, 'd', 'b and c are idler but were not drawn');
});

t.test('draws the second server by weight from the others only', async (t) => {
  // Weights 1,2,3,4 → cumulative 1,3,6,10. First draw 0.35 × 10 = 3.5 → c.
  // The second draws over a,b,d (total 7) with c's span cut out of the line:
  // a [0,1), b [1,3), d [3,7) → 0.4 × 7 = 2.8 → b; 0.5 × 7 = 3.5 → d.
  // c is the busiest, so whichever second server was drawn is returned.
  const list = [srv('a', 1, 0), srv('b', 2, 0), srv('c', 3, 99), srv('d', 4, 0)];
  t.equal(new PowerOfTwoChoices<Srv>(scripted([0.35, 0.4])).pick(list, CTX)?.id, 'b');
  t.equal(new PowerOfTwoChoices<Srv>(scripted([0.35, 0.5])).pick(list, CTX)?.id, 'd');
  t.equal(new PowerOfTwoChoices<Srv>(scripted([0.35, 0])).pick(list, CTX)?.id, 'a');
});

t.test('compares load per unit of weight', async (t) => {
  // a: 4/4 = 1, b: 2/1 = 2 → a wins despite more requests.
  const list = [srv('a', 4, 4), srv('b', 1, 2)];
  const b = new PowerOfTwoChoices<Srv>(mulberry32(1));
  for (let i = 0; i < 50; i++) t.equal(b.pick(list, CTX)?.id, 'a');
});

t.test('always draws two distinct servers', async (t) => {
  // If a draw ever repeated the busy server it would be returned.
  const list = [srv('busy', 1, 9), srv('idle', 1, 0)];
  const b = new PowerOfTwoChoices<Srv>(mulberry32(7));
  const seen = counts(Array.from({ length: 10000 }, () => b.pick(list, CTX)));
  t.same(seen, { idle: 10000 });
  const edges = new PowerOfTwoChoices<Srv>(scripted([0, 0, 0.9999999999999999, 0.9999999999999999]));
  t.equal(edges.pick(list, CTX)?.id, 'idle', 'random() = 0 twice');
  t.equal(edges.pick(list, CTX)?.id, 'idle', 'random() just below 1 twice');
});

t.test('never returns a server that is not a candidate', async (t) => {
  const list = [srv('a', 1, 3), srv('b', 2, 1), srv('c', 5, 7), srv('d', 0.5, 0)];
  const b = new PowerOfTwoChoices<Srv>(mulberry32(42));
  const members = new Set(list);
  let bad = 0;
  for (let i = 0; i < 10000; i++) {
    const s = b.pick(list, CTX);
    if (s === undefined || !members.has(s)) bad++;
  }
  t.equal(bad, 0);
});

t.test('spreads an idle pool in proportion to weight', async (t) => {
  const list = [srv('a', 1), srv('b', 2), srv('c', 3), srv('d', 4)];
  const b = new PowerOfTwoChoices<Srv>(mulberry32(2024));
  const n = 20000;
  const seen = counts(Array.from({ length: n }, () => b.pick(list, CTX)));
  for (const s of list) {
    const expected = (n * s.weight) / 10;
    const got = seen[s.id] ?? 0;
    t.ok(Math.abs(got - expected) <= expected * 0.05, `${s.id}: ${got} within 5% of ${expected}`);
  }
});

t.test('uses the new weights when a new candidates array arrives', async (t) => {
  const b = new PowerOfTwoChoices<Srv>(mulberry32(5));
  const first = [srv('a', 1), srv('b', 1)];
  for (let i = 0; i < 100; i++) b.pick(first, CTX);
  const second = [srv('a', 9), srv('b', 1)];
  const n = 10000;
  const seen = counts(Array.from({ length: n }, () => b.pick(second, CTX)));
  t.ok(Math.abs((seen.a ?? 0) / n - 0.9) < 0.02, `a share ${(seen.a ?? 0) / n} ≈ 0.9`);
});

t.test('returns the only candidate and undefined for none', async (t) => {
  const b = new PowerOfTwoChoices<Srv>(() => {
    throw new Error('random must not be needed');
  });
  const only = srv('only', 1, 3);
  t.equal(b.pick([only], CTX), only);
  t.equal(b.pick([], CTX), undefined);
});

t.test('long-lived connections count as load: a server holding WebSockets loses to one with a few requests', async (t) => {
  // a: 0 requests + 20 long-lived; b: 2 requests. With two servers both are always drawn.
  const list = [srv('a', 1, 0, 20), srv('b', 1, 2, 0)];
  const b = new PowerOfTwoChoices<Srv>(mulberry32(7));
  for (let i = 0; i < 20; i++) t.equal(b.pick(list, CTX)?.id, 'b');
});
