/**
 * bench/upstream — the target server, run in its own process so its CPU never
 * competes with the load generator's or the proxy's event loop (a proxy and
 * its upstream in one process would measure neither).
 *
 * Routes (any method; request bodies are drained before answering):
 * - `GET /1m`      → 1 MiB body (one shared buffer, content-length set)
 * - `GET /__stats` → `{"requests":N,"connections":N,"byPath":{…}}`, not counted itself;
 *                    `connections` counts TCP connections accepted, which shows
 *                    whether a proxy reuses its upstream connections
 * - anything else  → 200 with a fixed 100-byte body, keep-alive
 *
 * `/healthz` is answered like anything else (200) but not counted, so the
 * counts show only bench traffic. Prints `{"ready":true,"port":N,"pid":N}` on
 * stdout once listening. Usage: `node --import tsx bench/upstream.ts [name]`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const name = process.argv[2] ?? 'upstream';
/** Exactly 100 bytes: the "small response" every proxy benchmark compares on. */
const SMALL = Buffer.from(`${name}:`.padEnd(99, 'x') + '\n');
const ONE_MIB = Buffer.alloc(1024 * 1024, 0x79);
const SMALL_HEADERS = { 'content-type': 'text/plain', 'content-length': String(SMALL.length) };
const BIG_HEADERS = { 'content-type': 'application/octet-stream', 'content-length': String(ONE_MIB.length) };

let requests = 0;
let connections = 0;
const byPath = new Map<string, number>();

function answer(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '/';
  if (path === '/__stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ requests, connections, byPath: Object.fromEntries(byPath) }));
    return;
  }
  if (path !== '/healthz') {
    requests++;
    byPath.set(path, (byPath.get(path) ?? 0) + 1);
  }
  if (path === '/1m') res.writeHead(200, BIG_HEADERS).end(ONE_MIB);
  else res.writeHead(200, SMALL_HEADERS).end(SMALL);
}

/** onRequest — answer at once for bodyless requests, else after the body is drained (as a real app would). */
function onRequest(req: IncomingMessage, res: ServerResponse): void {
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
    answer(req, res);
    return;
  }
  req.on('error', () => undefined); // a client cut mid-body: nothing to answer
  req.on('end', () => answer(req, res));
  req.resume();
}

const server = createServer({ keepAliveTimeout: 30_000 }, onRequest);
server.on('connection', () => {
  connections++;
});
// Loopback load: the proxies' own idle timeouts (4–5 s) should be the ones that close sockets.
server.headersTimeout = 31_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, name, port, pid: process.pid })}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
