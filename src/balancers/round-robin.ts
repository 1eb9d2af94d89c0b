/**
 * balancers/round-robin — nginx's smooth weighted round-robin.
 *
 * Each pick adds every candidate's weight to its running `current`, chooses the
 * largest `current` (first wins a tie, as in nginx's ngx_http_upstream_get_peer),
 * and subtracts the total weight from the chosen one. Over any window of
 * `total` picks each server is chosen exactly `weight` times, and heavy servers
 * are interleaved with light ones instead of bunched ({5,1,1} → a a b a c a a),
 * so a light server never sees a burst. See
 * https://github.com/nginx/nginx/commit/52327e0627f49dbda1e8db695e63a4b0af4448b1
 */
import type { Balancer, Pickable, PickContext } from './types.js';

/** SmoothWeightedRoundRobin — nginx's smooth weighted round-robin; zero allocation per pick. */
export class SmoothWeightedRoundRobin<T extends Pickable> implements Balancer<T> {
  /** The candidates array the state below belongs to (compared by identity). */
  #list: readonly T[] | undefined = undefined;
  /** Running `current` weight per candidate position; reused across lists when large enough. */
  #current: Float64Array = new Float64Array(8);

  pick(candidates: readonly T[], _ctx?: PickContext): T | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];

    if (candidates !== this.#list) {
      // A new array means availability or a weight changed: positions no longer
      // name the same servers, so the accumulated state is meaningless. Restart
      // the sequence (nginx does the same when it rebuilds its peer list).
      this.#list = candidates;
      if (this.#current.length < n) this.#current = new Float64Array(n);
      else this.#current.fill(0, 0, n);
    }

    const current = this.#current;
    let total = 0;
    let best = -1;
    let bestCurrent = -Infinity;
    for (let i = 0; i < n; i++) {
      // The index is in range: the loop is bounded by candidates.length.
      const weight = (candidates[i] as T).weight;
      total += weight;
      const c = (current[i] as number) + weight;
      current[i] = c;
      if (c > bestCurrent) {
        bestCurrent = c;
        best = i;
      }
    }
    current[best] = bestCurrent - total;
    return candidates[best];
  }
}
