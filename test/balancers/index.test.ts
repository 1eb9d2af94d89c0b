import t from 'tap';
import { createBalancer } from '../../src/balancers/index.js';
import { ConsistentHash } from '../../src/balancers/hash.js';
import { WeightedLeastInflight } from '../../src/balancers/least-conn.js';
import { PowerOfTwoChoices } from '../../src/balancers/p2c.js';
import { SmoothWeightedRoundRobin } from '../../src/balancers/round-robin.js';
import { CTX, srv } from './fixtures/servers.js';

t.test('builds the balancer each algorithm name stands for', async (t) => {
  const servers = [srv('a'), srv('b')];
  const ip = { kind: 'ip' } as const;
  t.type(createBalancer('round-robin', servers, ip), SmoothWeightedRoundRobin);
  t.type(createBalancer('least-conn', servers, ip), WeightedLeastInflight);
  t.type(createBalancer('p2c', servers, ip), PowerOfTwoChoices);
  t.type(createBalancer('hash', servers, ip), ConsistentHash);
});

t.test('every algorithm picks from the candidates and returns undefined for none', async (t) => {
  const servers = [srv('a'), srv('b'), srv('c')];
  for (const algorithm of ['round-robin', 'least-conn', 'p2c', 'hash'] as const) {
    const b = createBalancer(algorithm, servers, { kind: 'ip' });
    const ctx = { ...CTX, remoteAddress: '192.0.2.1' };
    t.ok(servers.includes(b.pick(servers, ctx) as (typeof servers)[number]), `${algorithm} picks a candidate`);
    t.equal(b.pick([], ctx), undefined, `${algorithm} returns undefined for none`);
  }
});
