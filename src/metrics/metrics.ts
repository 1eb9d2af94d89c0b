/**
 * metrics — every Prometheus metric Switchyard exports, on one registry per
 * app (so tests can run several apps in one process). Counters on the hot path
 * are labelled children resolved once per server/pool; gauges are computed at
 * scrape time in collect(), never kept up to date by timers. Event counters
 * (switches, health flips, ejections, drains) subscribe to the event bus.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventBus } from '../events.js';
import type { ServerPool } from '../pools/pool.js';
import type { UpstreamServer } from '../pools/server.js';
import { HotHistogram, STATUS_CLASSES, type PoolStats, type ServerStats, type Incrementable } from '../pools/stats.js';
import { CollectedMetric, histogramValues, statusClassValues, type MetricValue } from './collected.js';
import type { Router } from '../routing/router.js';

const P = 'switchyard_';

/** RegistryJson — one registry's metrics as `getMetricsAsJSON()` gives them (what a worker sends its primary). */
export type RegistryJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** TcpMetricsListener — what the TCP metrics read of a listener (src/tcp/ fits it; metrics does not import tcp/). */
export interface TcpMetricsListener {
  readonly name: string;
  readonly pools: readonly {
    readonly name: string;
    readonly pool: ServerPool;
    readonly connections: number;
    readonly bytesIn: number;
    readonly bytesOut: number;
    counters(server: UpstreamServer): { readonly connections: number; readonly connectErrors: number };
  }[];
}

/**
 * LINT_FAILING_DEFAULTS — prom-client default gauges that `promtool check
 * metrics` rejects (a gauge must not end in `_total`). Their per-type series
 * (`nodejs_active_handles{type}` …) stay; `sum()` gives the total.
 */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** MetricsOptions — process metrics on/off, and which plane this process exports. */
export interface MetricsOptions {
  /** Register prom-client's process metrics (default true). */
  readonly defaultMetrics?: boolean;
  /** 'all' (single process, default), 'control' (multi-core primary) or 'data' (multi-core worker). */
  readonly plane?: 'all' | 'control' | 'data';
}

/** Metrics — the registry and every metric. */
export class Metrics {
  readonly registry = new Registry();
  /** Every PoolStats handed out, with its pool label ('' = requests no pool took). */
  readonly #poolStats: { pool: string; stats: PoolStats }[] = [];
  readonly #upstreamErrors = new Counter({
    name: `${P}upstream_errors_total`,
    help: 'Failed upstream attempts by pool, server and kind (connect, timeout, reset, protocol, other).',
    labelNames: ['pool', 'server', 'kind'] as const,
    registers: [this.registry],
  });
  readonly #retries = new Counter({
    name: `${P}retries_total`,
    help: 'Requests re-sent to another server of the same pool after a safe-to-retry failure.',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly #clientAborts = new Counter({
    name: `${P}client_aborts_total`,
    help: 'Requests the client abandoned before the response completed.',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly #switches = new Counter({
    name: `${P}switches_total`,
    help: 'Routing changes that moved traffic between pools, by action (switch, rollback, weights).',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  readonly #healthTransitions = new Counter({
    name: `${P}health_transitions_total`,
    help: 'Active health check verdict changes (HTTP and TCP servers), by pool, server and new state (up, down).',
    labelNames: ['pool', 'server', 'to'] as const,
    registers: [this.registry],
  });
  readonly #ejections = new Counter({
    name: `${P}ejections_total`,
    help: 'Passive ejections after consecutive failures, by pool and server.',
    labelNames: ['pool', 'server'] as const,
    registers: [this.registry],
  });
  readonly #drainDuration = new Histogram({
    name: `${P}drain_duration_seconds`,
    help: 'Time a pool took to drain its in-flight requests after leaving the live set.',
    labelNames: ['pool', 'complete'] as const,
    buckets: [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly #warnings = new Counter({
    name: `${P}capacity_warnings_total`,
    help: 'Switches to a pool with fewer usable servers than the pool it replaced.',
    registers: [this.registry],
  });

  #workers: (() => Promise<RegistryJson[]>) | undefined;
  /** Open raw TCP connections of a main pool (they share its long-lived set); 0 until registerTcp. */
  #tcpOpen: (pool: string) => number = () => 0;

  constructor(router: Router, bus: EventBus, options: MetricsOptions = {}) {
    const plane = options.plane ?? 'all';
    const data = plane !== 'control';
    const control = plane !== 'data';
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    }
    const pools = router.pools;
    const gauge = (name: string, help: string, labelNames: readonly string[], collect: (g: Gauge<string>) => void): void => {
      new Gauge({
        name: `${P}${name}`,
        help,
        labelNames,
        registers: [this.registry],
        collect() {
          this.reset();
          collect(this);
        },
      });
    };
    // A multi-core worker exports the data plane (what it proxied), the primary the control plane (routing,
    // health, drains); /metrics sums them, so no series may come from both.
    if (data) {
      gauge('inflight_requests', 'Requests in flight, by pool.', ['pool'], (g) => {
        for (const p of pools) g.set({ pool: p.name }, p.inflight);
      });
      gauge('server_inflight_requests', 'Requests in flight, by pool and server.', ['pool', 'server'], (g) => {
        for (const p of pools) for (const s of p.servers) g.set({ pool: p.name, server: s.id }, s.inflight);
      });
      // Upgraded (WebSocket) connections: plain counters on pools and servers, read here at scrape time.
      gauge('open_upgraded_connections', 'Upgraded (e.g. WebSocket) connections open now, by pool.', ['pool'], (g) => {
        // A pool's long-lived set also holds its raw TCP connections (switchyard_tcp_connections_active).
        for (const p of pools) g.set({ pool: p.name }, p.longLived - this.#tcpOpen(p.name));
      });
      gauge('server_open_upgraded_connections', 'Upgraded (e.g. WebSocket) connections open now, by pool and server.', ['pool', 'server'], (g) => {
        for (const p of pools) for (const s of p.servers) g.set({ pool: p.name, server: s.id }, s.longLived);
      });
      new CollectedMetric(this.registry, `${P}upgraded_connections_total`, 'Upgrades accepted by the upstream (101 relayed to the client), by pool and server.', 'counter', () => {
        const out: MetricValue[] = [];
        for (const p of pools) for (const s of p.servers) out.push({ labels: { pool: p.name, server: s.id }, value: s.upgrades });
        return out;
      });
      new CollectedMetric(this.registry, `${P}upgraded_bytes_total`, 'Bytes carried by upgraded connections, by pool and direction (in: client to server, out: server to client).', 'counter', () => {
        const out: MetricValue[] = [];
        for (const p of pools) {
          out.push({ labels: { pool: p.name, direction: 'in' }, value: p.upgradedBytesIn });
          out.push({ labels: { pool: p.name, direction: 'out' }, value: p.upgradedBytesOut });
        }
        return out;
      });
    }
    if (control) {
      gauge('pool_live', '1 when the pool has weight > 0 in the routing snapshot.', ['pool'], (g) => {
        const snap = router.current;
        for (const p of pools) g.set({ pool: p.name }, snap.isLive(p.name) ? 1 : 0);
      });
      gauge('pool_weight', 'The pool weight in the routing snapshot.', ['pool'], (g) => {
        const w = router.current.state.weights;
        for (const p of pools) g.set({ pool: p.name }, w[p.name] ?? 0);
      });
      gauge('pool_usable_servers', 'Servers that can take new requests (healthy, not ejected, ready, weight > 0).', ['pool'], (g) => {
        for (const p of pools) g.set({ pool: p.name }, p.usableCount);
      });
      gauge('server_healthy', '1 when the active health check reports the server healthy.', ['pool', 'server'], (g) => {
        for (const p of pools) for (const s of p.servers) g.set({ pool: p.name, server: s.id }, s.healthy ? 1 : 0);
      });
      gauge('server_ejected', '1 while the server is passively ejected.', ['pool', 'server'], (g) => {
        for (const p of pools) for (const s of p.servers) g.set({ pool: p.name, server: s.id }, s.ejected ? 1 : 0);
      });
      gauge('server_usable', '1 when the server can take new requests.', ['pool', 'server'], (g) => {
        for (const p of pools) for (const s of p.servers) g.set({ pool: p.name, server: s.id }, s.usable ? 1 : 0);
      });
      gauge('routing_generation', 'Generation of the routing snapshot in force.', [], (g) => g.set(router.current.generation));
      gauge('maintenance', '1 while maintenance mode is on.', [], (g) => g.set(router.current.maintenance ? 1 : 0));

      bus.on('routing', (_snap, prev, change) => {
        if (prev !== undefined && (change.action === 'switch' || change.action === 'rollback' || change.action === 'weights')) {
          this.#switches.inc({ action: change.action });
        }
      });
      bus.on('health', (pool, server, healthy) => this.#healthTransitions.inc({ pool, server, to: healthy ? 'up' : 'down' }));
      bus.on('ejection', (pool, server, ejected) => {
        if (ejected) this.#ejections.inc({ pool, server });
      });
      bus.on('drained', (pool, ms, complete) => this.#drainDuration.observe({ pool, complete: String(complete) }, ms / 1000));
      bus.on('warning', (code) => {
        if (code === 'capacity') this.#warnings.inc();
      });
    }
    for (const p of pools) {
      p.stats = this.poolStats(p.name);
      for (const s of p.servers) s.stats = this.serverStats(p, s);
    }
    const poolStats = this.#poolStats;
    new CollectedMetric(
      this.registry,
      `${P}requests_total`,
      'Proxied requests answered, by pool, server and status class (server is empty when none was picked).',
      'counter',
      () => {
        const out: MetricValue[] = [];
        for (const { pool, stats } of poolStats) statusClassValues({ pool, server: '' }, stats.localRequests, out);
        for (const p of pools) for (const s of p.servers) statusClassValues({ pool: p.name, server: s.id }, s.stats.requests, out);
        return out;
      },
    );
    const durationName = `${P}request_duration_seconds`;
    new CollectedMetric(this.registry, durationName, 'Time from request arrival to the end of the response, by pool.', 'histogram', () => {
      const out: MetricValue[] = [];
      for (const { pool, stats } of poolStats) if (pool !== '' || stats.duration.count > 0) histogramValues(durationName, { pool }, stats.duration, out);
      return out;
    });
  }

  /** poolStats — resolved children for one pool ('' for requests no pool took). */
  poolStats(pool: string): PoolStats {
    const stats: PoolStats = {
      localRequests: new Float64Array(STATUS_CLASSES.length),
      duration: new HotHistogram(),
      retries: this.#retries.labels({ pool }),
      clientAborts: this.#clientAborts.labels({ pool }),
    };
    this.#poolStats.push({ pool, stats });
    return stats;
  }

  /** serverStats — resolved children for one server. */
  serverStats(pool: ServerPool, server: UpstreamServer): ServerStats {
    const errors = new Map<string, Incrementable>();
    const counter = this.#upstreamErrors;
    return {
      requests: new Float64Array(STATUS_CLASSES.length),
      upstreamError(kind: string): void {
        let child = errors.get(kind);
        if (child === undefined) {
          child = counter.labels({ pool: pool.name, server: server.id, kind });
          errors.set(kind, child);
        }
        child.inc();
      },
    };
  }

  /** registerTcp — the raw TCP listeners' metrics, read at scrape time from their pools' plain counters. */
  registerTcp(listeners: readonly TcpMetricsListener[]): void {
    if (listeners.length === 0) return;
    const all = listeners.flatMap((l) => l.pools.map((p) => ({ listener: l.name, p })));
    this.#tcpOpen = (pool) => all.reduce((n, e) => (e.p.name === pool ? n + e.p.connections : n), 0);
    // Distinct base names: OpenMetrics forbids a gauge named like a counter without its _total suffix.
    new Gauge({
      name: `${P}tcp_connections_active`,
      help: 'Raw TCP connections open now, by listener and pool.',
      labelNames: ['listener', 'pool'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { listener, p } of all) this.set({ listener, pool: p.name }, p.connections);
      },
    });
    new CollectedMetric(this.registry, `${P}tcp_connections_total`, 'Raw TCP connections established to a server, by listener, pool and server.', 'counter', () => {
      const out: MetricValue[] = [];
      for (const { listener, p } of all) for (const s of p.pool.servers) out.push({ labels: { listener, pool: p.name, server: s.id }, value: p.counters(s).connections });
      return out;
    });
    new CollectedMetric(this.registry, `${P}tcp_connect_errors_total`, 'Failed connects to a server from a TCP listener (refused, unreachable, timed out, TLS handshake failed), by listener, pool and server.', 'counter', () => {
      const out: MetricValue[] = [];
      for (const { listener, p } of all) for (const s of p.pool.servers) out.push({ labels: { listener, pool: p.name, server: s.id }, value: p.counters(s).connectErrors });
      return out;
    });
    new CollectedMetric(this.registry, `${P}tcp_bytes_total`, 'Bytes carried by raw TCP connections, by listener, pool and direction (in: client to server, out: server to client).', 'counter', () => {
      const out: MetricValue[] = [];
      for (const { listener, p } of all) {
        out.push({ labels: { listener, pool: p.name, direction: 'in' }, value: p.bytesIn });
        out.push({ labels: { listener, pool: p.name, direction: 'out' }, value: p.bytesOut });
      }
      return out;
    });
  }

  /**
   * aggregateWith — multi-core primary: render() adds the metrics `source`
   * returns (each worker's registry as JSON) to this registry's, merged by
   * prom-client's cluster aggregator (each metric's `aggregator`: counters
   * and gauges summed, process metrics as prom-client defines).
   */
  aggregateWith(source: () => Promise<RegistryJson[]>): void {
    this.#workers = source;
  }

  /** render — the Prometheus text exposition. */
  async render(): Promise<string> {
    if (this.#workers === undefined) return this.registry.metrics();
    const [own, workers] = await Promise.all([this.registry.getMetricsAsJSON(), this.#workers()]);
    return AggregatorRegistry.aggregate([own, ...workers]).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
