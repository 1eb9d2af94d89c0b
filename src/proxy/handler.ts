/**
 * proxy/handler — the hot path's entry: read the routing snapshot once, answer
 * the fast paths (closing, maintenance, no pool, no server), else hand the
 * request to an Exchange on the chosen pool and server. A request never spans
 * two pools: retries pick from the same pool object read here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from '../routing/router.js';
import { countStatus, type PoolStats } from '../pools/stats.js';
import type { ProxyContext } from './context.js';
import { Exchange } from './forward.js';
import { sendLocal, sendMaintenance } from './status.js';

/** ProxyHandler — the request listener of one proxy listener (public or preview). */
export class ProxyHandler {
  readonly #router: Router;
  readonly #ctx: ProxyContext;
  readonly #unrouted: PoolStats;
  readonly #rate: { count: number };
  #closing = false;
  /** onRequest — bound once, passed to http.createServer. */
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;

  /** `rate.count` is bumped once per public request (the capacity warning's traffic rate). */
  constructor(router: Router, ctx: ProxyContext, unrouted: PoolStats, rate: { count: number }) {
    this.#router = router;
    this.#rate = rate;
    this.#ctx = ctx;
    this.#unrouted = unrouted;
    this.onRequest = (req, res) => this.#handle(req, res);
  }

  /** close — from now on answer 503 with Connection: close (shutdown). */
  close(): void {
    this.#closing = true;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const ctx = this.#ctx;
    if (this.#closing) {
      this.#local(sendLocal(res, 'SY_ERR_SHUTTING_DOWN', 1, true));
      return;
    }
    const snapshot = this.#router.current;
    let pool;
    if (ctx.kind === 'public') {
      this.#rate.count++;
      if (snapshot.maintenance) {
        this.#local(sendMaintenance(res, ctx.maintenancePage, ctx.retryAfterSeconds));
        return;
      }
      pool = snapshot.pickPool();
    } else {
      pool = snapshot.standby;
    }
    if (pool === undefined) {
      this.#local(sendLocal(res, 'SY_ERR_NO_POOL', ctx.retryAfterSeconds));
      return;
    }
    const exchange = new Exchange(ctx, req, res, pool);
    const server = pool.pick(exchange);
    if (server === undefined) {
      countStatus(pool.stats.localRequests, 503);
      sendLocal(res, 'SY_ERR_NO_SERVER', 1);
      return;
    }
    exchange.start(server);
  }

  #local(status: number): void {
    countStatus(this.#unrouted.localRequests, status);
  }
}
