/**
 * tls/listener — one listen.https entry: an https.Server, or an
 * http2.createSecureServer with allowHTTP1 when h2 is offered (ALPN picks per
 * connection), both with the same request handler as the plain listener and
 * WebSocket upgrades on the HTTP/1.1 side. Certificates come from a CertSet
 * (SNI) and are swapped on reload without touching open connections.
 *
 * Connections are tracked here (every TLS socket, h1 or h2) because an
 * http2 server has no closeAllConnections(): shutdown must be able to end
 * them itself once nothing is in flight.
 */
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpsListenerConfig } from '../config/types.js';
import { CertSet } from './certs.js';
import { secureOptions } from './pem.js';

/** ClientTimeouts — the client-side timeouts a plain listener uses, applied to the HTTP/1.1 side too. */
export interface ClientTimeouts {
  readonly keepAliveTimeout: number;
  readonly headersTimeout: number;
  /** Socket (h1) / session (h2) idle timeout. */
  readonly idleTimeout: number;
}

/** TlsListenerHandlers — the request listener and the upgrade attach of the listener's ProxyHandler/UpgradeHandler. */
export interface TlsListenerHandlers {
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  attachUpgrades(server: TlsServer): void;
}

/** TlsListener — a bound (or bindable) TLS proxy listener. */
export class TlsListener {
  readonly config: HttpsListenerConfig;
  readonly server: TlsServer;
  readonly certs: CertSet;
  readonly #sockets = new Set<Socket>();
  readonly #sessions = new Set<Http2Session>();

  /** Reads the certificate files now (a PemError when one is unusable). */
  constructor(config: HttpsListenerConfig, handlers: TlsListenerHandlers, timeouts: ClientTimeouts) {
    this.config = config;
    const certs = new CertSet(config);
    this.certs = certs;
    const tlsOptions = {
      ...secureOptions(config),
      cert: certs.defaultPem.cert,
      key: certs.defaultPem.key,
      SNICallback: certs.sniCallback,
    };
    let server: TlsServer;
    if (config.http2) {
      // node:http2's compat request/response mirror http's closely enough for
      // the Exchange (see proxy/forward.ts for the differences it handles).
      const onRequest = handlers.onRequest as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void;
      const h2 = createSecureServer({ ...tlsOptions, allowHTTP1: true }, onRequest);
      h2.on('session', (session: Http2Session) => {
        this.#sessions.add(session);
        session.once('close', () => this.#sessions.delete(session));
      });
      h2.setTimeout(timeouts.idleTimeout);
      // The HTTP/1.1 side is served by node:http's connection handler, which reads these from the server.
      Object.assign(h2, { keepAliveTimeout: timeouts.keepAliveTimeout, headersTimeout: timeouts.headersTimeout, requestTimeout: 0 });
      server = h2;
    } else {
      const https = createHttpsServer(
        { ...tlsOptions, keepAliveTimeout: timeouts.keepAliveTimeout, headersTimeout: timeouts.headersTimeout, requestTimeout: 0 },
        handlers.onRequest,
      );
      https.timeout = timeouts.idleTimeout;
      server = https;
    }
    server.on('secureConnection', (socket: TLSSocket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    // A failed handshake (TLS 1.1 client, no shared cipher, scanner) is the client's problem: never crash, never log per attempt.
    server.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
    handlers.attachUpgrades(server);
    certs.attach(server);
    this.server = server;
  }

  /** listen — bind; rejects with the address in the message. */
  listen(): Promise<string> {
    const { host, port } = this.config.bind;
    const server = this.server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        const a = server.address() as AddressInfo;
        resolve(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
      });
    });
  }

  /**
   * stopAccepting — no new connections; h2 sessions get a GOAWAY (session.close
   * lets their open streams finish) so clients open new streams elsewhere.
   */
  stopAccepting(): void {
    // net.Server#close only: the same reasoning as the plain listener (app.ts) —
    // never sweep connections whose last response may still be queued.
    if (this.server.listening) NetServer.prototype.close.call(this.server);
    for (const session of this.#sessions) session.close();
  }

  /** closeAll — end every connection still open (shutdown, once nothing is in flight). */
  closeAll(): void {
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
  }
}
