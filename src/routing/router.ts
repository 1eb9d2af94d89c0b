/**
 * routing/router — the one place that changes routing. Every admin change is:
 * check → build the next frozen state → persist it → swap one reference →
 * publish. Changes run one at a time through a queue, so the check, the write
 * and the swap of one change can never interleave with another's; the await
 * on the state file sits between check and swap only inside that queue, which
 * is what lets a refused or failed write leave everything unchanged.
 */
import { SwitchyardError } from '../errors.js';
import type { EventBus, RoutingChange } from '../events.js';
import type { Logger } from '../log.js';
import type { ServerPool } from '../pools/pool.js';
import type { UpstreamServer } from '../pools/server.js';
import type { HistoryEntry, PersistedState, ServerAdminState, ServerOverride, StateStore } from '../state/types.js';
import { RoutingSnapshot, type RoutingState } from './snapshot.js';

/** MAX_HISTORY — history entries kept (older ones are dropped). */
export const MAX_HISTORY = 1000;
/** LIVE_WEIGHT — the weight a switch gives the target pool. */
export const LIVE_WEIGHT = 100;

/** ChangeOptions — common options of every routing change. */
export interface ChangeOptions {
  /** The generation the caller saw (If-Match); a mismatch is refused with 412. */
  readonly expectGeneration?: number | undefined;
  /** Who asked, for the history and the audit log. */
  readonly who: string;
}

/** SwitchOptions — options of switch and rollback. */
export interface SwitchOptions extends ChangeOptions {
  /** Switch even when the target has no usable server. */
  readonly force?: boolean | undefined;
}

/** ChangeResult — what a change did. */
export interface ChangeResult {
  readonly from: string;
  readonly to: string;
  readonly generation: number;
  /** False when the request asked for the state already in force (nothing written). */
  readonly changed: boolean;
  readonly warnings: readonly string[];
}

interface Built {
  readonly state: Omit<RoutingState, 'generation'>;
  readonly history?: Pick<HistoryEntry, 'action' | 'from' | 'to'>;
  readonly change: Omit<RoutingChange, 'who'>;
  /** Published as `warning` events only once the change is in force (a failed save publishes nothing). */
  readonly warnings?: readonly Warning[];
}

interface Warning {
  readonly code: string;
  readonly message: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** RouterOptions — what the router needs. */
export interface RouterOptions {
  readonly pools: readonly ServerPool[];
  readonly initialLive: string;
  readonly initialMaintenance: boolean;
  readonly store: StateStore | undefined;
  readonly bus: EventBus;
  readonly log: Logger;
  /** Recent public requests per second, for the capacityRps warning (default: unknown → no rate check). */
  readonly requestRate?: () => number;
  /**
   * propagate — multi-core mode: hand the new state to every proxy worker and
   * resolve once each has applied it. Runs inside the change queue, after the
   * local swap, so a change answers only when the whole data plane routes by
   * it, and the next change cannot overtake it. Must not reject.
   */
  readonly propagate?: (state: RoutingState, change: RoutingChange) => Promise<void>;
}

/** Router — owns the current RoutingSnapshot and every change to it. */
export class Router {
  readonly pools: readonly ServerPool[];
  readonly #byName: ReadonlyMap<string, ServerPool>;
  readonly #store: StateStore | undefined;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #requestRate: (() => number) | undefined;
  readonly #propagate: ((state: RoutingState, change: RoutingChange) => Promise<void>) | undefined;
  #current: RoutingSnapshot;
  #history: readonly HistoryEntry[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: RouterOptions) {
    this.pools = options.pools;
    this.#byName = new Map(options.pools.map((p) => [p.name, p]));
    this.#store = options.store;
    this.#bus = options.bus;
    this.#log = options.log;
    this.#requestRate = options.requestRate;
    this.#propagate = options.propagate;
    const weights: Record<string, number> = {};
    for (const p of options.pools) weights[p.name] = p.name === options.initialLive ? LIVE_WEIGHT : 0;
    this.#current = new RoutingSnapshot(
      { generation: 1, live: options.initialLive, previous: null, weights, maintenance: options.initialMaintenance, servers: {} },
      options.pools,
    );
  }

  /** current — the snapshot in force. The hot path reads this once per request. */
  get current(): RoutingSnapshot {
    return this.#current;
  }

  get history(): readonly HistoryEntry[] {
    return this.#history;
  }

  pool(name: string): ServerPool | undefined {
    return this.#byName.get(name);
  }

  /**
   * restore — adopt the persisted state if it fits the config. A state file
   * naming pools or servers the config no longer has is partly ignored (unknown
   * entries dropped, logged); an unusable one is ignored entirely. Never throws.
   */
  async restore(): Promise<{ restored: boolean; problem?: string }> {
    if (this.#store === undefined) return this.#install(this.#current.state, 'init', { restored: false });
    const loaded = await this.#store.load();
    if (loaded.problem !== undefined) {
      this.#log.error({ problem: loaded.problem }, 'state file unusable; starting from the config values');
      return { ...this.#install(this.#current.state, 'init', { restored: false }), problem: loaded.problem };
    }
    const persisted = loaded.state;
    if (persisted === undefined) return this.#install(this.#current.state, 'init', { restored: false });
    const fitted = this.#fit(persisted);
    if (typeof fitted === 'string') {
      this.#log.error({ problem: fitted }, 'state file does not match the config; starting from the config values');
      return { ...this.#install(this.#current.state, 'init', { restored: false }), problem: fitted };
    }
    this.#history = persisted.history.slice(-MAX_HISTORY);
    return this.#install(fitted, 'init', { restored: true });
  }

  /** switchTo — make `to` the only live pool. */
  switchTo(to: string, options: SwitchOptions): Promise<ChangeResult> {
    return this.#change(options, (cur) => {
      const target = this.#requirePool(to);
      const exclusive = Object.entries(cur.weights).every(([name, w]) => (name === to ? w > 0 : w === 0));
      if (exclusive) return undefined;
      if (!options.force) this.#requireUsable(target);
      return {
        state: { ...cur, live: to, previous: cur.live === to ? cur.previous : cur.live, weights: this.#exclusive(to) },
        history: { action: 'switch', from: cur.live, to },
        change: { action: 'switch', detail: { from: cur.live, to, force: options.force === true } },
        warnings: this.#capacityWarnings(target, cur),
      };
    });
  }

  /** rollback — switch back to the previous live pool. */
  rollback(options: SwitchOptions): Promise<ChangeResult> {
    return this.#change(options, (cur) => {
      if (cur.previous === null || !this.#byName.has(cur.previous)) {
        throw new SwitchyardError('SY_ERR_NO_PREVIOUS', 'there is no previous live pool to roll back to');
      }
      const target = this.#requirePool(cur.previous);
      if (!options.force) this.#requireUsable(target);
      return {
        state: { ...cur, live: cur.previous, previous: cur.live, weights: this.#exclusive(cur.previous) },
        history: { action: 'rollback', from: cur.live, to: cur.previous },
        change: { action: 'rollback', detail: { from: cur.live, to: cur.previous } },
        warnings: this.#capacityWarnings(target, cur),
      };
    });
  }

  /** setWeights — several pools live at once; pools not named keep their weight. */
  setWeights(weights: Readonly<Record<string, number>>, options: SwitchOptions): Promise<ChangeResult> {
    return this.#change(options, (cur) => {
      const next: Record<string, number> = { ...cur.weights };
      for (const [name, w] of Object.entries(weights)) {
        const pool = this.#requirePool(name);
        if (!options.force && w > 0 && (cur.weights[name] ?? 0) === 0) this.#requireUsable(pool);
        next[name] = w;
      }
      if (Object.values(next).every((w) => w === 0)) {
        throw new SwitchyardError('SY_ERR_BAD_REQUEST', 'at least one pool must keep a weight > 0 (use maintenance mode to stop all traffic)');
      }
      if (Object.entries(next).every(([n, w]) => cur.weights[n] === w)) return undefined;
      const live = this.#heaviest(next, cur.live);
      return {
        state: { ...cur, weights: next, live, previous: live === cur.live ? cur.previous : cur.live },
        history: { action: 'weights', from: cur.live, to: live },
        change: { action: 'weights', detail: { weights: next } },
      };
    });
  }

  /** setMaintenance — every public request gets the maintenance page while on. */
  setMaintenance(enabled: boolean, options: ChangeOptions): Promise<ChangeResult> {
    return this.#change(options, (cur) => {
      if (cur.maintenance === enabled) return undefined;
      return { state: { ...cur, maintenance: enabled }, change: { action: 'maintenance', detail: { enabled } } };
    });
  }

  /** setServerState — ready | drain | maint for one server. */
  setServerState(poolName: string, id: string, state: ServerAdminState, options: ChangeOptions): Promise<ChangeResult> {
    return this.#change(options, (cur) => {
      const server = this.#requireServer(poolName, id);
      if (server.adminState === state) return undefined;
      return {
        state: { ...cur, servers: withOverride(cur.servers, poolName, id, { state }) },
        change: { action: 'server-state', detail: { pool: poolName, server: id, state } },
      };
    });
  }

  /** setServerWeight — change one server's weight (0 = no new traffic). */
  setServerWeight(poolName: string, id: string, weight: number, options: ChangeOptions): Promise<ChangeResult> {
    return this.#change(options, (cur) => {
      const server = this.#requireServer(poolName, id);
      if (server.weight === weight) return undefined;
      return {
        state: { ...cur, servers: withOverride(cur.servers, poolName, id, { weight }) },
        change: { action: 'server-weight', detail: { pool: poolName, server: id, weight } },
      };
    });
  }

  /**
   * adopt — a proxy worker installs the state its primary decided (multi-core
   * mode). No check, no persistence: the primary did both before sending it.
   */
  adopt(state: RoutingState, change: RoutingChange): void {
    this.#swap(state, change);
  }

  /** flush — wait for every queued change (shutdown). */
  async flush(): Promise<void> {
    await this.#queue.catch(() => undefined);
  }

  #change(options: ChangeOptions, build: (cur: RoutingState) => Built | undefined): Promise<ChangeResult> {
    const run = async (): Promise<ChangeResult> => {
      const cur = this.#current.state;
      if (options.expectGeneration !== undefined && options.expectGeneration !== cur.generation) {
        throw new SwitchyardError(
          'SY_ERR_STALE_GENERATION',
          `If-Match generation ${options.expectGeneration} is stale; the current generation is ${cur.generation}`,
        );
      }
      const built = build(cur);
      if (built === undefined) {
        return { from: cur.live, to: cur.live, generation: cur.generation, changed: false, warnings: [] };
      }
      const next: RoutingState = { ...built.state, generation: cur.generation + 1 };
      let history = this.#history;
      if (built.history !== undefined) {
        const entry: HistoryEntry = { at: new Date().toISOString(), ...built.history, generation: next.generation, who: options.who };
        history = [...history, entry].slice(-MAX_HISTORY);
      }
      if (this.#store !== undefined) {
        try {
          await this.#store.save(toPersisted(next, history));
        } catch (err) {
          throw new SwitchyardError('SY_ERR_STATE_WRITE', `state not saved, change not applied: ${(err as Error).message}`, { cause: err });
        }
      }
      this.#history = history;
      const prev = this.#current;
      const change: RoutingChange = { ...built.change, who: options.who };
      this.#swap(next, change);
      if (this.#propagate !== undefined) await this.#propagate(next, change);
      const warnings = built.warnings ?? [];
      for (const w of warnings) this.#bus.emit('warning', w.code, w.message, w.detail);
      return { from: prev.state.live, to: next.live, generation: next.generation, changed: true, warnings: warnings.map((w) => w.message) };
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** #swap — apply server overrides and install the snapshot in one synchronous block. */
  #swap(next: RoutingState, change: RoutingChange): void {
    const prev = this.#current;
    for (const pool of this.pools) {
      const overrides = next.servers[pool.name] ?? {};
      for (const s of pool.servers) {
        const o = overrides[s.id];
        s.setAdminState(o?.state ?? 'ready');
        s.setWeight(o?.weight ?? s.configWeight);
      }
    }
    this.#current = new RoutingSnapshot(next, this.pools);
    this.#bus.emit('routing', this.#current, prev, change);
  }

  #install(state: RoutingState, action: 'init', result: { restored: boolean }): { restored: boolean } {
    this.#swap(state, { action, who: 'startup', detail: { restored: result.restored } });
    return result;
  }

  /** #fit — check a persisted state against the config; returns the usable part or why not. */
  #fit(p: PersistedState): RoutingState | string {
    if (!this.#byName.has(p.live)) return `live pool "${p.live}" is not in the config`;
    const weights: Record<string, number> = {};
    for (const pool of this.pools) weights[pool.name] = p.weights[pool.name] ?? 0;
    for (const name of Object.keys(p.weights)) {
      if (!this.#byName.has(name)) this.#log.warn({ pool: name }, 'state file names a pool the config no longer has; ignored');
    }
    if (Object.values(weights).every((w) => w === 0)) weights[p.live] = LIVE_WEIGHT;
    const servers: Record<string, Record<string, ServerOverride>> = {};
    for (const [poolName, overrides] of Object.entries(p.servers)) {
      const pool = this.#byName.get(poolName);
      for (const [id, o] of Object.entries(overrides)) {
        if (pool?.server(id) === undefined) {
          this.#log.warn({ pool: poolName, server: id }, 'state file names a server the config no longer has; ignored');
          continue;
        }
        (servers[poolName] ??= {})[id] = o;
      }
    }
    const previous = p.previous !== null && this.#byName.has(p.previous) ? p.previous : null;
    return { generation: p.generation, live: p.live, previous, weights, maintenance: p.maintenance, servers };
  }

  #requirePool(name: string): ServerPool {
    const pool = this.#byName.get(name);
    if (pool === undefined) {
      throw new SwitchyardError('SY_ERR_UNKNOWN_POOL', `unknown pool "${name}" (pools: ${[...this.#byName.keys()].join(', ')})`);
    }
    return pool;
  }

  #requireServer(poolName: string, id: string): UpstreamServer {
    const server = this.#requirePool(poolName).server(id);
    if (server === undefined) throw new SwitchyardError('SY_ERR_UNKNOWN_SERVER', `pool "${poolName}" has no server "${id}"`);
    return server;
  }

  #requireUsable(pool: ServerPool): void {
    if (pool.usableCount === 0) {
      throw new SwitchyardError(
        'SY_ERR_POOL_UNHEALTHY',
        `pool "${pool.name}" has no healthy, ready server; fix it first or pass "force": true`,
      );
    }
  }

  #exclusive(to: string): Record<string, number> {
    const weights: Record<string, number> = {};
    for (const p of this.pools) weights[p.name] = p.name === to ? LIVE_WEIGHT : 0;
    return weights;
  }

  #heaviest(weights: Readonly<Record<string, number>>, current: string): string {
    let best = current;
    for (const p of this.pools) if ((weights[p.name] ?? 0) > (weights[best] ?? 0)) best = p.name;
    return best;
  }

  /**
   * #capacityWarnings — blue/green needs each half to carry all the traffic.
   * Warn when the target has fewer usable servers than the live pool it
   * replaces, or when recent traffic exceeds the target's configured
   * capacityRps. A warning never blocks the switch: it is in the answer, the
   * log and switchyard_capacity_warnings_total.
   */
  #capacityWarnings(target: ServerPool, cur: RoutingState): Warning[] {
    const warnings: Warning[] = [];
    let liveServers = 0;
    for (const p of this.pools) if ((cur.weights[p.name] ?? 0) > 0 && p !== target) liveServers = Math.max(liveServers, p.usableCount);
    if (target.usableCount < liveServers) {
      const msg = `pool "${target.name}" has ${target.usableCount} usable server(s) where the live pool had ${liveServers}; it may not carry the whole load alone`;
      warnings.push({ code: 'capacity', message: msg, detail: { pool: target.name, usable: target.usableCount, previous: liveServers } });
    }
    const capacity = target.config.capacityRps;
    if (capacity !== undefined && this.#requestRate !== undefined) {
      const rps = Math.round(this.#requestRate());
      if (rps > capacity) {
        const msg = `pool "${target.name}" is rated for ${capacity} req/s (capacityRps) but recent traffic is ${rps} req/s`;
        warnings.push({ code: 'capacity', message: msg, detail: { pool: target.name, capacityRps: capacity, recentRps: rps } });
      }
    }
    return warnings;
  }
}

function withOverride(
  servers: RoutingState['servers'],
  pool: string,
  id: string,
  patch: ServerOverride,
): Record<string, Record<string, ServerOverride>> {
  const next: Record<string, Record<string, ServerOverride>> = {};
  for (const [p, o] of Object.entries(servers)) next[p] = { ...o };
  const merged: ServerOverride = { ...next[pool]?.[id], ...patch };
  (next[pool] ??= {})[id] = merged;
  return next;
}

function toPersisted(state: RoutingState, history: readonly HistoryEntry[]): PersistedState {
  return {
    version: 1,
    generation: state.generation,
    live: state.live,
    previous: state.previous,
    weights: state.weights,
    maintenance: state.maintenance,
    servers: state.servers,
    history,
  };
}
