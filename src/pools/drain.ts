/**
 * pools/drain — connection draining after a routing change. A pool that
 * leaves the live set drains in two phases: it is out of the pick set at once
 * (the snapshot swap did that); then its in-flight requests finish while its
 * servers close their keep-alive connections as each goes idle. `drained` is
 * published when the pool is idle (no request in flight, no long-lived
 * connection open), or with complete=false at the pool's drain deadline.
 *
 * In-flight HTTP requests are never cut at the deadline: it bounds how long a
 * caller waits, not the requests (shutdown has its own hard deadline).
 * Long-lived (upgraded) connections follow the pool's `onSwitch` policy:
 * `keep` leaves them open until they end by themselves (the drain is then
 * reported incomplete at the deadline and the pool stays `draining` until
 * they do); `drain` closes the ones routed before the switch at
 * `drainTimeoutMs` — the deadline is extended by CLOSE_GRACE_MS so that
 * connections closed on time count as drained.
 */
import type { EventBus } from '../events.js';
import type { Logger } from '../log.js';
import type { RoutingSnapshot } from '../routing/snapshot.js';
import { CLOSE_GRACE_MS } from './long-lived.js';
import type { ServerPool } from './pool.js';

/** DrainTracker — starts drains on routing changes and remembers when each began. */
export class DrainTracker {
  readonly #since = new Map<string, number>();
  /** Pending `onSwitch: drain` close timers, by pool. */
  readonly #closers = new Map<string, NodeJS.Timeout>();
  readonly #timeoutMs: number;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #pools: readonly ServerPool[];

  /** False in a multi-core worker: it acts on its own pools, while the primary watches the summed counts and reports. */
  readonly #observe: boolean;

  constructor(pools: readonly ServerPool[], bus: EventBus, log: Logger, timeoutMs: number, options: { observe?: boolean } = {}) {
    this.#observe = options.observe ?? true;
    this.#pools = pools;
    this.#bus = bus;
    this.#log = log;
    this.#timeoutMs = timeoutMs;
    bus.on('routing', (snap, prev, change) => this.#onRouting(snap, change.action === 'init' ? undefined : prev));
  }

  /** drainingSince — epoch ms when the pool left the live set, if it is still draining. */
  drainingSince(pool: string): number | undefined {
    return this.#since.get(pool);
  }

  /** timeoutMs — the global drain.timeoutMs (each pool's default drainTimeoutMs). */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** timeoutFor — how long a drain of `pool` may take before it is reported incomplete. */
  timeoutFor(pool: ServerPool): number {
    const c = pool.config;
    return c.onSwitch === 'drain' ? c.drainTimeoutMs + CLOSE_GRACE_MS : c.drainTimeoutMs;
  }

  /** close — cancel pending drain-policy closes (shutdown closes every long-lived connection itself). */
  close(): void {
    for (const timer of this.#closers.values()) clearTimeout(timer);
    this.#closers.clear();
  }

  #onRouting(snap: RoutingSnapshot, prev: RoutingSnapshot | undefined): void {
    if (prev === undefined) {
      // At start-up (and when a worker adopts its first state) every non-live pool is drained already;
      // it still closes the idle connections preview opens.
      for (const p of this.#pools) p.setReleaseWhenIdle(!snap.isLive(p.name));
      return;
    }
    for (const p of this.#pools) {
      const wasLive = prev.isLive(p.name);
      const isLive = snap.isLive(p.name);
      if (isLive) {
        p.setReleaseWhenIdle(false);
        this.#since.delete(p.name);
        this.#cancelClose(p.name);
      } else if (wasLive) {
        this.#start(p, snap.generation);
      }
    }
  }

  #start(pool: ServerPool, generation: number): void {
    const started = Date.now();
    pool.setReleaseWhenIdle(true);
    if (this.#observe) {
      this.#since.set(pool.name, started);
      this.#log.info({ pool: pool.name, inflight: pool.inflight, longLived: pool.longLived, onSwitch: pool.config.onSwitch }, 'pool draining');
    }
    if (pool.config.onSwitch === 'drain') {
      this.#cancelClose(pool.name);
      const timer = setTimeout(() => {
        this.#closers.delete(pool.name);
        // Only connections routed before this switch: preview upgrades opened since then are not part of this drain.
        const closed = pool.closeLongLived('drain', generation);
        if (closed > 0) this.#log.info({ pool: pool.name, closed }, 'drain deadline: closing long-lived connections');
      }, pool.config.drainTimeoutMs);
      timer.unref();
      this.#closers.set(pool.name, timer);
    }
    if (!this.#observe) return;
    void pool.waitIdle(this.timeoutFor(pool)).then((complete) => {
      // A newer drain of the same pool (or a return to live) supersedes this one.
      if (this.#since.get(pool.name) !== started) return;
      this.#since.delete(pool.name);
      const ms = Date.now() - started;
      if (complete) this.#log.info({ pool: pool.name, ms }, 'pool drained');
      else if (pool.inflight === 0 && pool.config.onSwitch === 'keep') {
        // The policy asked for it: upgraded connections outlive the drain deadline until they end.
        this.#log.info({ pool: pool.name, ms, longLived: pool.longLived }, 'pool drain deadline passed; long-lived connections stay open (onSwitch: keep)');
      } else this.#log.warn({ pool: pool.name, ms, inflight: pool.inflight, longLived: pool.longLived }, 'pool drain timed out; requests or long-lived connections still open');
      this.#bus.emit('drained', pool.name, ms, complete);
    });
  }

  #cancelClose(pool: string): void {
    const timer = this.#closers.get(pool);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#closers.delete(pool);
  }
}
