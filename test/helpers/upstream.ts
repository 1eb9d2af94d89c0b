/**
 * test/helpers/upstream — a real HTTP upstream for end-to-end tests, on
 * 127.0.0.1 port 0, with routes that make proxy behaviour observable:
 *
 * - `GET /healthz`        → `health` (default 200); not counted as a request
 * - `/slow?ms=N`          → answers `name` after N ms (timer cleared if the client leaves)
 * - `/hold`               → answers only on `release()`; `held()` resolves once one has arrived
 * - `POST /upload`        → consumes the body as a stream, answers `{"bytes":N,"name":…}`
 * - `GET /download?bytes=N` → streams N bytes in 64 KiB chunks, honouring backpressure
 * - `/status/NNN`         → answers status NNN (200–599)
 * - `/headers`            → `{"headers":…,"rawHeaders":…}` as received
 * - anything else         → 200, body `name`, header `x-upstream: name` (after the request body is read)
 *
 * Every non-health answer carries `x-upstream: name`. With `reset = true`
 * every non-health request has its socket destroyed without an answer (a crash
 * mid-request). `requests`, `requestsByPath` (keyed by path without query) and
 * `postsReceived` count arrivals, including ones that are then reset.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** TestUpstream — a running test upstream; counters and flags are plain fields tests read and set. */
export interface TestUpstream {
  readonly name: string;
  readonly port: number;
  /** "127.0.0.1:PORT" — what a config's `address` takes. */
  readonly address: string;
  /** Non-health requests that arrived (headers received), including reset ones. */
  requests: number;
  /** Non-health requests by path (no query string). */
  readonly requestsByPath: Map<string, number>;
  /** Status `GET /healthz` answers; set it to fail or recover health checks. */
  health: number;
  /** Health check requests (`GET /healthz`) received. */
  healthChecks: number;
  /** When true, every non-health request's socket is destroyed without a response. */
  reset: boolean;
  /** POST requests that arrived (headers received), on any path: proves a POST is never sent twice. */
  postsReceived: number;
  /** Headers of the last non-health request. */
  lastHeaders: IncomingHttpHeaders | undefined;
  /** held — resolves once at least `count` (default 1) /hold requests are waiting for release(). */
  held(count?: number): Promise<void>;
  /** release — answers every waiting /hold request (200, body = name). */
  release(): void;
  /** close — closes every connection and the server; safe to call twice. */
  close(): Promise<void>;
}

const CHUNK_SIZE = 64 * 1024;
const CHUNK = Buffer.alloc(CHUNK_SIZE, 0x78); // 'x'; never mutated, so one buffer serves every write

class Upstream implements TestUpstream {
  readonly name: string;
  port = 0;
  address = '';
  requests = 0;
  readonly requestsByPath = new Map<string, number>();
  health = 200;
  healthChecks = 0;
  reset = false;
  postsReceived = 0;
  lastHeaders: IncomingHttpHeaders | undefined;

  readonly #server: Server;
  readonly #holding = new Set<ServerResponse>();
  #holdWaiters: { count: number; resolve: () => void }[] = [];
  #closing: Promise<void> | undefined;

  constructor(name: string) {
    this.name = name;
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  async listen(host: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.#server.address() as AddressInfo).port;
    this.address = host.includes(':') ? `[${host}]:${this.port}` : `${host}:${this.port}`;
  }

  held(count = 1): Promise<void> {
    if (this.#holding.size >= count) return Promise.resolve();
    return new Promise<void>((resolve) => this.#holdWaiters.push({ count, resolve }));
  }

  release(): void {
    for (const res of this.#holding) this.#answer(res, 200, this.name);
    this.#holding.clear();
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
    return this.#closing;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://upstream.invalid');
    const path = url.pathname;
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      this.healthChecks += 1;
      req.resume();
      this.#answer(res, this.health, this.health < 400 ? 'ok' : 'unhealthy');
      return;
    }

    this.requests += 1;
    this.requestsByPath.set(path, (this.requestsByPath.get(path) ?? 0) + 1);
    this.lastHeaders = req.headers;
    if (req.method === 'POST') this.postsReceived += 1;
    // A client that goes away mid-body makes req emit 'error'; nothing to do.
    req.on('error', () => undefined);

    if (this.reset) {
      req.socket.destroy();
      return;
    }

    if (path === '/hold') {
      req.resume();
      this.#hold(res);
      return;
    }
    if (path === '/slow') {
      req.resume();
      const ms = Number(url.searchParams.get('ms') ?? '0');
      const timer = setTimeout(() => this.#answer(res, 200, this.name), Number.isFinite(ms) && ms > 0 ? ms : 0);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    if (path === '/upload' && req.method === 'POST') {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on('end', () => this.#json(res, { bytes, name: this.name }));
      return;
    }
    if (path === '/download' && (req.method === 'GET' || req.method === 'HEAD')) {
      req.resume();
      this.#download(res, Number(url.searchParams.get('bytes') ?? '0'));
      return;
    }
    const status = /^\/status\/(\d{3})$/.exec(path);
    if (status !== null) {
      req.resume();
      const code = Number(status[1]);
      if (code >= 200 && code <= 599) this.#answer(res, code, this.name);
      else this.#answer(res, 400, `status must be 200-599, got ${code}`);
      return;
    }
    if (path === '/headers') {
      req.resume();
      this.#json(res, { headers: req.headers, rawHeaders: req.rawHeaders });
      return;
    }
    req.resume();
    req.on('end', () => this.#answer(res, 200, this.name));
  }

  #hold(res: ServerResponse): void {
    this.#holding.add(res);
    res.on('close', () => this.#holding.delete(res));
    const ready = this.#holdWaiters.filter((w) => this.#holding.size >= w.count);
    this.#holdWaiters = this.#holdWaiters.filter((w) => this.#holding.size < w.count);
    for (const w of ready) w.resolve();
  }

  #download(res: ServerResponse, total: number): void {
    if (!Number.isSafeInteger(total) || total < 0) {
      this.#answer(res, 400, 'bytes must be a non-negative integer');
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(total),
      'x-upstream': this.name,
    });
    let left = total;
    const pump = (): void => {
      while (left > 0) {
        if (res.destroyed) return; // client went away; 'drain' will never come
        const n = Math.min(CHUNK_SIZE, left);
        left -= n;
        if (!res.write(n === CHUNK_SIZE ? CHUNK : CHUNK.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  }

  #answer(res: ServerResponse, status: number, body: string): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'text/plain', 'x-upstream': this.name }).end(body);
  }

  #json(res: ServerResponse, value: unknown): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': this.name }).end(JSON.stringify(value));
  }
}

/** startUpstream — starts a TestUpstream named `name` on `opts.host` (default 127.0.0.1), port 0. */
export async function startUpstream(name: string, opts: { host?: string } = {}): Promise<TestUpstream> {
  const upstream = new Upstream(name);
  await upstream.listen(opts.host ?? '127.0.0.1');
  return upstream;
}
