/**
 * tcp/pipe — one proxied TCP connection: connect to a server (retrying
 * another one when the connect fails — nothing was sent, so it is always
 * safe), then hand both sockets to a SocketSplice (net/splice.ts: bytes both
 * ways with backpressure and half-close, idle timeout, max age, graceful
 * close). The connection is done (counts released, timers cleared) once both
 * sockets have emitted 'close'.
 *
 * Established connections are long-lived connections of the same-named main
 * pool (pools/long-lived.ts), attached only once the upstream connect
 * succeeded: the main pool's `onSwitch: drain`, `proxy.maxConnectionAgeMs`
 * and shutdown close them like WebSocket tunnels. The client socket is
 * accepted paused (`pauseOnConnect`), so no client byte is read before the
 * upstream is connected and the PROXY header, if any, is written first.
 *
 * A server with `tls: true` is reached with tls.connect (its CA and SNI name,
 * certificate always verified, no ALPN): the connection counts as connected
 * only at 'secureConnect', so a failed handshake is a connect failure like a
 * refused connect — counted, held against the server (passive ejection) and
 * retried on another server, which is safe because no client byte has been
 * read yet. The PROXY header, if any, is then the first thing written inside
 * the TLS stream (the server's TLS terminator must expect it there).
 *
 * Socket listeners (until the splice takes the sockets over) are
 * module-level functions that find their connection through a symbol slot,
 * as in net/splice.ts: no closures per connection.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { PickContext } from '../balancers/types.js';
import type { UpstreamTlsConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { SocketSplice, type SpliceCloseReason, type SpliceOwner, type SpliceSide } from '../net/splice.js';
import type { CloseReason, LongLivedConnection } from '../pools/long-lived.js';
import type { UpstreamServer } from '../pools/server.js';
import type { TcpPool } from './pool.js';
import { proxyHeaderV1, proxyHeaderV2 } from './proxy-protocol.js';

/** TcpSettings — what every connection of one listener reads. */
export interface TcpSettings {
  readonly listener: string;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxAgeMs: number | undefined;
  /** 1 + proxy.retries. */
  readonly maxAttempts: number;
  readonly proxyProtocol: 'v1' | 'v2' | undefined;
  readonly log: Logger;
  /** Told once a connection is done (the listener forgets it). */
  readonly done: (conn: TcpConnection) => void;
}

const kConn = Symbol('switchyard.tcp');

interface ConnSocket extends Socket {
  [kConn]?: TcpConnection;
}

/** NO_HEADERS — a byte stream has no request headers; the hash balancer falls back to the client address. */
const NO_HEADERS: PickContext['headers'] = Object.freeze({});

function onUpstreamConnect(this: ConnSocket): void {
  this[kConn]?.connected();
}
function onClientClose(this: ConnSocket): void {
  this[kConn]?.clientClosed();
}
function onUpstreamClose(this: ConnSocket): void {
  this[kConn]?.upstreamClosed();
}
function onSocketError(this: ConnSocket, err: Error): void {
  this[kConn]?.socketError(this, err);
}
function onSocketTimeout(this: ConnSocket): void {
  this[kConn]?.timedOut();
}
/** tlsOptions — tls.connect options for one attempt; allowHalfOpen is honoured by tls.connect (Node passes it to the TLSSocket) but missing from @types/node. */
function tlsOptions(host: string, port: number, tls: UpstreamTlsConfig): ConnectionOptions {
  const options: ConnectionOptions & { allowHalfOpen: boolean } = { host, port, allowHalfOpen: true, ca: tls.ca, servername: tls.servername, rejectUnauthorized: true };
  return options;
}

/** TcpConnection — one accepted client connection and its upstream attempts. */
export class TcpConnection implements LongLivedConnection, PickContext, SpliceOwner {
  readonly generation: number;
  readonly remoteAddress: string | undefined;
  readonly headers = NO_HEADERS;
  readonly #settings: TcpSettings;
  readonly #client: ConnSocket;
  readonly #pool: TcpPool;
  #server: UpstreamServer | undefined;
  #upstream: ConnSocket | undefined;
  #tried: UpstreamServer[] | undefined;
  #attempts = 0;
  /** The current server counts this connection in its `inflight` (while connecting). */
  #inflight = false;
  /** Set once the upstream connected: from then on it owns both sockets' events. */
  #splice: SocketSplice | undefined;
  #clientClosed = false;
  /** True while there is no upstream socket, or once it closed. */
  #upstreamClosed = true;
  /** Why the connection was cut before it opened (an open one's reason is the splice's). */
  #closing: SpliceCloseReason | undefined;
  #done = false;

  constructor(settings: TcpSettings, client: Socket, pool: TcpPool, generation: number) {
    this.#settings = settings;
    this.#client = client;
    this.#pool = pool;
    this.generation = generation;
    this.remoteAddress = client.remoteAddress;
    const c = this.#client;
    c[kConn] = this;
    // From here on every failure of the client socket is ours to handle: an 'error' with no listener crashes the process.
    c.on('error', onSocketError);
    c.on('close', onClientClose);
  }

  /** start — the first attempt, on `server` (picked by the pool's balancer). */
  start(server: UpstreamServer): void {
    this.#attempt(server);
  }

  #attempt(server: UpstreamServer): void {
    this.#server = server;
    this.#attempts++;
    this.#pool.pool.begin(server);
    this.#inflight = true;
    this.#upstreamClosed = false;
    const tls = server.tls;
    // rejectUnauthorized is never optional: a server that needs tls: true needs its CA configured, not skipped.
    const up: ConnSocket =
      tls === undefined
        ? connect({ host: server.host, port: server.port, allowHalfOpen: true })
        : tlsConnect(tlsOptions(server.host, server.port, tls));
    up[kConn] = this;
    this.#upstream = up;
    // Over TLS the upstream is usable (and the server proven) only once the handshake verified it.
    up.on(tls === undefined ? 'connect' : 'secureConnect', onUpstreamConnect);
    up.on('error', onSocketError);
    up.on('close', onUpstreamClose);
    up.on('timeout', onSocketTimeout);
    // The connect timeout; replaced by the idle timeout once connected.
    up.setTimeout(this.#settings.connectTimeoutMs);
  }

  /** #connectFailed — the attempt failed before any byte was sent: count it, then retry another server or close the client. */
  #connectFailed(reason: string): void {
    const up = this.#upstream as ConnSocket;
    const server = this.#server as UpstreamServer;
    // Detached first: the dead socket's own 'close' must not finish this connection.
    up[kConn] = undefined;
    up.destroy();
    this.#upstream = undefined;
    this.#upstreamClosed = true;
    this.#endInflight();
    this.#pool.counters(server).connectErrors++;
    server.passive?.recordFailure(`connect: ${reason}`);
    const s = this.#settings;
    if (s.log.isLevelEnabled('debug')) s.log.debug({ pool: this.#pool.name, server: server.id, reason, attempt: this.#attempts }, 'tcp connect failed');
    if (this.#clientClosed) {
      this.#maybeDone();
      return;
    }
    if (this.#attempts < s.maxAttempts) {
      (this.#tried ??= []).push(server);
      const next = this.#pool.pool.pickExcluding(this.#tried);
      if (next !== undefined) {
        this.#attempt(next);
        return;
      }
    }
    this.#client.destroy();
  }

  /** connected — the upstream accepted (and, over TLS, verified): attach to the main pool, write the PROXY header, hand both sockets to the splice. */
  connected(): void {
    const up = this.#upstream as ConnSocket;
    const client = this.#client;
    const server = this.#server as UpstreamServer;
    const s = this.#settings;
    // Open from here on (a close() is the splice's), as before attaching to the pool.
    const splice = new SocketSplice(this, client, up);
    this.#splice = splice;
    server.passive?.recordSuccess();
    this.#pool.counters(server).connections++;
    this.#pool.main.attachLongLived(server, this);
    // From connecting to established: the connection now counts as long-lived, no longer in
    // flight, so least-conn weighs each connection once (inflight + longLived), as for WebSockets.
    this.#endInflight();
    // The splice takes the sockets' events over: ours go first so that none is handled twice.
    up.off('error', onSocketError);
    up.off('close', onUpstreamClose);
    up.off('timeout', onSocketTimeout);
    client.off('error', onSocketError);
    client.off('close', onClientClose);
    up[kConn] = undefined;
    client[kConn] = undefined;
    if (s.proxyProtocol !== undefined) {
      const ends = { sourceAddress: client.remoteAddress, sourcePort: client.remotePort, destAddress: client.localAddress, destPort: client.localPort };
      up.write(s.proxyProtocol === 'v1' ? proxyHeaderV1(ends) : proxyHeaderV2(ends));
    }
    splice.start(s);
  }

  /** spliceIn — client → server bytes (SpliceOwner). */
  spliceIn(bytes: number): void {
    this.#pool.bytesIn += bytes;
  }

  /** spliceOut — server → client bytes (SpliceOwner). */
  spliceOut(bytes: number): void {
    this.#pool.bytesOut += bytes;
  }

  /** spliceError — a socket of the open connection failed (SpliceOwner): debug log only. */
  spliceError(side: SpliceSide, err: Error): void {
    const log = this.#settings.log;
    if (log.isLevelEnabled('debug')) log.debug({ pool: this.#pool.name, server: this.#server?.id, side, err: err.message }, 'tcp connection error');
  }

  /** spliceClosed — both sockets of the open connection closed (SpliceOwner). */
  spliceClosed(): void {
    this.#clientClosed = true;
    this.#upstreamClosed = true;
    this.#maybeDone();
  }

  /** socketError — before the upstream connected (the splice handles errors after): an upstream error is a connect failure, a client error ends both. */
  socketError(socket: Socket, err: NodeJS.ErrnoException): void {
    if (socket !== this.#client) {
      this.#connectFailed(err.code ?? err.message);
      return;
    }
    this.#destroy('error');
  }

  /** timedOut — the connect timeout (the upstream's only 'timeout' listener until it connected). */
  timedOut(): void {
    this.#connectFailed(`timeout after ${this.#settings.connectTimeoutMs}ms`);
  }

  /** clientClosed — the client socket is gone while the upstream was still connecting. */
  clientClosed(): void {
    this.#clientClosed = true;
    // Abandon the attempt (its 'close' finishes the connection); no verdict on the server.
    this.#upstream?.destroy();
    this.#maybeDone();
  }

  /** upstreamClosed — the upstream socket is gone before it connected. */
  upstreamClosed(): void {
    // Only reached when the client left during the connect (failures detach the socket first).
    this.#upstreamClosed = true;
    this.#endInflight();
    this.#maybeDone();
  }

  /** close — FIN both sides after their queued bytes, discard what still arrives, destroy CLOSE_GRACE_MS later (pools/long-lived.ts). */
  close(reason: CloseReason): void {
    // Before the upstream connected there is nothing to close gracefully (and the connection is not attached yet).
    if (this.#closing === undefined) this.#splice?.close(reason);
  }

  /** destroy — cut both sockets now (listener shutdown; also of connections that never opened). */
  destroy(): void {
    this.#destroy('shutdown');
  }

  #destroy(reason: SpliceCloseReason): void {
    const splice = this.#splice;
    if (splice !== undefined) {
      splice.destroy(reason);
      return;
    }
    this.#closing ??= reason;
    this.#client.destroy();
    this.#upstream?.destroy();
  }

  #endInflight(): void {
    if (!this.#inflight) return;
    this.#inflight = false;
    this.#pool.pool.end(this.#server as UpstreamServer);
  }

  #maybeDone(): void {
    if (this.#done || !this.#clientClosed || !this.#upstreamClosed) return;
    this.#done = true;
    this.#client[kConn] = undefined;
    if (this.#upstream !== undefined) this.#upstream[kConn] = undefined;
    this.#endInflight();
    if (this.#splice !== undefined) this.#pool.main.detachLongLived(this.#server as UpstreamServer, this);
    this.#settings.done(this);
  }
}
