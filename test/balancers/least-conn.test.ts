import t from 'tap';
import { WeightedLeastInflight } from '../../src/balancers/least-conn.js';
import { CTX, srv, type Srv } from './fixtures/servers.js';

t.test('picks the lowest inflight per unit of weight', async (t) => {
  const b = new WeightedLeastInflight<Srv>();
  // ratios: a 4/2 = 2, b 3/1 = 3, c 5/4 = 1.25
  const list = [srv('a', 2, 4), srv('b', 1, 3), srv('c', 4, 5)];
  t.equal(b.pick(list, CTX)?.id, 'c');
});

t.test('a heavier server takes proportionally more concurrent requests', async (t) => {
  const b = new WeightedLeastInflight<Srv>();
  const list = [srv('big', 3), srv('small', 1)];
  for (let i = 0; i < 400; i++) {
    const s = b.pick(list, CTX);
    if (s === undefined) throw new Error('no pick');
    s.inflight++;
  }
  t.equal(list[0]?.inflight, 300);
  t.equal(list[1]?.inflight, 100);
});

t.test('rotates between servers that tie', async (t) => {
  const b = new WeightedLeastInflight<Srv>();
  const list = [srv('a'), srv('b'), srv('c')];
  const seq: (string | undefined)[] = [];
  for (let i = 0; i < 6; i++) seq.push(b.pick(list, CTX)?.id);
  t.same(seq, ['a', 'b', 'c', 'a', 'b', 'c']);
});

t.test('rotates only among the tied least loaded', async (t) => {
  const b = new WeightedLeastInflight<Srv>();
  // b and c tie at 0/1 and 0/2; a is busier.
  const list = [srv('a', 1, 1), srv('b', 1, 0), srv('c', 2, 0)];
  const seq: (string | undefined)[] = [];
  for (let i = 0; i < 6; i++) seq.push(b.pick(list, CTX)?.id);
  t.same(seq, ['b', 'c', 'b', 'c', 'b', 'c']);
});

t.test('treats equal ratios with different weights as a tie', async (t) => {
  const b = new WeightedLeastInflight<Srv>();
  const list = [srv('a', 2, 2), srv('b', 1, 1)];
  t.same([b.pick(list, CTX)?.id, b.pick(list, CTX)?.id], ['a', 'b']);
});

t.test('keeps working when the list shrinks under the rotation index', async (t) => {
  const b = new WeightedLeastInflight<Srv>();
  const list = [srv('a'), srv('b'), srv('c')];
  b.pick(list, CTX);
  b.pick(list, CTX);
  b.pick(list, CTX); // next start is 3
  const shrunk = [srv('x'), srv('y')];
  t.equal(b.pick(shrunk, CTX)?.id, 'x');
  t.equal(b.pick(shrunk, CTX)?.id, 'y');
});

t.test('returns the only candidate and undefined for none', async (t) => {
  const b = new WeightedLeastInflight<Srv>();
  const only = srv('only', 1, 99);
  t.equal(b.pick([only], CTX), only);
  t.equal(b.pick([], CTX), undefined);
});

t.test('long-lived connections (WebSockets, raw TCP) count like requests in flight', async (t) => {
  const b = new WeightedLeastInflight<Srv>();
  // a: 0 requests but 50 open WebSockets; b: 3 requests. b is the less loaded.
  const list = [srv('a', 1, 0, 50), srv('b', 1, 3, 0)];
  for (let i = 0; i < 5; i++) t.equal(b.pick(list, CTX)?.id, 'b', `pick ${i + 1}`);
  // Weighted: a has 10× the weight, so 50 long-lived there is lighter than 6 here.
  const weighted = [srv('a', 10, 0, 50), srv('b', 1, 6, 0)];
  t.equal(b.pick(weighted, CTX)?.id, 'a');
});
