/**
 * routing/snapshot — the frozen routing state the hot path reads once per
 * request: generation, pool weights, maintenance, and what is derived from
 * them (the live pools in pick order, the standby pool for preview).
 *
 * Everything that must change together is in this one object; the router
 * installs a new one by swapping a single reference, so no request can see a
 * half-applied change.
 */
import type { ServerPool } from '../pools/pool.js';
import type { ServerOverride } from '../state/types.js';

/** RoutingState — the persisted, plain-data part of a snapshot. */
export interface RoutingState {
  readonly generation: number;
  /** The pool set by the last switch (or the highest-weight pool after a weights change). */
  readonly live: string;
  /** The pool that was live before the last switch: the rollback target. */
  readonly previous: string | null;
  readonly weights: Readonly<Record<string, number>>;
  readonly maintenance: boolean;
  readonly servers: Readonly<Record<string, Readonly<Record<string, ServerOverride>>>>;
}

/** PoolPicker — chooses among live pools by weight (smooth weighted round-robin); generic so TCP listeners pick their own pools with the snapshot's weights. */
export class PoolPicker<T = ServerPool> {
  readonly #pools: readonly T[];
  readonly #weights: readonly number[];
  readonly #current: number[];
  readonly #total: number;

  constructor(pools: readonly T[], weights: readonly number[]) {
    this.#pools = pools;
    this.#weights = weights;
    this.#current = weights.map(() => 0);
    this.#total = weights.reduce((a, b) => a + b, 0);
  }

  pick(): T | undefined {
    const n = this.#pools.length;
    if (n === 1) return this.#pools[0];
    if (n === 0) return undefined;
    let best = 0;
    for (let i = 0; i < n; i++) {
      this.#current[i]! += this.#weights[i]!;
      if (this.#current[i]! > this.#current[best]!) best = i;
    }
    this.#current[best]! -= this.#total;
    return this.#pools[best];
  }
}

/** RoutingSnapshot — immutable routing state plus its derived pick structures. */
export class RoutingSnapshot {
  readonly state: RoutingState;
  /** Pools with weight > 0, in config order. */
  readonly livePools: readonly ServerPool[];
  /** The first pool (config order) with weight 0: where the preview listener routes. */
  readonly standby: ServerPool | undefined;
  readonly #single: ServerPool | undefined;
  readonly #picker: PoolPicker;

  constructor(state: RoutingState, pools: readonly ServerPool[]) {
    this.state = deepFreeze(state);
    const live = pools.filter((p) => (state.weights[p.name] ?? 0) > 0);
    this.livePools = Object.freeze(live);
    this.standby = pools.find((p) => (state.weights[p.name] ?? 0) === 0);
    this.#single = live.length === 1 ? live[0] : undefined;
    this.#picker = new PoolPicker(live, live.map((p) => state.weights[p.name] ?? 0));
    Object.freeze(this);
  }

  get generation(): number {
    return this.state.generation;
  }

  get maintenance(): boolean {
    return this.state.maintenance;
  }

  /** pickPool — the pool for a new request (the hot path's one routing decision). */
  pickPool(): ServerPool | undefined {
    return this.#single ?? this.#picker.pick();
  }

  /** isLive — weight > 0 in this snapshot. */
  isLive(pool: string): boolean {
    return (this.state.weights[pool] ?? 0) > 0;
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
