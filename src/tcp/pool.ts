/**
 * tcp/pool — one pool of a TCP listener at run time: its own ServerPool (its
 * servers, balancer, availability, passive ejection — the same code as HTTP
 * pools) and the main pool of the same name, which the listener follows in
 * the routing snapshot and whose long-lived set counts its open connections
 * (so `onSwitch`, `drainTimeoutMs`, `idle` and `"wait":"drained"` cover TCP
 * exactly as they cover WebSocket tunnels).
 *
 * On the TCP pool's servers `inflight` counts connections still connecting
 * and `longLived` established ones; `least-conn` weighs their sum. Byte and connection counters are plain numbers exported at
 * scrape time.
 */
import type { TcpCheck, TcpPoolConfig, ProxyConfig } from '../config/types.js';
import { ServerPool } from '../pools/pool.js';
import type { UpstreamServer } from '../pools/server.js';

/** TcpServerCounters — per-server totals exported as switchyard_tcp_connections_total / _connect_errors_total. */
export interface TcpServerCounters {
  /** Connections established to this server. */
  connections: number;
  /** Connect attempts that failed (refused, unreachable, timed out). */
  connectErrors: number;
}

/** TcpPool — a TCP listener's pool: its servers, the main pool it follows, its counters. */
export class TcpPool {
  readonly listener: string;
  readonly name: string;
  readonly pool: ServerPool;
  readonly main: ServerPool;
  readonly check: TcpCheck;
  /** Bytes client → server. */
  bytesIn = 0;
  /** Bytes server → client. */
  bytesOut = 0;
  readonly #counters = new Map<UpstreamServer, TcpServerCounters>();

  constructor(listener: string, config: TcpPoolConfig, main: ServerPool, proxy: ProxyConfig) {
    this.listener = listener;
    this.name = config.pool.name;
    this.pool = new ServerPool(config.pool, proxy);
    this.main = main;
    this.check = config.check;
    for (const s of this.pool.servers) this.#counters.set(s, { connections: 0, connectErrors: 0 });
  }

  /** connections — established connections open now on this pool. */
  get connections(): number {
    let n = 0;
    for (const s of this.pool.servers) n += s.longLived;
    return n;
  }

  /** counters — the totals of one of this pool's servers. */
  counters(server: UpstreamServer): TcpServerCounters {
    let c = this.#counters.get(server);
    if (c === undefined) {
      c = { connections: 0, connectErrors: 0 };
      this.#counters.set(server, c);
    }
    return c;
  }
}
