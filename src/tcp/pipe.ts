/**
 * tcp/pipe — one proxied TCP connection: connect to a server (retrying
 * another one when the connect fails — nothing was sent, so it is always
 * safe), then pipe bytes both ways with backpressure and half-close, under an
 * idle timeout. An error on either side destroys both; the connection is done
 * (counts released, timers cleared) once both sockets have emitted 'close'.
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
 * Socket listeners are module-level functions that find their connection
 * through a symbol slot, as in proxy/upgrade.ts: no closures per connection.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { PickContext } from '../balancers/types.js';
import type { UpstreamTlsConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { CLOSE_GRACE_MS, type CloseReason, type LongLivedConnection } from '../pools/long-lived.js';
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
function onClientData(this: ConnSocket, chunk: Buffer): void {
  this[kConn]?.fromClient(chunk);
}
function onUpstreamData(this: ConnSocket, chunk: Buffer): void {
  this[kConn]?.fromUpstream(chunk);
}
function onClientDrain(this: ConnSocket): void {
  this[kConn]?.clientDrained();
}
function onUpstreamDrain(this: ConnSocket): void {
  this[kConn]?.upstreamDrained();
}
function onClientEnd(this: ConnSocket): void {
  this[kConn]?.clientEnded();
}
function onUpstreamEnd(this: ConnSocket): void {
  this[kConn]?.upstreamEnded();
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
  this[kConn]?.timedOut(this);
}
/** tlsOptions — tls.connect options for one attempt; allowHalfOpen is honoured by tls.connect (Node passes it to the TLSSocket) but missing from @types/node. */
function tlsOptions(host: string, port: number, tls: UpstreamTlsConfig): ConnectionOptions {
  const options: ConnectionOptions & { allowHalfOpen: boolean } = { host, port, allowHalfOpen: true, ca: tls.ca, servername: tls.servername, rejectUnauthorized: true };
  return options;
}
function closeForAge(conn: TcpConnection): void {
  conn.close('max-age');
}
function destroyAfterGrace(conn: TcpConnection): void {
  conn.forceClose();
}

/** TcpConnection — one accepted client connection and its upstream attempts. */
export class TcpConnection implements LongLivedConnection, PickContext {
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
  /** The current server counts this connection in its `inflight` (connecting or open). */
  #inflight = false;
  #open = false;
  #clientClosed = false;
  /** True while there is no upstream socket, or once it closed. */
  #upstreamClosed = true;
  #closing: CloseReason | 'idle' | 'error' | undefined;
  #done = false;
  #ageTimer: NodeJS.Timeout | undefined;
  #graceTimer: NodeJS.Timeout | undefined;

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

  /** connected — the upstream accepted (and, over TLS, verified): attach to the main pool, write the PROXY header, start piping. */
  connected(): void {
    const up = this.#upstream as ConnSocket;
    const client = this.#client;
    const server = this.#server as UpstreamServer;
    const s = this.#settings;
    this.#open = true;
    server.passive?.recordSuccess();
    this.#pool.counters(server).connections++;
    this.#pool.main.attachLongLived(server, this);
    up.setTimeout(s.idleTimeoutMs);
    client.setTimeout(s.idleTimeoutMs);
    client.on('timeout', onSocketTimeout);
    up.setNoDelay(true);
    client.setNoDelay(true);
    if (s.proxyProtocol !== undefined) {
      const ends = { sourceAddress: client.remoteAddress, sourcePort: client.remotePort, destAddress: client.localAddress, destPort: client.localPort };
      up.write(s.proxyProtocol === 'v1' ? proxyHeaderV1(ends) : proxyHeaderV2(ends));
    }
    up.on('data', onUpstreamData);
    up.on('end', onUpstreamEnd);
    up.on('drain', onUpstreamDrain);
    client.on('data', onClientData);
    client.on('end', onClientEnd);
    client.on('drain', onClientDrain);
    if (s.maxAgeMs !== undefined) this.#ageTimer = setTimeout(closeForAge, s.maxAgeMs, this);
    client.resume();
  }

  /** fromClient — client → server; the client is paused while the server side is slower. */
  fromClient(chunk: Buffer): void {
    if (this.#closing !== undefined) return;
    this.#pool.bytesIn += chunk.length;
    if (!(this.#upstream as ConnSocket).write(chunk)) this.#client.pause();
  }

  /** fromUpstream — server → client; the upstream is paused while the client is slower. */
  fromUpstream(chunk: Buffer): void {
    if (this.#closing !== undefined) return;
    this.#pool.bytesOut += chunk.length;
    if (!this.#client.write(chunk)) this.#upstream?.pause();
  }

  /** clientDrained — the client took what was queued: read from the upstream again. */
  clientDrained(): void {
    if (this.#closing === undefined) this.#upstream?.resume();
  }

  /** upstreamDrained — the upstream took what was queued: read from the client again. */
  upstreamDrained(): void {
    if (this.#closing === undefined) this.#client.resume();
  }

  /** clientEnded — the client sent FIN: pass it on; the server may keep sending (half-close). */
  clientEnded(): void {
    if (this.#closing === undefined) this.#upstream?.end();
  }

  /** upstreamEnded — the server sent FIN: pass it on; the client may keep sending (half-close). */
  upstreamEnded(): void {
    if (this.#closing === undefined) this.#client.end();
  }

  /** socketError — before the upstream connected an upstream error is a connect failure; otherwise both sides go. */
  socketError(socket: Socket, err: NodeJS.ErrnoException): void {
    if (socket !== this.#client && !this.#open) {
      this.#connectFailed(err.code ?? err.message);
      return;
    }
    const log = this.#settings.log;
    if (this.#open && this.#closing === undefined && log.isLevelEnabled('debug')) {
      log.debug({ pool: this.#pool.name, server: this.#server?.id, side: socket === this.#client ? 'client' : 'upstream', err: err.message }, 'tcp connection error');
    }
    this.#destroy('error');
  }

  /** timedOut — on the upstream before it connected: the connect timeout; otherwise no byte either way for idleTimeoutMs. */
  timedOut(socket: Socket): void {
    if (socket !== this.#client && !this.#open) {
      this.#connectFailed(`timeout after ${this.#settings.connectTimeoutMs}ms`);
      return;
    }
    this.#destroy('idle');
  }

  /** clientClosed — the client socket is gone (any phase). */
  clientClosed(): void {
    this.#clientClosed = true;
    if (!this.#open) {
      // Still connecting: abandon the attempt (its 'close' finishes the connection); no verdict on the server.
      this.#upstream?.destroy();
      this.#maybeDone();
      return;
    }
    this.#afterClose(this.#client, this.#upstream);
  }

  /** upstreamClosed — the upstream socket is gone. */
  upstreamClosed(): void {
    this.#upstreamClosed = true;
    if (!this.#open) {
      // Only reached when the client left during the connect (failures detach the socket first).
      this.#endInflight();
      this.#maybeDone();
      return;
    }
    this.#afterClose(this.#upstream as ConnSocket, this.#client);
  }

  /** close — FIN both sides after their queued bytes, discard what still arrives, destroy CLOSE_GRACE_MS later (pools/long-lived.ts). */
  close(reason: CloseReason): void {
    if (!this.#open || this.#closing !== undefined || this.#done) return;
    this.#closing = reason;
    const client = this.#client;
    const up = this.#upstream as ConnSocket;
    client.end();
    up.end();
    client.resume();
    up.resume();
    this.#graceTimer = setTimeout(destroyAfterGrace, CLOSE_GRACE_MS, this);
  }

  /** forceClose — the grace period of a graceful close ran out. */
  forceClose(): void {
    this.#graceTimer = undefined;
    this.#destroy(this.#closing ?? 'error');
  }

  /** destroy — cut both sockets now (listener shutdown of connections that never opened). */
  destroy(): void {
    this.#destroy('shutdown');
  }

  #destroy(reason: CloseReason | 'idle' | 'error'): void {
    this.#closing ??= reason;
    this.#client.destroy();
    this.#upstream?.destroy();
  }

  /**
   * #afterClose — one side closed. A clean close (its FIN was read and passed
   * on, and ours to it flushed) leaves the other side to flush and close by
   * itself; any other close means the stream is broken: destroy the other.
   */
  #afterClose(closed: Socket, other: Socket | undefined): void {
    if (other !== undefined && !other.destroyed && !(closed.readableEnded && closed.writableFinished)) other.destroy();
    this.#maybeDone();
  }

  #endInflight(): void {
    if (!this.#inflight) return;
    this.#inflight = false;
    this.#pool.pool.end(this.#server as UpstreamServer);
  }

  #maybeDone(): void {
    if (this.#done || !this.#clientClosed || !this.#upstreamClosed) return;
    this.#done = true;
    if (this.#ageTimer !== undefined) clearTimeout(this.#ageTimer);
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    this.#ageTimer = this.#graceTimer = undefined;
    this.#client[kConn] = undefined;
    if (this.#upstream !== undefined) this.#upstream[kConn] = undefined;
    this.#endInflight();
    if (this.#open) this.#pool.main.detachLongLived(this.#server as UpstreamServer, this);
    this.#settings.done(this);
  }
}
