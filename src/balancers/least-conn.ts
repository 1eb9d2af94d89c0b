/**
 * balancers/least-conn — weighted least connections: requests in flight plus
 * long-lived connections (WebSocket tunnels, raw TCP connections), as
 * HAProxy's leastconn and nginx's least_conn count upgraded connections too.
 *
 * Picks the candidate with the lowest `load / weight`, compared by
 * cross-multiplication (a.load × b.weight < b.load × a.weight) so there
 * is no division and no rounding. Ties are the common case (an idle pool has
 * every server at 0), so the scan starts just after the previous winner: equal
 * servers then take turns instead of the first one absorbing every burst, as
 * nginx's least_conn does with its round-robin tie-break.
 */
import type { Balancer, Pickable, PickContext } from './types.js';

/** WeightedLeastInflight — lowest (inflight + longLived)/weight wins; ties rotate round-robin. */
export class WeightedLeastInflight<T extends Pickable> implements Balancer<T> {
  /** Position to start the next scan at: one past the previous winner. */
  #next = 0;

  pick(candidates: readonly T[], _ctx?: PickContext): T | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];

    // The list may have shrunk since the last pick; any start in range is fair.
    const start = this.#next < n ? this.#next : 0;
    let bestIndex = start;
    let best = candidates[start] as T;
    let bestLoad = best.inflight + best.longLived;
    for (let step = 1; step < n; step++) {
      let i = start + step;
      if (i >= n) i -= n;
      const c = candidates[i] as T;
      const load = c.inflight + c.longLived;
      // Strictly lower only: on a tie the earlier one in scan order keeps it.
      if (load * best.weight < bestLoad * c.weight) {
        best = c;
        bestLoad = load;
        bestIndex = i;
      }
    }
    this.#next = bestIndex + 1;
    return best;
  }
}
