/**
 * proxy/listeners — the proxy listeners of one process (a single process, or
 * a multi-core worker): the public and preview HTTP listeners, the TLS
 * listeners (HTTPS and HTTP/2), each with its request and upgrade handlers,
 * and the raw TCP listeners app.ts built. Owns their bind order, the
 * certificate reload, and the graceful stop: refuse new requests and
 * upgrades → stop accepting → wait for in-flight requests (bounded by
 * shutdown.timeoutMs) → close the long-lived connections still open at that
 * deadline → cut what is left.
 */
import { createServer, type Server } from 'node:http';
import { Server as NetServer, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { CertReloadResult } from '../admin/context.js';
import type { HostPort, SwitchyardConfig } from '../config/types.js';
import { SwitchyardError } from '../errors.js';
import type { Logger } from '../log.js';
import { CLOSE_GRACE_MS } from '../pools/long-lived.js';
import type { ServerPool } from '../pools/pool.js';
import type { PoolStats } from '../pools/stats.js';
import type { Router } from '../routing/router.js';
import type { TcpListener } from '../tcp/listener.js';
import { TlsListener } from '../tls/listener.js';
import { PemError } from '../tls/pem.js';
import type { ProxyContext } from './context.js';
import { ProxyHandler } from './handler.js';
import { UpgradeHandler, type UpgradeSettings } from './upgrade.js';

/** ProxyAddresses — where the proxy listeners are bound (every listener but the admin API). */
export interface ProxyAddresses {
  readonly http: string;
  readonly preview: string | undefined;
  /** Raw TCP listeners by name (listen.tcp[].name → host:port). */
  readonly tcp: Readonly<Record<string, string>>;
  /** listen.https listeners, in config order. */
  readonly https: readonly string[];
}

/** ProxyListenersDeps — what the listeners are built from. */
export interface ProxyListenersDeps {
  readonly config: SwitchyardConfig;
  readonly router: Router;
  /** The main pools (shutdown waits for their in-flight requests and long-lived connections). */
  readonly pools: readonly ServerPool[];
  readonly tcpListeners: readonly TcpListener[];
  /** Counters of requests no pool took (maintenance, no pool, shutting down). */
  readonly unrouted: PoolStats;
  /** Bumped once per public request (the capacity warning's traffic rate). */
  readonly rate: { count: number };
  readonly log: Logger;
  /** Start the TCP listeners' health checks here (false in a multi-core worker: the primary probes). */
  readonly runsTcpChecks: boolean;
}

interface HttpListener {
  readonly kind: 'public' | 'preview';
  readonly bind: HostPort;
  readonly handler: ProxyHandler;
  readonly upgrades: UpgradeHandler;
  readonly server: Server;
}

interface SecureListener {
  readonly tls: TlsListener;
  readonly handler: ProxyHandler;
  readonly upgrades: UpgradeHandler;
}

/** ProxyListeners — this process's proxy listeners and their life-cycle. */
export class ProxyListeners {
  readonly #deps: ProxyListenersDeps;
  readonly #http: HttpListener[] = [];
  readonly #tls: SecureListener[];
  readonly #log: Logger;
  readonly #tlsLog: Logger;

  constructor(deps: ProxyListenersDeps) {
    this.#deps = deps;
    this.#log = deps.log;
    this.#tlsLog = deps.log.child({ component: 'tls' });
    const config = deps.config;
    this.#addHttp('public', config.listen.http);
    if (config.listen.preview !== undefined) this.#addHttp('preview', config.listen.preview);
    this.#tls = config.listen.https.map((l) => {
      const { handler, upgrades } = this.#handlers(l.preview ? 'preview' : 'public', 'https', l.http2);
      const tls = new TlsListener(
        l,
        { onRequest: handler.onRequest, attachUpgrades: (server) => upgrades.attach(server, 'secureConnection') },
        {
          keepAliveTimeout: config.proxy.clientKeepAliveMs,
          headersTimeout: config.proxy.clientHeadersTimeoutMs,
          idleTimeout: Math.max(config.proxy.idleTimeoutMs, config.proxy.firstByteTimeoutMs) + 1000,
        },
      );
      return { tls, handler, upgrades };
    });
  }

  /** bind — every listener, HTTP first; resolves with the bound addresses. */
  async bind(): Promise<ProxyAddresses> {
    const bound: Record<string, string> = {};
    for (const l of this.#http) {
      await listen(l.server, l.bind);
      bound[l.kind] = formatAddress(l.server.address() as AddressInfo);
    }
    const tcp: Record<string, string> = {};
    for (const l of this.#deps.tcpListeners) tcp[l.name] = await l.start(this.#deps.runsTcpChecks);
    const https: string[] = [];
    for (const l of this.#tls) https.push(await l.tls.listen());
    return { http: bound.public as string, preview: bound.preview, tcp, https };
  }

  /**
   * reloadCerts — re-read every TLS listener's certificate files; all or
   * nothing across listeners (every new set is built before any is swapped).
   * Throws SY_ERR_CERT_RELOAD and keeps the old ones on a bad file.
   */
  reloadCerts(): CertReloadResult {
    let commits: (() => void)[];
    try {
      commits = this.#tls.map((l) => l.tls.certs.prepare());
    } catch (err) {
      const message = err instanceof PemError ? err.message : (err as Error).message;
      this.#tlsLog.error({ err: message }, 'certificate reload refused; the previous certificates stay in force');
      throw new SwitchyardError('SY_ERR_CERT_RELOAD', `certificate reload refused: ${message}`, { cause: err });
    }
    for (const commit of commits) commit();
    const files = this.#tls.flatMap((l) => l.tls.certs.files);
    this.#tlsLog.info({ listeners: this.#tls.length, files: files.length }, 'certificates reloaded');
    return { listeners: this.#tls.length, files };
  }

  /** stop — refuse, drain and close every listener; resolves true when every request finished in time. */
  async stop(): Promise<boolean> {
    const { pools, config, tcpListeners } = this.#deps;
    const log = this.#log;
    const longLived = (): number => pools.reduce((n, p) => n + p.longLived, 0);
    log.info({ inflight: pools.reduce((n, p) => n + p.inflight, 0), longLived: longLived() }, 'shutting down: finishing in-flight requests');
    for (const l of this.#http) {
      l.handler.close();
      l.upgrades.close();
      // Stop accepting, but without http.Server#close()'s idle sweep: Node
      // counts a connection idle once res.end() was called, even while the
      // tail of that response is still queued for a slow client, and
      // destroying it then truncates the response. Idle keep-alive
      // connections stay until in-flight reaches 0 (a request on one gets
      // the 503 + Connection: close answer) and are closed below.
      NetServer.prototype.close.call(l.server);
    }
    for (const l of tcpListeners) l.close();
    for (const l of this.#tls) {
      l.handler.close();
      l.upgrades.close();
      l.tls.stopAccepting();
    }
    const deadline = config.shutdown.timeoutMs;
    const started = Date.now();
    const finished = (await Promise.all(pools.map((p) => p.waitIdle(deadline, 'requests')))).every(Boolean);
    if (!finished) log.warn({ inflight: pools.reduce((n, p) => n + p.inflight, 0) }, 'shutdown deadline reached; cutting remaining requests');
    // Long-lived (upgraded) connections have no natural end: they may finish
    // by themselves until the same deadline, then both of their sockets are
    // ended (destroyed CLOSE_GRACE_MS later at the latest). They do not make
    // a shutdown unclean: closing them is the expected outcome.
    if (longLived() > 0) {
      const left = Math.max(0, deadline - (Date.now() - started));
      await Promise.all(pools.map((p) => p.waitIdle(left)));
      const open = longLived();
      if (open > 0) {
        log.info({ longLived: open }, 'shutdown deadline reached; closing long-lived connections');
        for (const p of pools) p.closeLongLived('shutdown');
        await Promise.all(pools.map((p) => p.waitIdle(CLOSE_GRACE_MS + 500)));
      }
    }
    // In-flight counts a response until it is flushed, so nothing complete is cut here.
    for (const l of this.#http) {
      l.server.closeAllConnections();
      l.server.close(); // also stops http's connection-checking timer
    }
    for (const l of this.#tls) l.tls.closeAll();
    return finished;
  }

  #handlers(kind: 'public' | 'preview', proto: 'http' | 'https' = 'http', http2 = false): { handler: ProxyHandler; upgrades: UpgradeHandler } {
    const { config, router, unrouted, rate } = this.#deps;
    const ctx: ProxyContext = {
      kind,
      proto,
      http2,
      poolHeader: config.proxy.poolHeader,
      trustForwarded: config.proxy.trustForwardedHeaders,
      maxAttempts: 1 + config.proxy.retries,
      accessLog: config.log.access === 'off' ? 0 : config.log.access === 'on' ? 1 : config.log.sampleRate,
      log: this.#log.child({ component: 'proxy' }),
      maintenancePage: Buffer.from(config.maintenance.page),
      retryAfterSeconds: config.maintenance.retryAfterSeconds,
    };
    const upgradeSettings: UpgradeSettings = {
      protocols: config.proxy.upgradeProtocols,
      idleTimeoutMs: config.proxy.upgradeIdleTimeoutMs,
      maxAgeMs: config.proxy.maxConnectionAgeMs,
    };
    return { handler: new ProxyHandler(router, ctx, unrouted, rate), upgrades: new UpgradeHandler(router, ctx, upgradeSettings, unrouted, rate) };
  }

  #addHttp(kind: 'public' | 'preview', bind: HostPort): void {
    const proxy = this.#deps.config.proxy;
    const { handler, upgrades } = this.#handlers(kind);
    const server = createServer(
      {
        keepAliveTimeout: proxy.clientKeepAliveMs,
        headersTimeout: proxy.clientHeadersTimeoutMs,
        // Uploads and long downloads may legitimately take long; idle sockets are cut by `timeout` below.
        requestTimeout: 0,
      },
      handler.onRequest,
    );
    server.timeout = Math.max(proxy.idleTimeoutMs, proxy.firstByteTimeoutMs) + 1000;
    server.on('clientError', onClientError);
    upgrades.attach(server);
    this.#http.push({ kind, bind, handler, upgrades, server });
  }
}

/** onClientError — a malformed or timed-out request: a minimal answer when the socket can still take one. */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
  socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

function listen(server: Server, bind: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`cannot listen on ${bind.host}:${bind.port}: ${err.message}`));
    server.once('error', onError);
    server.listen(bind.port, bind.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** formatAddress — host:port with an IPv6 host in brackets. */
export function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
