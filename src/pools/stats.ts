/**
 * pools/stats — the per-server and per-pool metric handles the hot path
 * touches. They are resolved once (labelled prom-client children) when the
 * server is built, so a request never looks a label set up.
 */

/** Incrementable — a counter child. */
export interface Incrementable {
  inc(value?: number): void;
}

/** Observable — a histogram child. */
export interface Observable {
  observe(value: number): void;
}

/** STATUS_CLASSES — label values, indexed by Math.floor(status / 100) - 1. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** ServerStats — handles for one server: requests by status class, upstream errors by kind. */
export interface ServerStats {
  /** Index with statusClassIndex(status). */
  readonly requests: readonly Incrementable[];
  upstreamError(kind: string): void;
}

/** PoolStats — handles for one pool. */
export interface PoolStats {
  /** Locally generated answers (no server picked): index with statusClassIndex. */
  readonly localRequests: readonly Incrementable[];
  readonly duration: Observable;
  readonly retries: Incrementable;
  readonly clientAborts: Incrementable;
}

/** statusClassIndex — 0 for 1xx … 4 for 5xx (anything else counts as 5xx). */
export function statusClassIndex(status: number): number {
  const i = ((status / 100) | 0) - 1;
  return i >= 0 && i <= 4 ? i : 4;
}

const noop: Incrementable & Observable = { inc() {}, observe() {} };
const noopList: readonly Incrementable[] = [noop, noop, noop, noop, noop];

/** NOOP_SERVER_STATS — for servers built without metrics (unit tests, tools). */
export const NOOP_SERVER_STATS: ServerStats = { requests: noopList, upstreamError() {} };
/** NOOP_POOL_STATS — for pools built without metrics. */
export const NOOP_POOL_STATS: PoolStats = { localRequests: noopList, duration: noop, retries: noop, clientAborts: noop };
