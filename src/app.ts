/**
 * app — the composition root: builds pools, router, health checks, metrics,
 * the proxy listeners and the admin API, and owns the start/stop order.
 *
 * One process plays one role: 'single' (everything, the default), or in
 * multi-core mode 'primary' (admin API, state store, health checks; its
 * workers proxy, see cluster/primary.ts) or 'worker' (proxy listeners only;
 * routing and health come from the primary, see cluster/worker.ts).
 *
 * Start: restore state → start health checks → bind proxy listeners (or
 * start the workers) → bind admin. Stop: the proxy listeners' graceful stop
 * (proxy/listeners.ts; or the workers') → stop health → close upstream pools
 * → flush state and logs.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildAdminServer } from './admin/server.js';
import type { SwitchyardConfig } from './config/types.js';
import { EventBus } from './events.js';
import { ActiveHealthChecker } from './health/active.js';
import { PassiveEjector } from './health/passive.js';
import { createLogger, flushLogs, type Logger } from './log.js';
import { Metrics } from './metrics/metrics.js';
import { RequestRate } from './metrics/rate.js';
import { DrainTracker } from './pools/drain.js';
import { ServerPool } from './pools/pool.js';
import { formatAddress, ProxyListeners, type ProxyAddresses } from './proxy/listeners.js';
import { Router } from './routing/router.js';
import type { CertReloadResult } from './admin/context.js';
import { TcpListener } from './tcp/listener.js';
import type { TcpPool } from './tcp/pool.js';
import { FileStateStore } from './state/file-store.js';
import type { StateStore } from './state/types.js';
import type { RoutingChange } from './events.js';
import type { RoutingState } from './routing/snapshot.js';

/** AppRole — what this process does (see the module comment). */
export type AppRole = 'single' | 'primary' | 'worker';

export type { ProxyAddresses };

/**
 * RemoteDataPlane — the proxy workers as the primary sees them
 * (cluster/primary.ts implements it). The primary's app calls it where a
 * single process would act on its own listeners.
 */
export interface RemoteDataPlane {
  /** Hand a routing change to every worker; resolves once each applied it. Never rejects. */
  propagate(state: RoutingState, change: RoutingChange): Promise<void>;
  /** Start the workers; resolves once every one of them listens. */
  start(): Promise<ProxyAddresses>;
  /** True once started, while at least one worker listens (a worker being replaced does not make the instance unready). */
  readonly ready: boolean;
  /** Public requests per second, summed over the workers. */
  requestRate(): number;
  /** Have every worker re-read its certificate files; rejects with SY_ERR_CERT_RELOAD when one refused. */
  reloadCerts(): Promise<CertReloadResult>;
  /** Stop every worker gracefully; resolves true when each finished its in-flight requests in time. */
  stop(): Promise<boolean>;
}

/** AppParts — what a RemoteDataPlane is built from (the primary's own objects). */
export interface AppParts {
  readonly config: SwitchyardConfig;
  readonly router: Router;
  readonly bus: EventBus;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Every pool, main pools then each TCP listener's pools: the same order in every process of a cluster. */
  readonly poolTable: readonly ServerPool[];
  /** The TCP listeners' pools, in the order they close poolTable. */
  readonly tcpPools: readonly TcpPool[];
}

/** AppOptions — how to build an app beyond its config. */
export interface AppOptions {
  readonly log?: Logger;
  /** Override the state store (tests); default: a FileStateStore when state.file is set. */
  readonly store?: StateStore;
  /** Register process metrics (default true). */
  readonly defaultMetrics?: boolean;
  /** What this process does (default 'single'). */
  readonly role?: AppRole;
  /** role 'primary': builds the workers' side from the primary's parts. */
  readonly dataPlane?: (parts: AppParts) => RemoteDataPlane;
}

/** Addresses — where each listener actually bound (ports resolved when 0 was asked). */
export interface Addresses extends ProxyAddresses {
  /** The admin API ('' in a multi-core worker, which has none). */
  readonly admin: string;
}

/** App — a running (or startable) Switchyard. */
export interface App {
  readonly config: SwitchyardConfig;
  readonly router: Router;
  readonly bus: EventBus;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The admin API (undefined in a multi-core worker). */
  readonly admin: FastifyInstance | undefined;
  readonly role: AppRole;
  /** Every pool, main pools then each TCP listener's pools (see AppParts). */
  readonly poolTable: readonly ServerPool[];
  /** The TCP listeners' pools (see AppParts). */
  readonly tcpPools: readonly TcpPool[];
  /** Valid after start(). */
  readonly addresses: Addresses;
  start(): Promise<void>;
  /** Recent public requests per second (a multi-core primary: summed over its workers). */
  requestRate(): number;
  /** Graceful stop; resolves true when every in-flight request finished in time. */
  stop(): Promise<boolean>;
  /** reloadCerts — re-read every TLS certificate file and swap them in (SIGHUP, POST /api/v1/reload-certs); rejects with SY_ERR_CERT_RELOAD and keeps the old ones on a bad file. */
  reloadCerts(): Promise<CertReloadResult>;
}

/** createApp — build everything; nothing listens until start(). */
export async function createApp(config: SwitchyardConfig, options: AppOptions = {}): Promise<App> {
  const role = options.role ?? 'single';
  /** This process binds the proxy listeners. */
  const proxies = role !== 'primary';
  /** This process runs the admin API, the state store and the health checks. */
  const controls = role !== 'worker';
  const log = options.log ?? createLogger(config.log.level);
  const bus = new EventBus();
  const pools = config.pools.map((p) => new ServerPool(p, config.proxy));
  // The primary's servers take no traffic: their ejection state is what its workers report (cluster/primary.ts).
  const wiring: PoolWiring = { passive: role !== 'primary' };
  for (const pool of pools) observePool(pool, bus, log.child({ component: 'health', pool: pool.name }), wiring);
  const store = !controls ? undefined : options.store ?? (config.state.file === undefined ? undefined : new FileStateStore(config.state.file));
  const rate = new RequestRate();
  let remote: RemoteDataPlane | undefined;
  const router = new Router({
    requestRate: role === 'primary' ? () => remote?.requestRate() ?? 0 : () => rate.perSecond(),
    pools,
    initialLive: config.live,
    initialMaintenance: config.maintenance.enabled,
    store,
    bus,
    log: log.child({ component: 'router' }),
    propagate: role === 'primary' ? (state, change) => remote?.propagate(state, change) ?? Promise.resolve() : undefined,
  });
  // TCP listeners follow the same router; their connections are long-lived connections of the main pools.
  // The primary builds them too (never binding them) for their health checks and the state view.
  const tcpListeners = config.listen.tcp.map((l) => new TcpListener(l, router, pools, config.proxy, log.child({ component: 'tcp', listener: l.name })));
  // A TCP pool's flips are published like a main pool's (switchyard_health_transitions_total, ejections, logs).
  for (const l of tcpListeners) for (const p of l.pools) observePool(p.pool, bus, log.child({ component: 'health', listener: l.name, pool: p.name }), wiring);
  const tcpPools = tcpListeners.flatMap((l) => l.pools);
  const poolTable: readonly ServerPool[] = [...pools, ...tcpPools.map((p) => p.pool)];
  const drains = new DrainTracker(pools, bus, log.child({ component: 'drain' }), config.drain.timeoutMs, { observe: controls });
  const metrics = new Metrics(router, bus, { defaultMetrics: options.defaultMetrics, plane: role === 'single' ? 'all' : role === 'primary' ? 'control' : 'data' });
  if (proxies) metrics.registerTcp(tcpListeners);
  if (controls) {
    const audit = log.child({ component: 'audit' });
    bus.on('routing', (snap, prev, change) => {
      audit.info({ action: change.action, who: change.who, generation: snap.generation, live: snap.state.live, weights: snap.state.weights, maintenance: snap.maintenance, ...change.detail, previousGeneration: prev?.generation }, `routing ${change.action}`);
    });
    bus.on('warning', (code, message, detail) => audit.warn({ code, ...detail }, message));
  }
  const health = !controls
    ? undefined
    : new ActiveHealthChecker(
        pools.flatMap((p) => p.servers),
        { logger: log.child({ component: 'health' }) },
      );

  // This process's own proxy listeners (single, worker); the primary's are its workers'.
  const proxy = !proxies
    ? undefined
    : new ProxyListeners({ config, router, pools, tcpListeners, unrouted: metrics.poolStats(''), rate, log, runsTcpChecks: controls });
  const reloadCerts = async (): Promise<CertReloadResult> => (remote !== undefined ? remote.reloadCerts() : (proxy?.reloadCerts() ?? { listeners: 0, files: [] }));

  if (role === 'primary') {
    if (options.dataPlane === undefined) throw new Error('role primary needs a dataPlane');
    remote = options.dataPlane({ config, router, bus, metrics, log, poolTable, tcpPools });
  }
  const tcpHealth = (): Promise<unknown>[] => tcpListeners.map((l) => l.health.ready());
  let ready = false;
  const admin = !controls
    ? undefined
    : await buildAdminServer({
        router,
        drains,
        metrics,
        log,
        token: config.admin.token,
        openMetrics: config.admin.openMetrics,
        tcp: tcpListeners,
        isReady: () => ready && (remote?.ready ?? true),
        reloadCerts,
      });

  let addresses: Addresses | undefined;
  let stopping: Promise<boolean> | undefined;

  const app: App = {
    config,
    router,
    bus,
    metrics,
    log,
    admin,
    role,
    poolTable,
    tcpPools,
    get addresses(): Addresses {
      if (addresses === undefined) throw new Error('app not started');
      return addresses;
    },
    async start(): Promise<void> {
      if (controls) {
        const restored = await router.restore();
        log.info({ generation: router.current.generation, live: router.current.state.live, restored: restored.restored, problem: restored.problem }, 'routing state loaded');
      }
      // Compile the admin routes before the first probes: fastify's ready() blocks the event loop for
      // tens of ms, enough for a short probe timeout to fire first and mark healthy servers down at boot.
      await admin?.ready();
      health?.start();
      // The primary runs the TCP listeners' probes without binding them (its workers do).
      if (role === 'primary') for (const l of tcpListeners) l.health.start();
      const proxyAddresses = remote !== undefined ? await remote.start() : await (proxy as ProxyListeners).bind();
      let adminAddress = '';
      if (admin !== undefined) {
        await admin.listen({ host: config.listen.admin.host, port: config.listen.admin.port });
        adminAddress = formatAddress(admin.server.address() as AddressInfo);
      }
      addresses = { ...proxyAddresses, admin: adminAddress };
      log.info({ ...addresses, ...(role === 'single' ? {} : { role }) }, role === 'worker' ? 'worker listening' : 'switchyard listening');
      if (health !== undefined) {
        void Promise.all([health.ready(), ...tcpHealth()]).then(() => {
          ready = true;
        });
      }
    },
    reloadCerts,
    requestRate: () => remote?.requestRate() ?? rate.perSecond(),
    stop(): Promise<boolean> {
      stopping ??= (async () => {
        drains.close();
        const finished = remote !== undefined ? await remote.stop() : await (proxy as ProxyListeners).stop();
        await health?.stop();
        await Promise.all(tcpListeners.map((l) => l.stop()));
        rate.close();
        await Promise.all(pools.map((p) => p.close(!finished)));
        await router.flush();
        await store?.close();
        await admin?.close();
        log.info({ clean: finished }, role === 'worker' ? 'worker stopped' : 'switchyard stopped');
        await flushLogs(log);
        return finished;
      })();
      return stopping;
    },
  };
  return app;
}

/**
 * observePool — the one wiring of a pool's servers, for main pools and TCP
 * listener pools alike: a passive ejector per server (where this process
 * proxies), health and ejection
 * flips published on the bus (metrics subscribe), ejections logged. Active
 * health flips are logged by their ActiveHealthChecker.
 */
function observePool(pool: ServerPool, bus: EventBus, poolLog: Logger, wiring: PoolWiring): void {
  pool.observe({
    health: (server, healthy, reason) => bus.emit('health', pool.name, server.id, healthy, reason),
    ejection: (server, ejected, reason) => {
      if (ejected) poolLog.warn({ server: server.id, reason }, 'server ejected after consecutive failures');
      else poolLog.info({ server: server.id, reason }, 'server re-admitted');
      bus.emit('ejection', pool.name, server.id, ejected, reason);
    },
  });
  if (!wiring.passive) return;
  for (const server of pool.servers) {
    server.passive = new PassiveEjector(pool.config.passive, (ejected, reason) => server.ejectionChanged(ejected, reason));
  }
}

/** PoolWiring — how observePool wires a pool in this process's role. */
interface PoolWiring {
  /** Give each server a PassiveEjector (false on the multi-core primary, which proxies nothing). */
  readonly passive: boolean;
}
