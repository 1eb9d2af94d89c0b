/**
 * balancers/p2c — power of two (weighted) random choices.
 *
 * Draws two distinct candidates with probability proportional to weight and
 * sends the request to the one with the lower `(inflight + longLived) / weight`. Two random
 * choices avoid least-conn's herd behaviour (many proxies all sending to the
 * same momentarily idlest server) while still steering away from loaded ones
 * (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing").
 * Cumulative weights are computed once per candidates array, so a pick costs
 * two random numbers and two binary searches.
 */
import type { Balancer, Pickable, PickContext } from './types.js';

/** PowerOfTwoChoices — weighted random pair, the less loaded of the two wins. */
export class PowerOfTwoChoices<T extends Pickable> implements Balancer<T> {
  readonly #random: () => number;
  /** The candidates array `#cumulative` belongs to (compared by identity). */
  #list: readonly T[] | undefined = undefined;
  /** cumulative[i] = weight[0] + … + weight[i]. */
  #cumulative: Float64Array = new Float64Array(0);
  #total = 0;

  /** `random` must return [0, 1) like Math.random; tests pass a seeded one. */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  pick(candidates: readonly T[], _ctx?: PickContext): T | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    if (candidates !== this.#list) this.#prepare(candidates);

    const cumulative = this.#cumulative;
    const total = this.#total;
    const first = this.#search(this.#random() * total, n);
    const firstWeight = (candidates[first] as T).weight;

    // Draw the second from the others without rejection sampling: take a point
    // in [0, total − w_first) and skip over the first one's span of the line.
    // This is exactly "weighted, without replacement" and needs one random number.
    let x = this.#random() * (total - firstWeight);
    if (x >= (cumulative[first] as number) - firstWeight) x += firstWeight;
    let second = this.#search(x, n);
    // Rounding can land on `first` at the very edge of its span; any other is fine.
    if (second === first) second = first + 1 < n ? first + 1 : first - 1;

    const a = candidates[first] as T;
    const b = candidates[second] as T;
    // Load = requests in flight + long-lived connections (see least-conn). Tie → the first draw,
    // so an idle pool is spread exactly by weight.
    return (b.inflight + b.longLived) * a.weight < (a.inflight + a.longLived) * b.weight ? b : a;
  }

  #prepare(candidates: readonly T[]): void {
    const n = candidates.length;
    if (this.#cumulative.length !== n) this.#cumulative = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += (candidates[i] as T).weight;
      this.#cumulative[i] = sum;
    }
    this.#total = sum;
    this.#list = candidates;
  }

  /** First index whose cumulative weight exceeds x, clamped to the last index. */
  #search(x: number, n: number): number {
    const cumulative = this.#cumulative;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
