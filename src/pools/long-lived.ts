/**
 * pools/long-lived — what a pool needs to know of a long-lived connection (an
 * upgraded WebSocket today, a raw TCP stream later) without importing the
 * proxy: a routing generation to decide whether a drain concerns it, and a
 * way to close it. Pools count these apart from in-flight requests, because a
 * WebSocket has no natural end: counting it as a request would keep a pool
 * "draining" forever and would let one chat client block `maxInflight`.
 */

/** CloseReason — why Switchyard itself closes a long-lived connection. */
export type CloseReason = 'drain' | 'max-age' | 'shutdown';

/** LongLivedConnection — an open connection a pool tracks until both of its sockets are closed. */
export interface LongLivedConnection {
  /** The routing generation the connection was routed with (a drain closes the ones older than the switch). */
  readonly generation: number;
  /** close — end both sides (FIN, queued bytes flushed first), destroy them CLOSE_GRACE_MS later at the latest. Idempotent. */
  close(reason: CloseReason): void;
}

/**
 * CLOSE_GRACE_MS — how long a graceful close waits for the peers to answer
 * our FIN before the sockets are destroyed. Drains and shutdown add it to their
 * deadlines so that "closed at the deadline" still counts as drained.
 */
export const CLOSE_GRACE_MS = 1000;
