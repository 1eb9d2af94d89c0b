/**
 * balancers/types — the contract every balancer meets.
 *
 * A balancer is a small picker over a readonly candidate list. The pool hands it
 * only servers that are available right now (one availability predicate, in
 * pools/server.ts) and passes the *same array object* until availability or a
 * weight changes, so a balancer may cache per-list state keyed by the array's
 * identity and reset it when a new array arrives. Balancers never touch health
 * and never throw: `undefined` means "nothing to pick".
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Pickable — what a balancer may read of a server. */
export interface Pickable {
  readonly id: string;
  /** Effective weight, > 0 for every candidate. */
  readonly weight: number;
  /** Requests in flight on this server right now (for a TCP pool: connections still connecting). */
  readonly inflight: number;
  /** Long-lived connections open on this server (WebSocket tunnels, established raw TCP connections). */
  readonly longLived: number;
}

/** PickContext — what a balancer may read of the request (only the hash balancer does). */
export interface PickContext {
  readonly remoteAddress: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/** Balancer — picks one candidate, or undefined when the list is empty. */
export interface Balancer<T extends Pickable> {
  pick(candidates: readonly T[], ctx: PickContext): T | undefined;
}
