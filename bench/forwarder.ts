/**
 * bench/forwarder — the in-tree featureless baseline: node:http in front of one
 * undici Pool, `pool.dispatch` with a handler that writes straight into the
 * response. No routing snapshot, balancer, health, retries, metrics or header
 * rewriting beyond what HTTP/1.1 forces (hop-by-hop headers).
 *
 * Why it exists: "Switchyard vs direct" mixes two costs — the extra hop
 * (a second HTTP parse/serialise, a second socket pair, on a 2-core machine a
 * second process competing for CPU) and Switchyard's features. This process
 * pays only the first, so "Switchyard vs forwarder" is the price of the
 * features. It uses the same undici handler API (the legacy callback form)
 * and the same Pool options as Switchyard's `pools/server.ts`, so the two
 * differ in what they do per request, not in how they talk to undici.
 *
 * Usage: `node --import tsx bench/forwarder.ts http://127.0.0.1:PORT`; prints
 * `{"ready":true,"port":N,"pid":N}` once listening.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';

const origin = process.argv[2];
if (origin === undefined) {
  process.stderr.write('usage: forwarder.ts UPSTREAM_ORIGIN\n');
  process.exit(2);
}

// Same sizing as Switchyard's defaults (proxy.maxConnectionsPerServer, upstreamKeepAliveMs).
const pool = new Pool(origin, { connections: 512, pipelining: 1, keepAliveTimeout: 4_000, strictContentLength: false });

/** HOP_BY_HOP — headers that describe one connection and must not be forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);

function withoutHopByHop(raw: readonly (string | Buffer)[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = String(raw[i]);
    if (HOP_BY_HOP.has(key.toLowerCase())) continue;
    out.push(key, String(raw[i + 1]));
  }
  return out;
}

/** Forward — one request: the undici handler, writing each callback's data straight into `res`. */
class Forward implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  #resume: (() => void) | undefined;

  constructor(res: ServerResponse) {
    this.#res = res;
    // Backpressure is not a feature but correctness: without it a 1 MiB body is buffered whole.
    res.on('drain', () => this.#resume?.());
  }

  onConnect(): void {}

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.#resume = resume;
    if (statusCode < 200) return true;
    this.#res.writeHead(statusCode, withoutHopByHop(rawHeaders));
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.#res.write(chunk);
  }

  onComplete(): void {
    this.#res.end();
  }

  onError(): void {
    const res = this.#res;
    if (res.headersSent) res.destroy();
    else res.writeHead(502, { 'content-length': '0' }).end();
  }
}

function onRequest(req: IncomingMessage, res: ServerResponse): void {
  const h = req.headers;
  const bodyless = h['transfer-encoding'] === undefined && (h['content-length'] === undefined || h['content-length'] === '0');
  pool.dispatch(
    { path: req.url ?? '/', method: req.method ?? 'GET', headers: withoutHopByHop(req.rawHeaders), body: bodyless ? null : req },
    new Forward(res),
  );
}

const server = createServer({ keepAliveTimeout: 5_000 }, onRequest);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, name: 'forwarder', port, pid: process.pid })}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  void pool.destroy().finally(() => process.exit(0));
});
