/**
 * state/types — what survives a restart: the routing state the admin API
 * changed, and the switch history. The config's values are the fallback when
 * no (readable) state exists.
 */

export type ServerAdminState = 'ready' | 'drain' | 'maint';

/** ServerOverride — an admin change to one server, persisted. */
export interface ServerOverride {
  readonly state?: ServerAdminState;
  readonly weight?: number;
}

/** HistoryEntry — one routing change, for GET /api/v1/history. */
export interface HistoryEntry {
  /** ISO-8601 time of the change. */
  readonly at: string;
  readonly action: 'switch' | 'rollback' | 'weights';
  readonly from: string | null;
  readonly to: string;
  readonly generation: number;
  /** Who asked: the admin client's address and user agent, or "cli". */
  readonly who: string;
}

/** PersistedState — the state file's content (format version 1). */
export interface PersistedState {
  readonly version: 1;
  readonly generation: number;
  readonly live: string;
  readonly previous: string | null;
  readonly weights: Readonly<Record<string, number>>;
  readonly maintenance: boolean;
  /** pool name → server id → override */
  readonly servers: Readonly<Record<string, Readonly<Record<string, ServerOverride>>>>;
  readonly history: readonly HistoryEntry[];
}

/** LoadResult — a store never throws on load: a missing file is `{}`, a bad one names the problem. */
export interface LoadResult {
  readonly state?: PersistedState;
  /** Set when a file existed but could not be read or parsed; the caller logs it and uses the config. */
  readonly problem?: string;
}

/** StateStore — where PersistedState lives (a file today, etcd later). */
export interface StateStore {
  load(): Promise<LoadResult>;
  /** Resolves only once the state is durable (written, fsynced, renamed); rejects on failure. */
  save(state: PersistedState): Promise<void>;
  close(): Promise<void>;
}
