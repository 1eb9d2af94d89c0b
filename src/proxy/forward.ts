/**
 * proxy/forward — one proxied request: an `Exchange` is both the per-request
 * context and the undici dispatch handler, so a request costs one object and
 * no closures. Response bytes go straight from undici's onData into
 * `res.write`; a false return pauses the upstream socket until the client
 * drains (backpressure both ways: undici reads the request body as the
 * upstream accepts it).
 *
 * Listeners on `res` are module-level functions that find their Exchange
 * through a symbol-keyed slot, instead of closures allocated per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { classifyUpstreamError, ERROR_CATALOGUE, upstreamErrorKind, type ErrorCode } from '../errors.js';
import type { PickContext } from '../balancers/types.js';
import type { ServerPool } from '../pools/pool.js';
import type { UpstreamServer } from '../pools/server.js';
import { countStatus } from '../pools/stats.js';
import { downstreamHeaders, h2RequestHeaders, IDEMPOTENT_METHODS, upstreamHeaders } from './headers.js';
import { shouldRetry } from './retry.js';
import { sendLocal } from './status.js';
import type { ProxyContext } from './context.js';

const kExchange = Symbol('switchyard.exchange');

/** The part of node:http2's Http2ServerRequest the Exchange reads beyond IncomingMessage. */
interface H2Request {
  readonly stream: { readonly endAfterHeaders: boolean };
}

/** The part of node:http2's Http2ServerResponse the Exchange reads beyond ServerResponse. */
interface H2Response {
  readonly stream: { readonly rstCode: number | undefined };
}

/**
 * DumpableRequest — node:http's IncomingMessage has had `_dump()` (discard
 * the rest of the body, keep reading the connection) for as long as it has
 * existed; its own server calls it on unread bodies. It is not in the types.
 */
interface DumpableRequest {
  readonly _dump?: () => void;
}

interface ResponseWithExchange extends ServerResponse {
  [kExchange]?: Exchange;
}

// Attached only while the client is slower than the upstream (write() returned
// false), so the common fast response costs no 'drain' listener at all.
function onResponseDrain(this: ResponseWithExchange): void {
  this.off('drain', onResponseDrain);
  this[kExchange]?.resumeUpstream();
}

// 'close' follows 'finish' (one tick later) when the response was flushed, so
// one listener tells both outcomes apart without a second per-request listener.
function onResponseClose(this: ResponseWithExchange): void {
  const ex = this[kExchange];
  if (ex === undefined) return;
  if (this.writableFinished) ex.responseFlushed();
  else ex.clientClosed();
}

// node:http2's compat response emits 'finish' and 'close' however its stream
// ended, and reports writableFinished true even after the client reset the
// stream: only a stream closed with NO_ERROR (rstCode 0) after our end() was delivered.
function onH2ResponseClose(this: ResponseWithExchange): void {
  const ex = this[kExchange];
  if (ex === undefined) return;
  if (this.writableEnded && (this as unknown as H2Response).stream.rstCode === 0) ex.responseFlushed();
  else ex.clientClosed();
}

/** Exchange — one client request, its upstream attempts, and its answer. */
export class Exchange implements Dispatcher.DispatchHandler, PickContext {
  readonly req: IncomingMessage;
  readonly res: ResponseWithExchange;
  readonly pool: ServerPool;
  readonly ctx: ProxyContext;
  readonly headers: IncomingMessage['headers'];
  readonly remoteAddress: string | undefined;
  readonly startedAt: number;
  server: UpstreamServer | undefined;
  #tried: UpstreamServer[] | undefined;
  #attempts = 0;
  #upstreamHeaders: string[] | undefined;
  #bodyless: boolean;
  /** An HTTP/2 request (node:http2 compat objects): pseudo-headers, no status text, no Content-Length needed. */
  readonly #h2: boolean;
  #requestSent = false;
  #responseStarted = false;
  #clientGone = false;
  #finished = false;
  #upstreamComplete = false;
  #awaitingDrain = false;
  #inflight = false;
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #status = 0;

  constructor(ctx: ProxyContext, req: IncomingMessage, res: ServerResponse, pool: ServerPool) {
    this.ctx = ctx;
    this.req = req;
    this.res = res as ResponseWithExchange;
    this.pool = pool;
    this.headers = req.headers;
    this.remoteAddress = req.socket.remoteAddress;
    this.startedAt = performance.now();
    const h = req.headers;
    this.#h2 = ctx.http2 && req.httpVersionMajor === 2;
    // h2 has no Transfer-Encoding and Content-Length is optional: a stream without a
    // body is one whose HEADERS frame carried END_STREAM.
    this.#bodyless = this.#h2
      ? (req as unknown as H2Request).stream.endAfterHeaders
      : h['transfer-encoding'] === undefined && (h['content-length'] === undefined || h['content-length'] === '0');
  }

  /** start — first attempt on `server` (already picked by the pool). */
  start(server: UpstreamServer): void {
    const res = this.res;
    res[kExchange] = this;
    res.on('close', this.#h2 ? onH2ResponseClose : onResponseClose);
    this.#attempt(server);
  }

  #attempt(server: UpstreamServer): void {
    this.server = server;
    this.#attempts++;
    this.#requestSent = false;
    this.#abort = undefined;
    this.pool.begin(server);
    this.#inflight = true;
    const req = this.req;
    const ctx = this.ctx;
    this.#upstreamHeaders ??= upstreamHeaders(this.#h2 ? h2RequestHeaders(req.rawHeaders) : req.rawHeaders, {
      clientIp: this.remoteAddress ?? '',
      proto: ctx.proto,
      poolHeader: ctx.poolHeader,
      pool: this.pool.name,
      trustForwarded: ctx.trustForwarded,
    });
    server.dispatcher.dispatch(
      {
        path: requestPath(req.url),
        method: req.method ?? 'GET',
        headers: this.#upstreamHeaders,
        body: this.#bodyless ? null : req,
      },
      this,
    );
  }

  // --- undici handler (legacy callback API: undici 7's native, zero-wrapper form) ---

  onConnect(abort: (err?: Error) => void): void {
    if (this.#clientGone) {
      abort();
      return;
    }
    this.#abort = abort;
    this.#requestSent = true;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // interim responses are not relayed (Node answered 100-continue itself)
    this.#responseStarted = true;
    this.#status = statusCode;
    this.#resume = resume;
    const headers = downstreamHeaders(rawHeaders);
    if (this.#h2) {
      // h2 has no reason phrase, and node:http2 refuses some headers HTTP/1.1 allows
      // (a repeated single-value header): answer 502 rather than throw inside undici.
      try {
        this.res.writeHead(statusCode, headers);
      } catch (err) {
        this.#responseStarted = false;
        this.#abort?.(err as Error);
        return false;
      }
    } else if (statusText) this.res.writeHead(statusCode, statusText, headers);
    else this.res.writeHead(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.res;
    if (res.write(chunk)) return true;
    // undici pauses the upstream socket until resume(); 'drain' calls it.
    if (!this.#awaitingDrain) {
      this.#awaitingDrain = true;
      res.on('drain', onResponseDrain);
    }
    return false;
  }

  onComplete(): void {
    // The exchange stays in flight until the response is flushed (see
    // onResponseClose), not merely handed to res.end(): shutdown closes client
    // connections once nothing is in flight, and destroying a socket discards
    // what is still queued on it — the tail of the body for a slow client.
    this.#upstreamComplete = true;
    // An upstream may answer before it has read the whole request body (an
    // early 413 or 401 to an upload). undici then destroys the body stream —
    // the client's request — and node:http, whose parser can only push into
    // that stream, stops reading the client's connection for good: its next
    // request would hang. Node discards an unread body itself when a response
    // finishes first; doing so now, before undici's destroy, keeps the
    // connection usable. (HTTP/1 only: an h2 request is its own stream, and
    // ending it leaves the session serving; tested in e2e/http2.)
    if (!this.#bodyless && !this.#h2 && !this.req.complete) this.#discardRestOfBody();
    this.res.end();
  }

  #discardRestOfBody(): void {
    const dump = (this.req as DumpableRequest)._dump;
    if (typeof dump === 'function') dump.call(this.req);
    // Without it (a future Node), close the connection after this answer rather than leave it stuck.
    else this.res.shouldKeepAlive = false;
  }

  onError(err: Error): void {
    if (this.#finished) return;
    const server = this.server as UpstreamServer;
    if (this.#clientGone) {
      this.#finish(499, false);
      return;
    }
    const code = classifyUpstreamError(err, this.#requestSent);
    server.stats.upstreamError(upstreamErrorKind(code));
    server.passive?.recordFailure(code);
    if (this.ctx.log.isLevelEnabled('debug')) {
      this.ctx.log.debug({ pool: this.pool.name, server: server.id, code, err: err.message, attempt: this.#attempts }, 'upstream attempt failed');
    }
    if (
      shouldRetry(code, {
        attempts: this.#attempts,
        maxAttempts: this.ctx.maxAttempts,
        requestSent: this.#requestSent,
        responseStarted: this.#responseStarted,
        clientGone: this.#clientGone,
        idempotent: IDEMPOTENT_METHODS.has(this.req.method ?? 'GET'),
        bodyless: this.#bodyless,
      })
    ) {
      (this.#tried ??= []).push(server);
      const next = this.pool.pickExcluding(this.#tried);
      if (next !== undefined) {
        this.#endAttempt();
        this.pool.stats.retries.inc();
        this.#attempt(next);
        return;
      }
    }
    if (this.#responseStarted) {
      // Headers already went out: the only honest signal left is a cut connection.
      this.res.destroy();
      this.#finish(this.#status, false, code);
    } else {
      this.#finish(sendLocal(this.res, code), false, code);
    }
  }

  // --- downstream events ---

  /** resumeUpstream — the client drained; let undici read from the upstream again. */
  resumeUpstream(): void {
    this.#awaitingDrain = false;
    this.#resume?.();
  }

  /** responseFlushed — the whole upstream response reached the client's socket. */
  responseFlushed(): void {
    if (this.#upstreamComplete) this.#finish(this.#status, true);
  }

  /** clientClosed — the client went away before the response completed. */
  clientClosed(): void {
    if (this.#finished || this.#clientGone) return;
    this.#clientGone = true;
    if (this.#upstreamComplete) {
      // The upstream answered in full; only the delivery was cut: a client abort, not a server failure.
      this.#finish(499, true);
      return;
    }
    if (this.#abort !== undefined) this.#abort();
    // Without an abort handle undici has not written yet; onConnect will abort it.
  }

  #endAttempt(): void {
    if (this.#inflight) {
      this.#inflight = false;
      this.pool.end(this.server as UpstreamServer);
    }
  }

  #finish(status: number, upstreamAnswered: boolean, code?: ErrorCode): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#endAttempt();
    const server = this.server as UpstreamServer;
    const res = this.res;
    res[kExchange] = undefined;
    if (this.#awaitingDrain) res.off('drain', onResponseDrain);
    res.off('close', this.#h2 ? onH2ResponseClose : onResponseClose);
    if (upstreamAnswered) {
      if (status >= 500) server.passive?.recordFailure(`status ${status}`);
      else server.passive?.recordSuccess();
    }
    if (status !== 499) countStatus(server.stats.requests, status);
    else this.pool.stats.clientAborts.inc();
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.pool.stats.duration.observe(seconds);
    if (this.ctx.accessLog !== 0 && (this.ctx.accessLog === 1 || Math.random() < this.ctx.accessLog)) {
      this.ctx.log.info(
        {
          access: true,
          method: this.req.method,
          url: this.req.url,
          status,
          pool: this.pool.name,
          server: server.id,
          attempts: this.#attempts,
          ms: Math.round(seconds * 1e6) / 1e3,
          client: this.remoteAddress,
          error: code === undefined ? undefined : code,
          errorText: code === undefined ? undefined : ERROR_CATALOGUE[code].description,
        },
        'request',
      );
    }
  }
}

/**
 * requestPath — the origin-form path for undici. Absolute-form request targets
 * (`GET http://host/x`) are reduced to their path; anything else that does not
 * start with "/" (e.g. `OPTIONS *`) is sent as "/" plus the target.
 */
function requestPath(url: string | undefined): string {
  if (url === undefined || url === '') return '/';
  if (url.charCodeAt(0) === 47 /* / */) return url;
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return `/${url === '*' ? '' : url}`;
  }
}
