import t from 'tap';
import { SmoothWeightedRoundRobin } from '../../src/balancers/round-robin.js';
import { CTX, counts, srv, type Srv } from './fixtures/servers.js';

function ids(b: SmoothWeightedRoundRobin<Srv>, list: readonly Srv[], n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(b.pick(list, CTX)?.id ?? 'undefined');
  return out;
}

t.test('weights 5,1,1 give nginx\'s smooth sequence a a b a c a a', async (t) => {
  const b = new SmoothWeightedRoundRobin<Srv>();
  const list = [srv('a', 5), srv('b', 1), srv('c', 1)];
  t.same(ids(b, list, 7), ['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  t.same(ids(b, list, 7), ['a', 'a', 'b', 'a', 'c', 'a', 'a'], 'and repeats it every total-weight picks');
});

t.test('shares picks exactly in proportion to weight over whole cycles', async (t) => {
  const b = new SmoothWeightedRoundRobin<Srv>();
  const list = [srv('a', 5), srv('b', 1), srv('c', 1)];
  const picked = [];
  for (let i = 0; i < 7000; i++) picked.push(b.pick(list, CTX));
  t.same(counts(picked), { a: 5000, b: 1000, c: 1000 });
});

t.test('never sends a light server two requests in a row', async (t) => {
  const b = new SmoothWeightedRoundRobin<Srv>();
  const list = [srv('a', 10), srv('b', 2), srv('c', 1)];
  const seq = ids(b, list, 130);
  for (let i = 1; i < seq.length; i++) {
    if (seq[i] !== 'a' && seq[i] === seq[i - 1]) t.fail(`${seq[i]} picked twice at ${i}`);
  }
  t.same(counts(seq.map((id) => ({ id }))), { a: 100, b: 20, c: 10 });
});

t.test('alternates between two servers of equal weight', async (t) => {
  const b = new SmoothWeightedRoundRobin<Srv>();
  const list = [srv('a'), srv('b')];
  t.same(ids(b, list, 6), ['a', 'b', 'a', 'b', 'a', 'b']);
});

t.test('honours fractional weights', async (t) => {
  const b = new SmoothWeightedRoundRobin<Srv>();
  const list = [srv('a', 0.5), srv('b', 1.5)];
  t.same(counts(ids(b, list, 400).map((id) => ({ id }))), { a: 100, b: 300 });
});

t.test('restarts the sequence when a new candidates array is passed', async (t) => {
  const b = new SmoothWeightedRoundRobin<Srv>();
  const a = srv('a', 5);
  const bb = srv('b', 1);
  const c = srv('c', 1);
  const list = [a, bb, c];
  t.same(ids(b, list, 3), ['a', 'a', 'b']);
  t.same(ids(b, [a, bb, c], 7), ['a', 'a', 'b', 'a', 'c', 'a', 'a'], 'same servers, new array: from the start');
  const shrunk = [a, c];
  t.same(ids(b, shrunk, 6), ['a', 'a', 'a', 'c', 'a', 'a'], 'positions now name other servers: no stale state');
});

t.test('keeps state while the same array is passed even if contents are equal elsewhere', async (t) => {
  const b = new SmoothWeightedRoundRobin<Srv>();
  const list = [srv('a', 5), srv('b', 1), srv('c', 1)];
  const other = new SmoothWeightedRoundRobin<Srv>();
  t.same(ids(b, list, 4), ['a', 'a', 'b', 'a']);
  t.same(ids(other, list, 1), ['a'], 'each balancer has its own state');
  t.same(ids(b, list, 3), ['c', 'a', 'a']);
});

t.test('returns the only candidate', async (t) => {
  const b = new SmoothWeightedRoundRobin<Srv>();
  const only = srv('only', 3);
  t.equal(b.pick([only], CTX), only);
  t.equal(b.pick([only], CTX), only);
});

t.test('returns undefined for an empty list', async (t) => {
  const b = new SmoothWeightedRoundRobin<Srv>();
  t.equal(b.pick([], CTX), undefined);
});
