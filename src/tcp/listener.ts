/**
 * tcp/listener — one raw TCP (L4) listener (`listen.tcp[]`).
 *
 * Per accepted connection: read the routing snapshot once, pick the
 * listener's pool named like a live main pool with the snapshot's weights
 * (its own smooth weighted round-robin, rebuilt when the snapshot changes, so
 * HTTP's pick sequence is not disturbed), pick a server with that pool's
 * balancer among the available ones, and hand the socket to a TcpConnection
 * (tcp/pipe.ts). Maintenance mode does not apply: there is no way to answer a
 * byte stream with a maintenance page, and closing database connections
 * during an HTTP maintenance window would be a surprise.
 *
 * The listener also owns its servers' active health checks (health/probe-tcp.ts;
 * a TLS handshake for `tls: true` servers). Passive ejectors and the
 * publishing of health/ejection flips are wired by app.ts with the same code
 * as for main pools (per server, on the event bus).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { ProxyConfig, TcpCheck, TcpListenerConfig } from '../config/types.js';
import { ActiveHealthChecker } from '../health/active.js';
import type { ProbeTarget } from '../health/probe-http.js';
import { tcpProbe } from '../health/probe-tcp.js';
import type { Logger } from '../log.js';
import type { ServerPool } from '../pools/pool.js';
import type { Router } from '../routing/router.js';
import { PoolPicker, type RoutingSnapshot } from '../routing/snapshot.js';
import { TcpConnection, type TcpSettings } from './pipe.js';
import { TcpPool } from './pool.js';

const NO_CHECK: TcpCheck = Object.freeze({ send: undefined, expect: undefined });

/** TcpListener — a net.Server proxying byte streams to the pools of one listen.tcp entry. */
export class TcpListener {
  readonly name: string;
  readonly config: TcpListenerConfig;
  readonly pools: readonly TcpPool[];
  /** Active TCP checks of this listener's servers; started by start(), stopped by stop(). */
  readonly health: ActiveHealthChecker;
  readonly #router: Router;
  readonly #server: Server;
  readonly #settings: TcpSettings;
  readonly #log: Logger;
  readonly #open = new Set<TcpConnection>();
  #address: string | undefined;
  #closing = false;
  #snapshot: RoutingSnapshot | undefined;
  #picker: PoolPicker<TcpPool> = new PoolPicker<TcpPool>([], []);

  constructor(config: TcpListenerConfig, router: Router, mainPools: readonly ServerPool[], proxy: ProxyConfig, log: Logger) {
    this.name = config.name;
    this.config = config;
    this.#router = router;
    this.#log = log;
    const checks = new Map<ProbeTarget, TcpCheck>();
    this.pools = config.pools.map((pc) => {
      const main = mainPools.find((p) => p.name === pc.pool.name);
      // config/tcp.ts refuses TCP pools not named after a main pool.
      if (main === undefined) throw new Error(`TCP pool ${pc.pool.name} has no main pool`);
      const tp = new TcpPool(config.name, pc, main, proxy);
      for (const server of tp.pool.servers) checks.set(server, tp.check);
      return tp;
    });
    this.health = new ActiveHealthChecker(
      this.pools.flatMap((p) => p.pool.servers),
      { logger: log.child({ component: 'health' }), probe: tcpProbe((target) => checks.get(target) ?? NO_CHECK) },
    );
    this.#settings = {
      listener: config.name,
      connectTimeoutMs: config.connectTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxAgeMs: proxy.maxConnectionAgeMs,
      maxAttempts: 1 + proxy.retries,
      proxyProtocol: config.proxyProtocol,
      log,
      done: (conn) => this.#open.delete(conn),
    };
    // allowHalfOpen: a client FIN is passed on while the server's answer keeps flowing.
    // pauseOnConnect: no client byte is read before the upstream (and the PROXY header) is there.
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, this.#onConnection);
    // An accept error (EMFILE …) must not crash the process.
    this.#server.on('error', (err) => log.error({ err }, 'tcp listener error'));
  }

  /** address — where the listener is bound (host:port), once listening. */
  get address(): string | undefined {
    return this.#address;
  }

  /**
   * start — bind and (unless `checks` is false: a multi-core worker, whose
   * primary runs the one set of probes) start the health checks; resolves
   * with the bound address.
   */
  start(checks = true): Promise<string> {
    const bind = this.config.bind;
    if (checks) this.health.start();
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`cannot listen on ${bind.host}:${bind.port} (tcp ${this.name}): ${err.message}`));
      this.#server.once('error', onError);
      this.#server.listen(bind.port, bind.host, () => {
        this.#server.off('error', onError);
        const a = this.#server.address() as AddressInfo;
        this.#address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
        resolve(this.#address);
      });
    });
  }

  /** close — stop accepting; open connections stay (their main pools close them at the shutdown deadline). */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#server.close();
  }

  /** stop — cut whatever is still open (connections still connecting are in no pool's long-lived set), stop health, drop ejection timers. */
  async stop(): Promise<void> {
    this.close();
    for (const conn of [...this.#open]) conn.destroy();
    await this.health.stop();
    await Promise.all(this.pools.map((p) => p.pool.close(true)));
  }

  /** openConnections — connections accepted and not yet done (connecting or open). */
  get openConnections(): number {
    return this.#open.size;
  }

  readonly #onConnection = (socket: Socket): void => {
    if (this.#closing) {
      socket.on('error', noop);
      socket.destroy();
      return;
    }
    const snap = this.#router.current;
    if (snap !== this.#snapshot) {
      // One picker per snapshot: the weights changed (or not), either way the snapshot is the one truth.
      const live = this.pools.filter((p) => snap.isLive(p.name));
      this.#picker = new PoolPicker(live, live.map((p) => snap.state.weights[p.name] ?? 0));
      this.#snapshot = snap;
    }
    const pool = this.#picker.pick();
    const conn = pool === undefined ? undefined : new TcpConnection(this.#settings, socket, pool, snap.generation);
    const server = conn === undefined ? undefined : pool?.pool.pick(conn);
    if (conn === undefined || server === undefined) {
      if (this.#log.isLevelEnabled('debug')) this.#log.debug({ pool: pool?.name, client: socket.remoteAddress }, pool === undefined ? 'tcp: no live pool on this listener' : 'tcp: no available server');
      socket.on('error', noop);
      socket.destroy();
      return;
    }
    this.#open.add(conn);
    conn.start(server);
  };
}

function noop(): void {}
