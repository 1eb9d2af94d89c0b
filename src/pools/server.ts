/**
 * pools/server — one upstream server: its frozen config, its runtime counters
 * and state (kept beside the config, never in it), and its undici Pool.
 *
 * `usable` is the one availability predicate (healthy, not ejected, admin state
 * ready, weight > 0). It is recomputed only when one of its inputs flips, and
 * the owning pool is told so it can rebuild its candidate list; the hot path
 * reads plain fields.
 */
import { Pool as UndiciPool } from 'undici';
import type { ProxyConfig, ServerConfig, HealthConfig, UpstreamTlsConfig } from '../config/types.js';
import type { HealthTarget } from '../health/types.js';
import type { ServerAdminState } from '../state/types.js';
import type { Pickable } from '../balancers/types.js';
import { newServerStats, type ServerStats } from './stats.js';

/** ServerListener — how a server tells its pool (and observers) that something flipped. */
export interface ServerListener {
  availabilityChanged(server: UpstreamServer): void;
  healthChanged(server: UpstreamServer, healthy: boolean, reason: string): void;
  ejectionChanged(server: UpstreamServer, ejected: boolean, reason: string): void;
}

/** PassiveTracker — what the server needs of passive health (health/passive.ts implements it). */
export interface PassiveTracker {
  readonly ejected: boolean;
  recordSuccess(): void;
  recordFailure(reason: string): void;
  close(): void;
}

/** UpstreamServer — a backend server with its runtime state and connection pool. */
export class UpstreamServer implements Pickable, HealthTarget {
  readonly pool: string;
  readonly id: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly health: HealthConfig;
  readonly maxInflight: number;
  readonly configWeight: number;
  /** TLS settings when the server is reached over https; undefined = plain http. */
  readonly tls: UpstreamTlsConfig | undefined;

  /** Requests in flight now (incremented by the pool's begin, decremented by end). */
  inflight = 0;
  /** Long-lived (upgraded) connections open now; not part of `inflight` (see pools/long-lived.ts). */
  longLived = 0;
  /** Upgrades this server accepted (101 relayed); exported as switchyard_upgraded_connections_total. */
  upgrades = 0;
  /** True when the server may receive new requests. Read on the hot path. */
  usable = true;
  stats: ServerStats = newServerStats();
  passive: PassiveTracker | undefined;

  #weight: number;
  #adminState: ServerAdminState = 'ready';
  #healthy = true;
  #dispatcher: UndiciPool | undefined;
  readonly #proxy: ProxyConfig;
  #listener: ServerListener | undefined;

  constructor(pool: string, config: ServerConfig, proxy: ProxyConfig) {
    this.pool = pool;
    this.id = config.id;
    this.address = config.address;
    this.host = config.host;
    this.port = config.port;
    this.health = config.health;
    this.maxInflight = config.maxInflight;
    this.configWeight = config.weight;
    this.tls = config.tls;
    this.#weight = config.weight;
    this.#proxy = proxy;
    this.usable = this.#computeUsable();
  }

  /** listen — attach the pool's listener (one per server). */
  listen(listener: ServerListener): void {
    this.#listener = listener;
  }

  get weight(): number {
    return this.#weight;
  }

  get adminState(): ServerAdminState {
    return this.#adminState;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  get ejected(): boolean {
    return this.passive?.ejected ?? false;
  }

  /** dispatcher — the keep-alive undici Pool to this server, created on first use. */
  get dispatcher(): UndiciPool {
    return (this.#dispatcher ??= this.#createDispatcher());
  }

  /** hasConnections — true while an undici Pool exists (it may hold keep-alive sockets). */
  get hasDispatcher(): boolean {
    return this.#dispatcher !== undefined;
  }

  /** setWeight — admin weight change (0 = no new traffic). */
  setWeight(weight: number): void {
    if (weight === this.#weight) return;
    this.#weight = weight;
    // Even when usability does not flip, the balancer's weights changed: rebuild.
    this.usable = this.#computeUsable();
    this.#listener?.availabilityChanged(this);
  }

  /** setAdminState — ready | drain | maint. */
  setAdminState(state: ServerAdminState): void {
    if (state === this.#adminState) return;
    this.#adminState = state;
    this.#refresh();
  }

  /** setHealthy — called by the active checker on a flip (HealthTarget). */
  setHealthy(healthy: boolean, reason: string): void {
    if (healthy === this.#healthy) return;
    this.#healthy = healthy;
    this.#listener?.healthChanged(this, healthy, reason);
    this.#refresh();
  }

  /** ejectionChanged — called by the passive ejector when it ejects or re-admits. */
  ejectionChanged(ejected: boolean, reason: string): void {
    this.#listener?.ejectionChanged(this, ejected, reason);
    this.#refresh();
  }

  /**
   * releaseConnections — close the keep-alive connections once nothing is in
   * flight (graceful: undici's close() lets queued work finish). The next
   * request, if any, opens a fresh Pool, so this is safe at any time.
   */
  releaseConnections(): Promise<void> {
    const d = this.#dispatcher;
    if (d === undefined) return Promise.resolve();
    this.#dispatcher = undefined;
    return d.close().catch(() => undefined);
  }

  /** destroyConnections — abort everything on this server's connections (shutdown deadline). */
  destroyConnections(): Promise<void> {
    const d = this.#dispatcher;
    if (d === undefined) return Promise.resolve();
    this.#dispatcher = undefined;
    return d.destroy().catch(() => undefined);
  }

  #computeUsable(): boolean {
    return this.#healthy && !(this.passive?.ejected ?? false) && this.#adminState === 'ready' && this.#weight > 0;
  }

  #refresh(): void {
    const next = this.#computeUsable();
    if (next === this.usable) return;
    this.usable = next;
    this.#listener?.availabilityChanged(this);
  }

  #createDispatcher(): UndiciPool {
    const p = this.#proxy;
    const tls = this.tls;
    return new UndiciPool(`${tls === undefined ? 'http' : 'https'}://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`, {
      connections: p.maxConnectionsPerServer,
      pipelining: 1,
      keepAliveTimeout: p.upstreamKeepAliveMs,
      keepAliveMaxTimeout: Math.max(p.upstreamKeepAliveMs, 600_000),
      headersTimeout: p.firstByteTimeoutMs,
      bodyTimeout: p.idleTimeoutMs,
      // Verification is never optional: a server that needs tls: true needs its CA configured, not skipped.
      connect:
        tls === undefined
          ? { timeout: p.connectTimeoutMs }
          : { timeout: p.connectTimeoutMs, ca: tls.ca, servername: tls.servername, rejectUnauthorized: true },
      // We stream arbitrary client bodies and must not reject a mismatch ourselves.
      strictContentLength: false,
    });
  }
}
