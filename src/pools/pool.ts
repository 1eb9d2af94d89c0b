/**
 * pools/pool — a named group of servers: the candidate list its balancer picks
 * from, its in-flight count (the draining signal), and idle waiters.
 *
 * The candidate list is rebuilt only when a server's availability flips, so a
 * pick is one balancer call over a cached array. `begin`/`end` bracket every
 * request so draining counts stay exact.
 */
import { createBalancer } from '../balancers/index.js';
import type { Balancer, PickContext } from '../balancers/types.js';
import type { PoolConfig, ProxyConfig } from '../config/types.js';
import { UpstreamServer, type ServerListener } from './server.js';
import { NOOP_POOL_STATS, type PoolStats } from './stats.js';

/** PoolObserver — told about health/ejection flips of this pool's servers (events, logs). */
export interface PoolObserver {
  health(server: UpstreamServer, healthy: boolean, reason: string): void;
  ejection(server: UpstreamServer, ejected: boolean, reason: string): void;
}

/** ServerPool — a pool of upstream servers with its balancer. */
export class ServerPool implements ServerListener {
  readonly name: string;
  readonly config: PoolConfig;
  readonly servers: readonly UpstreamServer[];
  readonly #byId: ReadonlyMap<string, UpstreamServer>;
  /** Requests in flight on this pool. */
  inflight = 0;
  stats: PoolStats = NOOP_POOL_STATS;
  /** When true, servers close their keep-alive connections once they have no request in flight. */
  #releaseWhenIdle = false;
  #candidates: readonly UpstreamServer[] = [];
  #balancer: Balancer<UpstreamServer>;
  #idleWaiters: (() => void)[] = [];
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
    if (this.inflight === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
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

  /** waitIdle — resolves true when nothing is in flight, false at the deadline. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.#idleWaiters.indexOf(done);
        if (i >= 0) this.#idleWaiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#idleWaiters.push(done);
    });
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
