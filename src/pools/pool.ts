/**
 * pools/pool — a named group of servers: the candidate list its balancer picks
 * from, its in-flight count and its long-lived connections (together the
 * draining signal), and idle waiters.
 *
 * The candidate list is rebuilt only when a server's availability flips, so a
 * pick is one balancer call over a cached array. `begin`/`end` bracket every
 * request, `attachLongLived`/`detachLongLived` every upgraded connection, so
 * draining counts stay exact.
 */
import { createBalancer } from '../balancers/index.js';
import type { Balancer, PickContext } from '../balancers/types.js';
import type { PoolConfig, ProxyConfig } from '../config/types.js';
import type { CloseReason, LongLivedConnection } from './long-lived.js';
import { UpstreamServer, type ServerListener } from './server.js';
import { newPoolStats, type PoolStats } from './stats.js';

/** PoolObserver — told about health/ejection flips of this pool's servers (events, logs). */
export interface PoolObserver {
  health(server: UpstreamServer, healthy: boolean, reason: string): void;
  ejection(server: UpstreamServer, ejected: boolean, reason: string): void;
}

/** IdleScope — what waitIdle waits for: everything, or in-flight requests only (shutdown's first phase). */
export type IdleScope = 'all' | 'requests';

interface IdleWaiter {
  readonly requestsOnly: boolean;
  readonly done: () => void;
}

/** ServerPool — a pool of upstream servers with its balancer. */
export class ServerPool implements ServerListener {
  readonly name: string;
  readonly config: PoolConfig;
  readonly servers: readonly UpstreamServer[];
  readonly #byId: ReadonlyMap<string, UpstreamServer>;
  /** Requests in flight on this pool. */
  inflight = 0;
  /** Long-lived (upgraded) connections open on this pool, counted apart from `inflight`. */
  longLived = 0;
  /**
   * Bytes carried by upgraded connections: in = client → server, out = server
   * → client. Plain numbers added per chunk (a prom-client inc hashes its
   * labels on every call) and exported at scrape time.
   */
  upgradedBytesIn = 0;
  upgradedBytesOut = 0;
  stats: PoolStats = newPoolStats();
  /** When true, servers close their keep-alive connections once they have no request in flight. */
  #releaseWhenIdle = false;
  #candidates: readonly UpstreamServer[] = [];
  #balancer: Balancer<UpstreamServer>;
  #idleWaiters: IdleWaiter[] = [];
  readonly #longLived = new Set<LongLivedConnection>();
  #observer: PoolObserver | undefined;
  #weightsKey = '';

  constructor(config: PoolConfig, proxy: ProxyConfig) {
    this.name = config.name;
    this.config = config;
    this.servers = Object.freeze(config.servers.map((s) => new UpstreamServer(config.name, s, proxy)));
    this.#byId = new Map(this.servers.map((s) => [s.id, s]));
    this.#balancer = createBalancer(config.balance, this.servers, config.hashKey);
    for (const s of this.servers) s.listen(this);
    this.#rebuildCandidates();
  }

  /** observe — attach the observer of health/ejection flips. */
  observe(observer: PoolObserver): void {
    this.#observer = observer;
  }

  server(id: string): UpstreamServer | undefined {
    return this.#byId.get(id);
  }

  /** candidates — the servers available for new requests right now. */
  get candidates(): readonly UpstreamServer[] {
    return this.#candidates;
  }

  /** healthyCount — servers that could take traffic (the switch precondition). */
  get usableCount(): number {
    return this.#candidates.length;
  }

  /** pick — the balancer's choice among available servers, or undefined. */
  pick(ctx: PickContext): UpstreamServer | undefined {
    const s = this.#balancer.pick(this.#candidates, ctx);
    if (s === undefined || s.inflight < s.maxInflight) return s;
    return this.pickExcluding(undefined);
  }

  /**
   * pickExcluding — a retry's choice: the least-loaded available server not yet
   * tried. It deliberately bypasses the balancer so a retry does not disturb
   * the balancer's sequence (retries are rare; this is the cold path).
   */
  pickExcluding(tried: readonly UpstreamServer[] | undefined): UpstreamServer | undefined {
    let best: UpstreamServer | undefined;
    for (const s of this.#candidates) {
      if (tried !== undefined && tried.includes(s)) continue;
      if (s.inflight >= s.maxInflight) continue;
      if (best === undefined || s.inflight * best.weight < best.inflight * s.weight) best = s;
    }
    return best;
  }

  /** idle — nothing in flight and no long-lived connection open (the pool's servers can be stopped). */
  get idle(): boolean {
    return this.inflight === 0 && this.longLived === 0;
  }

  /** begin — count a request in flight on `server`. */
  begin(server: UpstreamServer): void {
    server.inflight++;
    this.inflight++;
  }

  /** end — the request on `server` finished (any outcome). */
  end(server: UpstreamServer): void {
    server.inflight--;
    this.inflight--;
    if (server.inflight === 0 && (this.#releaseWhenIdle || !server.usable) && server.hasDispatcher) {
      void server.releaseConnections();
    }
    if (this.inflight === 0 && this.#idleWaiters.length > 0) this.#notifyIdle();
  }

  /**
   * attachLongLived — `conn` (an upgrade that got its 101) is open on
   * `server`. Callers attach before they `end()` the handshake's request, so
   * the pool never looks idle in between.
   */
  attachLongLived(server: UpstreamServer, conn: LongLivedConnection): void {
    if (this.#longLived.has(conn)) return;
    this.#longLived.add(conn);
    server.longLived++;
    this.longLived++;
  }

  /** detachLongLived — both sockets of `conn` are closed. Idempotent. */
  detachLongLived(server: UpstreamServer, conn: LongLivedConnection): void {
    if (!this.#longLived.delete(conn)) return;
    server.longLived--;
    this.longLived--;
    if (this.longLived === 0 && this.inflight === 0 && this.#idleWaiters.length > 0) this.#notifyIdle();
  }

  /**
   * closeLongLived — close (gracefully) every long-lived connection routed
   * with a generation older than `beforeGeneration` (all by default); returns
   * how many were asked to close. They leave the count once their sockets are
   * closed, within CLOSE_GRACE_MS.
   */
  closeLongLived(reason: CloseReason, beforeGeneration = Number.POSITIVE_INFINITY): number {
    let n = 0;
    // A copy: a close may detach synchronously when a socket is already gone.
    for (const conn of [...this.#longLived]) {
      if (conn.generation < beforeGeneration) {
        conn.close(reason);
        n++;
      }
    }
    return n;
  }

  /**
   * setLoad — multi-core primary: the pool's counts are the sums the workers
   * reported (the primary proxies nothing itself). Idle waiters (drains,
   * `"wait":"drained"`) are told exactly as when the last local request ends.
   */
  setLoad(inflight: number, longLived: number): void {
    this.inflight = inflight;
    this.longLived = longLived;
    if (inflight === 0 && this.#idleWaiters.length > 0) this.#notifyIdle();
  }

  /**
   * setDraining — the pool left (or re-entered) the live set. While out of it,
   * each server closes its upstream connections as soon as it has nothing in
   * flight, so the operator can take the servers down.
   */
  setReleaseWhenIdle(release: boolean): void {
    this.#releaseWhenIdle = release;
    if (release) {
      for (const s of this.servers) if (s.inflight === 0 && s.hasDispatcher) void s.releaseConnections();
    }
  }

  /**
   * waitIdle — resolves true once the pool is idle (no request in flight and,
   * for scope 'all', no long-lived connection open), false at the deadline.
   */
  waitIdle(timeoutMs: number, scope: IdleScope = 'all'): Promise<boolean> {
    const requestsOnly = scope === 'requests';
    if (this.inflight === 0 && (requestsOnly || this.longLived === 0)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.#idleWaiters.indexOf(waiter);
        if (i >= 0) this.#idleWaiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      const waiter: IdleWaiter = {
        requestsOnly,
        done: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.#idleWaiters.push(waiter);
    });
  }

  /** #notifyIdle — resolve the waiters whose condition holds now (called with inflight === 0). */
  #notifyIdle(): void {
    const all = this.longLived === 0;
    const ready = all ? this.#idleWaiters : this.#idleWaiters.filter((w) => w.requestsOnly);
    if (ready.length === 0) return;
    this.#idleWaiters = all ? [] : this.#idleWaiters.filter((w) => !w.requestsOnly);
    for (const w of ready) w.done();
  }

  // ServerListener
  availabilityChanged(server: UpstreamServer): void {
    this.#rebuildCandidates();
    if (!server.usable && server.inflight === 0 && server.hasDispatcher) void server.releaseConnections();
  }

  healthChanged(server: UpstreamServer, healthy: boolean, reason: string): void {
    this.#observer?.health(server, healthy, reason);
  }

  ejectionChanged(server: UpstreamServer, ejected: boolean, reason: string): void {
    this.#observer?.ejection(server, ejected, reason);
  }

  /** close — drop every connection and timer (shutdown). */
  async close(destroy: boolean): Promise<void> {
    for (const s of this.servers) s.passive?.close();
    await Promise.all(this.servers.map((s) => (destroy ? s.destroyConnections() : s.releaseConnections())));
  }

  #rebuildCandidates(): void {
    // The hash ring is built from weights; rebuild it when an admin weight change altered them.
    const weights = this.servers.map((s) => s.weight).join(',');
    if (weights !== this.#weightsKey) {
      if (this.#weightsKey !== '') this.#balancer = createBalancer(this.config.balance, this.servers, this.config.hashKey);
      this.#weightsKey = weights;
    }
    // A new array object tells the balancer to reset its per-list state.
    this.#candidates = Object.freeze(this.servers.filter((s) => s.usable));
  }
}
