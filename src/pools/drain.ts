/**
 * pools/drain — connection draining after a routing change. A pool that
 * leaves the live set drains in two phases: it is out of the pick set at once
 * (the snapshot swap did that); then its in-flight requests finish while its
 * servers close their keep-alive connections as each goes idle. `drained` is
 * published when the pool's in-flight count reaches zero, or with
 * complete=false at drain.timeoutMs. In-flight HTTP requests are never cut at
 * the deadline: the deadline bounds how long a caller waits, not the requests
 * (shutdown has its own hard deadline).
 */
import type { EventBus } from '../events.js';
import type { Logger } from '../log.js';
import type { RoutingSnapshot } from '../routing/snapshot.js';
import type { ServerPool } from './pool.js';

/** DrainTracker — starts drains on routing changes and remembers when each began. */
export class DrainTracker {
  readonly #since = new Map<string, number>();
  readonly #timeoutMs: number;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #pools: readonly ServerPool[];

  constructor(pools: readonly ServerPool[], bus: EventBus, log: Logger, timeoutMs: number) {
    this.#pools = pools;
    this.#bus = bus;
    this.#log = log;
    this.#timeoutMs = timeoutMs;
    bus.on('routing', (snap, prev) => this.#onRouting(snap, prev));
  }

  /** drainingSince — epoch ms when the pool left the live set, if it is still draining. */
  drainingSince(pool: string): number | undefined {
    return this.#since.get(pool);
  }

  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  #onRouting(snap: RoutingSnapshot, prev: RoutingSnapshot | undefined): void {
    if (prev === undefined) {
      // At start-up every non-live pool is drained already; it still closes the idle connections preview opens.
      for (const p of this.#pools) p.setReleaseWhenIdle(!snap.isLive(p.name));
      return;
    }
    for (const p of this.#pools) {
      const wasLive = prev.isLive(p.name);
      const isLive = snap.isLive(p.name);
      if (isLive) {
        p.setReleaseWhenIdle(false);
        this.#since.delete(p.name);
      } else if (wasLive) {
        this.#start(p);
      }
    }
  }

  #start(pool: ServerPool): void {
    const started = Date.now();
    this.#since.set(pool.name, started);
    pool.setReleaseWhenIdle(true);
    this.#log.info({ pool: pool.name, inflight: pool.inflight }, 'pool draining');
    void pool.waitIdle(this.#timeoutMs).then((complete) => {
      // A newer drain of the same pool (or a return to live) supersedes this one.
      if (this.#since.get(pool.name) !== started) return;
      this.#since.delete(pool.name);
      const ms = Date.now() - started;
      if (complete) this.#log.info({ pool: pool.name, ms }, 'pool drained');
      else this.#log.warn({ pool: pool.name, ms, inflight: pool.inflight }, 'pool drain timed out; requests still in flight');
      this.#bus.emit('drained', pool.name, ms, complete);
    });
  }
}
