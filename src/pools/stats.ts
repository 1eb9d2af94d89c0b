/**
 * pools/stats — the per-server and per-pool counters the hot path touches.
 *
 * Request counts and the duration histogram are plain numbers in typed
 * arrays: a request costs an array increment, not a prom-client call (which
 * hashes its label set on every inc/observe). metrics/metrics.ts reads them
 * at scrape time. Rare events (retries, aborts, upstream errors) keep
 * prom-client children, resolved once.
 */

/** Incrementable — a counter child. */
export interface Incrementable {
  inc(value?: number): void;
}

/** Observable — a histogram. */
export interface Observable {
  observe(value: number): void;
}

/** STATUS_CLASSES — label values, indexed by Math.floor(status / 100) - 1. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** DURATION_BUCKETS — upper bounds (seconds) of switchyard_request_duration_seconds. */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);

/** HotHistogram — cumulative-at-scrape histogram cells: counts per bucket (+Inf last), sum, count. */
export class HotHistogram implements Observable {
  readonly bounds: readonly number[];
  /** counts[i] = observations with bounds[i-1] < v <= bounds[i]; the last cell is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[] = DURATION_BUCKETS) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i] = this.counts[i]! + 1;
    this.sum += value;
    this.count++;
  }
}

/** ServerStats — one server's request counts by status class, and its upstream errors. */
export interface ServerStats {
  /** Index with statusClassIndex(status). */
  readonly requests: Float64Array;
  upstreamError(kind: string): void;
}

/** PoolStats — one pool's locally answered requests, durations, retries and client aborts. */
export interface PoolStats {
  /** Answers with no server picked: index with statusClassIndex. */
  readonly localRequests: Float64Array;
  readonly duration: HotHistogram;
  readonly retries: Incrementable;
  readonly clientAborts: Incrementable;
}

/** statusClassIndex — 0 for 1xx … 4 for 5xx (anything else counts as 5xx). */
export function statusClassIndex(status: number): number {
  const i = ((status / 100) | 0) - 1;
  return i >= 0 && i <= 4 ? i : 4;
}

/** countStatus — bump the cell for `status` (the one write per answered request). */
export function countStatus(cells: Float64Array, status: number): void {
  const i = statusClassIndex(status);
  cells[i] = cells[i]! + 1;
}

const noop: Incrementable = { inc() {} };

/** newServerStats — counters not attached to any registry (unit tests, tools). */
export function newServerStats(): ServerStats {
  return { requests: new Float64Array(STATUS_CLASSES.length), upstreamError() {} };
}

/** newPoolStats — counters not attached to any registry (unit tests, tools). */
export function newPoolStats(): PoolStats {
  return { localRequests: new Float64Array(STATUS_CLASSES.length), duration: new HotHistogram(), retries: noop, clientAborts: noop };
}
