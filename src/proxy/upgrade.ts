/**
 * proxy/upgrade — HTTP/1.1 Upgrade (WebSocket, and any protocol in
 * `proxy.upgradeProtocols`) on the public and preview listeners.
 *
 * One upgrade is one `Tunnel`: read the routing snapshot once, answer the fast
 * paths on the raw socket (shutting down, maintenance, no pool, no server),
 * pick a server with the pool's balancer, send the upgrade request upstream,
 * and on `101` hand the two sockets to a SocketSplice (net/splice.ts: both
 * ways with backpressure, half-close, idle timeout, max age). A non-101 answer is relayed as an ordinary response and
 * the connection closed. From the 101 on the tunnel is a long-lived connection
 * of its pool (pools/long-lived.ts): counted apart from in-flight requests,
 * closed by the pool's `onSwitch: drain` policy, `proxy.maxConnectionAgeMs`
 * and shutdown.
 *
 * Why undici (`dispatch` with `upgrade` on the server's own Pool) and not
 * `net.connect` plus a hand-written request: the handshake then shares the
 * HTTP path's connect timeout, first-byte timeout, error classes (so
 * classifyUpstreamError, shouldRetry and passive health apply unchanged) and
 * a real HTTP/1.1 parser for non-101 answers (chunked bodies, backpressure via
 * resume). undici hands the socket over on 101 and forgets it (its Client
 * reconnects for its next request), so upgraded sockets never count against
 * `maxConnectionsPerServer` and are not closed when a draining pool releases
 * its keep-alive connections: this module owns them. Cost, measured on this
 * 2-core box (loopback, a `ws` server in the same process, Node 20): ~175 µs
 * per sequential handshake through undici vs ~110–130 µs for a bare
 * net.connect + write that does not even parse the answer; ~6,500 vs ~8,700
 * handshakes/s at 50 concurrent. Paid once per connection; after the 101 both
 * variants move bytes between two plain sockets.
 *
 * Upgrade requests that are not proxied as tunnels — a protocol not in
 * `proxy.upgradeProtocols` (h2c from curl or Java's HttpClient), HTTP/1.0, or a
 * request with a body — are served as plain HTTP with the Upgrade header
 * ignored (RFC 9110 §7.8 lets a server do so): Node routes every request that
 * carries Upgrade to the 'upgrade' listener once one exists, so refusing them
 * would break requests that worked before this listener was added.
 *
 * Closing: Switchyard never writes WebSocket frames. A drain, max-age or
 * shutdown close ends both TCP connections (FIN after the queued bytes) and
 * destroys them CLOSE_GRACE_MS later at the latest; clients see close code
 * 1006 and reconnect — to the new live pool. A 1001 "going away" close frame
 * would need the proxy to track frame boundaries in both directions (a frame
 * injected mid-frame corrupts the stream) and to take part in the close
 * handshake the endpoints run themselves; that is frame parsing, which this
 * byte-level proxy deliberately does not do.
 */
import type { EventEmitter } from 'node:events';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { PickContext } from '../balancers/types.js';
import { classifyUpstreamError, ERROR_CATALOGUE, upstreamErrorKind, type ErrorCode } from '../errors.js';
import { SocketSplice, type SpliceCloseReason, type SpliceOwner, type SpliceSide } from '../net/splice.js';
import { CLOSE_GRACE_MS, type CloseReason, type LongLivedConnection } from '../pools/long-lived.js';
import type { ServerPool } from '../pools/pool.js';
import type { UpstreamServer } from '../pools/server.js';
import { countStatus, type PoolStats } from '../pools/stats.js';
import type { Router } from '../routing/router.js';
import type { ProxyContext } from './context.js';
import { downstreamHeaders, upstreamHeaders } from './headers.js';
import { shouldRetry } from './retry.js';

/** UpgradeSettings — the upgrade path's part of the config, resolved once per app. */
export interface UpgradeSettings {
  /** Lowercase protocols proxied as tunnels; "name" matches any version, "name/version" only that one. */
  readonly protocols: readonly string[];
  /** Close a tunnel after this long without a byte in either direction. */
  readonly idleTimeoutMs: number;
  /** Close a tunnel this long after its 101; undefined = no limit. */
  readonly maxAgeMs: number | undefined;
}

/**
 * selectProtocols — the client's Upgrade offer (RFC 9110 §7.8: a comma list
 * of protocol["/"version]) reduced to the allowed entries, in the client's
 * order and spelling; '' when none is allowed.
 */
export function selectProtocols(offer: string, allowed: readonly string[]): string {
  let out = '';
  for (const part of offer.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const lower = p.toLowerCase();
    const slash = lower.indexOf('/');
    const name = slash < 0 ? lower : lower.slice(0, slash);
    if (allowed.includes(lower) || (slash >= 0 && allowed.includes(name))) out = out === '' ? p : `${out}, ${p}`;
  }
  return out;
}

/**
 * tunnelProtocol — the protocols to ask the upstream for, or '' when this
 * request is not proxied as a tunnel (and is served as plain HTTP instead).
 */
export function tunnelProtocol(req: IncomingMessage, allowed: readonly string[]): string {
  // RFC 9110 §7.8: Upgrade in an HTTP/1.0 request must be ignored.
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return '';
  const h = req.headers;
  // A tunnel starts right after the request head: a request with a body is not asking for one (the upgrade
  // would only follow the body, and a WebSocket handshake never has one), so it is served as plain HTTP.
  if (h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')) return '';
  const offer = h.upgrade;
  return offer === undefined ? '' : selectProtocols(offer, allowed);
}

/**
 * switchingProtocolsHead — the 101 head for the client: the upstream's
 * headers minus hop-by-hop ones, with `Connection: Upgrade` and the
 * upstream's `Upgrade` (else the protocol asked for) restored — they are the
 * two hop-by-hop headers a 101 must carry.
 */
export function switchingProtocolsHead(raw: readonly (Buffer | string)[], requested: string): string {
  let upgrade: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 7 && name.toString('latin1').toLowerCase() === 'upgrade') upgrade = raw[i + 1]!.toString('latin1');
  }
  let head = 'HTTP/1.1 101 Switching Protocols\r\n';
  const headers = downstreamHeaders(raw);
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  return `${head}connection: Upgrade\r\nupgrade: ${upgrade ?? requested}\r\n\r\n`;
}

/** responseHead — an HTTP/1.1 response head that closes the connection (the socket is no longer an HTTP connection). */
export function responseHead(status: number, statusText: string, headers: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${statusText !== '' ? statusText : (STATUS_CODES[status] ?? 'Unknown')}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  return `${head}connection: close\r\n\r\n`;
}

/** localAnswer — the bytes of an answer Switchyard writes itself on a raw socket (same shape as proxy/status.ts). */
export function localAnswer(code: ErrorCode, retryAfterSeconds?: number, page?: Buffer): Buffer {
  const status = ERROR_CATALOGUE[code].statusCode;
  const body = page ?? Buffer.from(`${status} ${ERROR_CATALOGUE[code].description}\n`);
  const headers = [
    'content-type', page === undefined ? 'text/plain; charset=utf-8' : 'text/html; charset=utf-8',
    'content-length', String(body.length),
    'cache-control', 'no-store',
    'x-switchyard-error', code,
  ];
  if (retryAfterSeconds !== undefined) headers.push('retry-after', String(retryAfterSeconds));
  return Buffer.concat([Buffer.from(responseHead(status, '', headers), 'latin1'), body]);
}

/** writeAndClose — send `data`, then FIN; destroy CLOSE_GRACE_MS later if the client never closes its side. */
function writeAndClose(socket: Socket, data: Buffer): void {
  socket.on('error', destroySelf);
  socket.setTimeout(CLOSE_GRACE_MS, destroySelf);
  socket.end(data);
  // Discard anything the client still sends so its FIN is read and the socket can close.
  socket.resume();
}

function destroySelf(this: Socket): void {
  this.destroy();
}

/**
 * ReplayEvent — how a socket re-enters its server as a fresh HTTP connection:
 * 'connection' on a plain http.Server, 'secureConnection' on a TLS server (its
 * 'connection' would start a second TLS handshake on an already-decrypted socket).
 */
export type ReplayEvent = 'connection' | 'secureConnection';

/**
 * replayAsHttp — hand an upgrade request we do not tunnel back to the HTTP
 * server as plain HTTP: its head is rebuilt without `Upgrade` (so it is not
 * an upgrade again), put back in front of the bytes that followed it, and the
 * socket re-enters the server as a new connection (`'connection'` is the
 * documented way to inject one), where body, keep-alive and pipelining work
 * as usual. Header bytes round-trip: Node decodes them as latin1.
 */
function replayAsHttp(server: EventEmitter, event: ReplayEvent, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  let text = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 7 && name.toLowerCase() === 'upgrade') continue;
    text += `${name}: ${raw[i + 1]!}\r\n`;
  }
  const rebuilt = Buffer.from(`${text}\r\n`, 'latin1');
  socket.unshift(head.length === 0 ? rebuilt : Buffer.concat([rebuilt, head]));
  server.emit(event, socket);
}

/** originForm — the request target for undici: absolute-form reduced to its path, anything else not starting with "/" prefixed with it. */
function originForm(url: string | undefined): string {
  if (url === undefined || url === '') return '/';
  if (url.charCodeAt(0) === 47 /* / */) return url;
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return `/${url === '*' ? '' : url}`;
  }
}

/** UpgradeShared — what every tunnel of one listener reads. */
interface UpgradeShared {
  readonly ctx: ProxyContext;
  readonly settings: UpgradeSettings;
}

/** UpgradeHandler — the 'upgrade' listener of one proxy listener (public or preview). */
export class UpgradeHandler {
  readonly #router: Router;
  readonly #shared: UpgradeShared;
  readonly #unrouted: PoolStats;
  readonly #rate: { count: number };
  #server: EventEmitter | undefined;
  #replayEvent: ReplayEvent = 'connection';
  #closing = false;

  /** `rate.count` is bumped once per public upgrade, like a public request (the capacity warning's traffic rate). */
  constructor(router: Router, ctx: ProxyContext, settings: UpgradeSettings, unrouted: PoolStats, rate: { count: number }) {
    this.#router = router;
    this.#shared = { ctx, settings };
    this.#unrouted = unrouted;
    this.#rate = rate;
  }

  /** attach — listen for upgrades on `server` (the listener's http.Server; also where plain-HTTP fallbacks go back to). */
  attach(server: EventEmitter, replayEvent: ReplayEvent = 'connection'): void {
    this.#server = server;
    this.#replayEvent = replayEvent;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#handle(req, socket, head));
  }

  /** close — from now on answer 503 (shutdown); open tunnels are closed by their pools. */
  close(): void {
    this.#closing = true;
  }

  #handle(req: IncomingMessage, duplex: Duplex, head: Buffer): void {
    const shared = this.#shared;
    const protocol = tunnelProtocol(req, shared.settings.protocols);
    if (protocol === '') {
      replayAsHttp(this.#server as EventEmitter, this.#replayEvent, req, duplex, head);
      return;
    }
    // http.Server sockets are net.Sockets (tls.TLSSocket extends it).
    const socket = duplex as Socket;
    // Node removed its own listeners: from here on an 'error' with no listener would crash the process.
    if (this.#closing) {
      this.#local(socket, 'SY_ERR_SHUTTING_DOWN', 1);
      return;
    }
    const ctx = shared.ctx;
    const snapshot = this.#router.current;
    let pool: ServerPool | undefined;
    if (ctx.kind === 'public') {
      this.#rate.count++;
      if (snapshot.maintenance) {
        this.#local(socket, 'SY_ERR_MAINTENANCE', ctx.retryAfterSeconds, ctx.maintenancePage);
        return;
      }
      pool = snapshot.pickPool();
    } else {
      pool = snapshot.standby;
    }
    if (pool === undefined) {
      this.#local(socket, 'SY_ERR_NO_POOL', ctx.retryAfterSeconds);
      return;
    }
    const tunnel = new Tunnel(shared, req, socket, head, pool, protocol, snapshot.generation);
    const server = pool.pick(tunnel);
    if (server === undefined) {
      countStatus(pool.stats.localRequests, 503);
      writeAndClose(socket, localAnswer('SY_ERR_NO_SERVER', 1));
      return;
    }
    tunnel.start(server);
  }

  #local(socket: Socket, code: ErrorCode, retryAfterSeconds: number, page?: Buffer): void {
    countStatus(this.#unrouted.localRequests, ERROR_CATALOGUE[code].statusCode);
    writeAndClose(socket, localAnswer(code, retryAfterSeconds, page));
  }
}

// --- socket listeners until the 101 (the splice has its own after): module-level functions that find their
// tunnel through a symbol slot (no closures per tunnel) ---

const kTunnel = Symbol('switchyard.tunnel');

interface TunnelSocket extends Socket {
  [kTunnel]?: Tunnel;
}

function onClientDrain(this: TunnelSocket): void {
  this[kTunnel]?.clientDrained();
}
function onClientClose(this: TunnelSocket): void {
  this[kTunnel]?.clientClosed();
}
function onClientError(this: TunnelSocket): void {
  this[kTunnel]?.clientError();
}
function onClientTimeout(this: TunnelSocket): void {
  this[kTunnel]?.idle();
}

const enum Phase {
  /** Upgrade request sent (or being retried); nothing written to the client yet. */
  Handshake,
  /** A non-101 answer (the upstream's or our error) is going to the client; the connection closes after it. */
  Refused,
  /** 101 relayed: the splice moves bytes both ways. */
  Open,
  /** Both sockets closed, counts released. */
  Done,
}

/**
 * Tunnel — one upgrade request: its upstream attempts, then either the
 * spliced connection or a refusal. It is done once the upstream attempt is
 * over (undici called onUpgrade, onComplete or onError) and every socket it
 * owns has emitted 'close'; only then are its counts and timers released.
 */
class Tunnel implements Dispatcher.DispatchHandler, PickContext, LongLivedConnection, SpliceOwner {
  readonly headers: IncomingMessage['headers'];
  readonly remoteAddress: string | undefined;
  readonly generation: number;
  readonly #shared: UpgradeShared;
  readonly #req: IncomingMessage;
  readonly #client: TunnelSocket;
  readonly #head: Buffer;
  readonly #pool: ServerPool;
  readonly #protocol: string;
  readonly #startedAt = performance.now();
  #phase = Phase.Handshake;
  #server: UpstreamServer | undefined;
  /** Set at the 101: from then on it owns both sockets' events. */
  #splice: SocketSplice | undefined;
  #upstreamHeaders: string[] | undefined;
  #tried: UpstreamServer[] | undefined;
  #attempts = 0;
  /** The current attempt counts as a request in flight on its server. */
  #inflight = false;
  /** undici is finished with the current attempt (no more handler calls). */
  #attemptOver = false;
  #requestSent = false;
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #awaitingDrain = false;
  #status = 0;
  #code: ErrorCode | undefined;
  #clientClosed = false;
  /** Why the tunnel was cut before its 101 (an open one's reason is the splice's). */
  #closing: SpliceCloseReason | undefined;
  #openedAt = 0;
  #bytesIn = 0;
  #bytesOut = 0;

  constructor(shared: UpgradeShared, req: IncomingMessage, client: Socket, head: Buffer, pool: ServerPool, protocol: string, generation: number) {
    this.#shared = shared;
    this.#req = req;
    this.#client = client;
    this.#head = head;
    this.#pool = pool;
    this.#protocol = protocol;
    this.generation = generation;
    this.headers = req.headers;
    this.remoteAddress = client.remoteAddress;
  }

  /** start — first attempt on `server` (already picked by the pool). */
  start(server: UpstreamServer): void {
    const client = this.#client;
    client[kTunnel] = this;
    client.on('error', onClientError);
    client.on('close', onClientClose);
    client.on('timeout', onClientTimeout);
    // Replaces the HTTP server's socket timeout (its listener is gone): "no byte either way for this long" from now on.
    client.setTimeout(this.#shared.settings.idleTimeoutMs);
    this.#attempt(server);
  }

  #attempt(server: UpstreamServer): void {
    this.#server = server;
    this.#attempts++;
    this.#requestSent = false;
    this.#attemptOver = false;
    this.#abort = undefined;
    this.#pool.begin(server);
    this.#inflight = true;
    const ctx = this.#shared.ctx;
    this.#upstreamHeaders ??= upstreamHeaders(this.#req.rawHeaders, {
      clientIp: this.remoteAddress ?? '',
      proto: ctx.proto,
      poolHeader: ctx.poolHeader,
      pool: this.#pool.name,
      trustForwarded: ctx.trustForwarded,
    });
    // undici writes `connection: upgrade` and `upgrade: <protocol>` itself (it refuses both in `headers`).
    server.dispatcher.dispatch(
      { path: originForm(this.#req.url), method: this.#req.method ?? 'GET', headers: this.#upstreamHeaders, upgrade: this.#protocol, body: null },
      this,
    );
  }

  // --- undici handler (legacy callback API, as in proxy/forward.ts) ---

  onConnect(abort: (err?: Error) => void): void {
    if (this.#clientClosed) {
      abort();
      return;
    }
    this.#abort = abort;
    this.#requestSent = true;
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    this.#attemptOver = true;
    const upstream = socket as Socket;
    if (this.#clientClosed) {
      upstream.destroy();
      this.#endAttempt(499, false);
      this.#maybeDone();
      return;
    }
    this.#phase = Phase.Open;
    this.#openedAt = performance.now();
    const client = this.#client;
    const pool = this.#pool;
    const server = this.#server as UpstreamServer;
    const splice = new SocketSplice(this, client, upstream);
    this.#splice = splice;
    // Attach before the handshake's in-flight count drops, so the pool never looks idle in between.
    pool.attachLongLived(server, this);
    server.upgrades++;
    this.#endAttempt(statusCode, true);

    // The splice takes the client's events over: ours go first so that none is handled twice.
    client.off('error', onClientError);
    client.off('close', onClientClose);
    client.off('timeout', onClientTimeout);
    client[kTunnel] = undefined;
    client.write(switchingProtocolsHead(rawHeaders ?? [], this.#protocol), 'latin1');
    // Bytes the client sent after its request head belong to the new protocol: the splice sends them first.
    splice.start(this.#shared.settings, this.#head);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // interim answers are not relayed
    this.#phase = Phase.Refused;
    this.#status = statusCode;
    this.#resume = resume;
    this.#client.write(responseHead(statusCode, statusText, downstreamHeaders(rawHeaders)), 'latin1');
    return true;
  }

  onData(chunk: Buffer): boolean {
    const client = this.#client;
    if (client.write(chunk)) return true;
    // undici pauses the upstream socket until resume(); the client's 'drain' calls it.
    if (!this.#awaitingDrain) {
      this.#awaitingDrain = true;
      client.on('drain', onClientDrain);
    }
    return false;
  }

  onComplete(): void {
    this.#attemptOver = true;
    this.#endAttempt(this.#status, true);
    this.#endClient();
  }

  onError(err: Error): void {
    this.#attemptOver = true;
    const server = this.#server as UpstreamServer;
    if (this.#clientClosed) {
      this.#endAttempt(499, false);
      this.#maybeDone();
      return;
    }
    const code = classifyUpstreamError(err, this.#requestSent);
    server.stats.upstreamError(upstreamErrorKind(code));
    server.passive?.recordFailure(code);
    const ctx = this.#shared.ctx;
    if (ctx.log.isLevelEnabled('debug')) {
      ctx.log.debug({ pool: this.#pool.name, server: server.id, code, err: err.message, attempt: this.#attempts, upgrade: this.#protocol }, 'upstream upgrade attempt failed');
    }
    const answered = this.#phase === Phase.Refused;
    if (
      shouldRetry(code, {
        attempts: this.#attempts,
        maxAttempts: ctx.maxAttempts,
        requestSent: this.#requestSent,
        responseStarted: answered,
        clientGone: false,
        idempotent: this.#req.method === 'GET',
        bodyless: true,
      })
    ) {
      (this.#tried ??= []).push(server);
      const next = this.#pool.pickExcluding(this.#tried);
      if (next !== undefined) {
        this.#endAttempt(0, false);
        this.#pool.stats.retries.inc();
        this.#attempt(next);
        return;
      }
    }
    this.#code = code;
    if (answered) {
      // The upstream's head already went out: the only honest signal left is a cut connection.
      this.#endAttempt(this.#status, false);
      this.#client.destroy();
      return;
    }
    this.#phase = Phase.Refused;
    this.#endAttempt(ERROR_CATALOGUE[code].statusCode, false);
    this.#client.write(localAnswer(code));
    this.#endClient();
  }

  // --- the spliced connection (SpliceOwner) ---

  /** spliceIn — client → upstream bytes: this tunnel's and its pool's totals. */
  spliceIn(bytes: number): void {
    this.#bytesIn += bytes;
    this.#pool.upgradedBytesIn += bytes;
  }

  /** spliceOut — upstream → client bytes: this tunnel's and its pool's totals. */
  spliceOut(bytes: number): void {
    this.#bytesOut += bytes;
    this.#pool.upgradedBytesOut += bytes;
  }

  /** spliceError — a socket of the open tunnel failed: debug log only (the splice destroys both). */
  spliceError(side: SpliceSide, err: Error): void {
    const log = this.#shared.ctx.log;
    if (log.isLevelEnabled('debug')) log.debug({ pool: this.#pool.name, server: this.#server?.id, side, err: err.message }, 'upgraded connection error');
  }

  /** spliceClosed — both sockets of the open tunnel closed: release its counts and log it. */
  spliceClosed(reason: SpliceCloseReason | undefined): void {
    this.#closing ??= reason;
    this.#clientClosed = true;
    this.#maybeDone();
  }

  // --- before the 101 ---

  /** clientDrained — the client took what was queued: resume undici's relay of a refusal. */
  clientDrained(): void {
    if (!this.#awaitingDrain) return;
    this.#awaitingDrain = false;
    this.#client.off('drain', onClientDrain);
    this.#resume?.();
  }

  /** clientError — the client failed before the 101: it goes, and with it the upstream attempt. */
  clientError(): void {
    this.#destroy('error');
  }

  /** idle — before the 101: no byte for upgradeIdleTimeoutMs, or, refused, the client stopped reading. */
  idle(): void {
    this.#destroy('idle');
  }

  /** clientClosed — the client socket is gone before the 101 (or during a refusal). */
  clientClosed(): void {
    this.#clientClosed = true;
    // Still waiting for (or relaying) the upstream answer: abort it; onError finishes the attempt.
    // Without an abort handle undici has not written yet: onConnect aborts it.
    if (!this.#attemptOver && this.#abort !== undefined) this.#abort();
    this.#maybeDone();
  }

  /**
   * close — end both sides of an open tunnel (pools/long-lived.ts): FIN after
   * the queued bytes, anything still arriving is discarded, and the sockets
   * are destroyed CLOSE_GRACE_MS later if the peers have not closed by then.
   */
  close(reason: CloseReason): void {
    if (this.#closing === undefined) this.#splice?.close(reason);
  }

  #destroy(reason: SpliceCloseReason): void {
    this.#closing ??= reason;
    this.#client.destroy();
  }

  /** #endClient — a refusal is complete: FIN, discard what the client still sends, destroy if it lingers. */
  #endClient(): void {
    const client = this.#client;
    client.end();
    client.resume();
    client.setTimeout(CLOSE_GRACE_MS);
  }

  /** #endAttempt — the current attempt is over: in-flight −1 and, unless retried (status 0), its outcome counted. */
  #endAttempt(status: number, upstreamAnswered: boolean): void {
    if (!this.#inflight) return;
    this.#inflight = false;
    const server = this.#server as UpstreamServer;
    this.#pool.end(server);
    if (status === 0) return;
    this.#status = status;
    if (upstreamAnswered) {
      if (status >= 500) server.passive?.recordFailure(`status ${status}`);
      else server.passive?.recordSuccess();
    }
    if (status === 499) this.#pool.stats.clientAborts.inc();
    else countStatus(server.stats.requests, status);
  }

  /** #maybeDone — finish once undici is done with the attempt and the client (and, open, the upstream: the splice tells) closed. */
  #maybeDone(): void {
    if (this.#phase === Phase.Done || !this.#attemptOver || !this.#clientClosed) return;
    const wasOpen = this.#phase === Phase.Open;
    this.#phase = Phase.Done;
    this.#client[kTunnel] = undefined;
    const server = this.#server as UpstreamServer;
    if (wasOpen) this.#pool.detachLongLived(server, this);
    this.#log(server, wasOpen);
  }

  #log(server: UpstreamServer, wasOpen: boolean): void {
    const ctx = this.#shared.ctx;
    const access = ctx.accessLog !== 0 && (ctx.accessLog === 1 || Math.random() < ctx.accessLog);
    if (!access && !(wasOpen && ctx.log.isLevelEnabled('debug'))) return;
    const now = performance.now();
    ctx.log[access ? 'info' : 'debug'](
      {
        access,
        upgrade: this.#protocol,
        method: this.#req.method,
        url: this.#req.url,
        status: this.#status,
        pool: this.#pool.name,
        server: server.id,
        attempts: this.#attempts,
        ms: Math.round((wasOpen ? this.#openedAt - this.#startedAt : now - this.#startedAt) * 1e3) / 1e3,
        openMs: wasOpen ? Math.round(now - this.#openedAt) : undefined,
        bytesIn: this.#bytesIn,
        bytesOut: this.#bytesOut,
        closedBy: this.#closing ?? 'peer',
        client: this.remoteAddress,
        error: this.#code,
      },
      wasOpen ? 'upgraded connection closed' : 'upgrade refused',
    );
  }
}
