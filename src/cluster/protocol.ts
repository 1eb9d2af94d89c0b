/**
 * cluster/protocol — the messages between a multi-core primary and its proxy
 * workers (node:cluster IPC, 'advanced' serialization). Pools and servers are
 * named by position in the pool table (app.ts AppParts.poolTable), which
 * every process builds from the same config in the same order, so no message
 * carries names that could be ambiguous (a TCP pool is named like its main
 * pool).
 */
import type { CertReloadResult } from '../admin/context.js';
import type { ProxyAddresses } from '../app.js';
import type { SwitchyardConfig } from '../config/types.js';
import type { RoutingChange } from '../events.js';
import type { RegistryJson } from '../metrics/metrics.js';
import type { RoutingState } from '../routing/snapshot.js';

/** MESSAGE_PREFIX — every Switchyard message type starts with it (prom-client and others use the same channel). */
export const MESSAGE_PREFIX = 'sy:';

/**
 * LoadReport — a worker's draining counts, flat: for every pool of the pool
 * table [inflight, longLived], then for each of its servers [inflight,
 * longLived]; `tcpBytes` holds [bytesIn, bytesOut] per TCP pool; `rps` the
 * worker's recent public requests per second.
 */
export interface LoadReport {
  readonly counts: readonly number[];
  readonly tcpBytes: readonly number[];
  readonly rps: number;
}

/** ToWorker — primary → worker. */
export type ToWorker =
  /** The config and the state to route by, sent once before the worker builds anything. */
  | { readonly t: 'sy:init'; readonly config: SwitchyardConfig; readonly seq: number; readonly state: RoutingState; readonly healthy: readonly boolean[] }
  /** A routing change; the worker answers `sy:ack` with the same seq once the snapshot is swapped. */
  | { readonly t: 'sy:routing'; readonly seq: number; readonly state: RoutingState; readonly change: RoutingChange }
  /** Every server's active-check verdict, flat in pool-table order (sent on each flip). */
  | { readonly t: 'sy:health'; readonly healthy: readonly boolean[]; readonly reason: string }
  | { readonly t: 'sy:metrics'; readonly id: number }
  | { readonly t: 'sy:reload-certs'; readonly id: number }
  /** Stop gracefully (refuse new requests, finish in-flight ones) and exit. */
  | { readonly t: 'sy:stop' };

/** FromWorker — worker → primary. */
export type FromWorker =
  /** The worker process runs and waits for `sy:init`. */
  | { readonly t: 'sy:hello' }
  | { readonly t: 'sy:listening'; readonly addresses: ProxyAddresses; readonly load: LoadReport }
  /** Could not start (e.g. cannot listen); the worker exits after sending it. */
  | { readonly t: 'sy:failed'; readonly message: string }
  | { readonly t: 'sy:ack'; readonly seq: number; readonly load: LoadReport }
  | { readonly t: 'sy:load'; readonly load: LoadReport }
  /** Every server's passive-ejection state in this worker, flat in pool-table order (sent on each flip). */
  | { readonly t: 'sy:ejected'; readonly ejected: readonly boolean[]; readonly reason: string }
  | { readonly t: 'sy:metrics'; readonly id: number; readonly metrics: RegistryJson }
  | { readonly t: 'sy:reload-certs'; readonly id: number; readonly result?: CertReloadResult; readonly error?: string };

/** isMessage — a Switchyard message (as opposed to prom-client's or node's own). */
export function isMessage<T extends { readonly t: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string' && (value as { t: string }).t.startsWith(MESSAGE_PREFIX);
}
