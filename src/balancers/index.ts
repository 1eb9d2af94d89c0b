/**
 * balancers — the balancer contract and the algorithm name → implementation map.
 * The pool builds one balancer per pool from its config and only ever calls pick().
 */
import type { BalanceAlgorithm, HashKey } from '../config/types.js';
import { ConsistentHash } from './hash.js';
import { WeightedLeastInflight } from './least-conn.js';
import { PowerOfTwoChoices } from './p2c.js';
import { SmoothWeightedRoundRobin } from './round-robin.js';
import type { Balancer, Pickable } from './types.js';

export type { Balancer, Pickable, PickContext } from './types.js';
export { ConsistentHash, hashKeyOf } from './hash.js';
export { WeightedLeastInflight } from './least-conn.js';
export { PowerOfTwoChoices } from './p2c.js';
export { SmoothWeightedRoundRobin } from './round-robin.js';

/** createBalancer — a new balancer for one pool; `servers` (the full list) feeds only the hash ring, so rebuild on weight changes. */
export function createBalancer<T extends Pickable>(
  algorithm: BalanceAlgorithm,
  servers: readonly T[],
  hashKey: HashKey,
): Balancer<T> {
  switch (algorithm) {
    case 'round-robin':
      return new SmoothWeightedRoundRobin<T>();
    case 'least-conn':
      return new WeightedLeastInflight<T>();
    case 'p2c':
      return new PowerOfTwoChoices<T>();
    case 'hash':
      return new ConsistentHash<T>(servers, hashKey);
    default: {
      // Exhaustiveness: a new algorithm in config/types fails to compile here.
      const unknown: never = algorithm;
      throw new TypeError(`unknown balance algorithm: ${String(unknown)}`);
    }
  }
}
