/**
 * bench/lib/l4-upstreams — the upstreams of `npm run bench:l4`, one process
 * (`node --import tsx bench/lib/l4-upstreams.ts`), three listeners on 127.0.0.1:
 *
 * - TCP sink: counts every byte a connection sends; when the client half-closes
 *   (FIN) it answers with the count as 8 bytes (big-endian) and ends. The
 *   client's clock stops when that answer arrives, so a transfer is timed until
 *   the last byte has reached the upstream, not until it left the client.
 *   A connection that sends nothing (Switchyard's TCP health check) gets 0.
 * - TCP echo: writes back what it reads (pipe with backpressure).
 * - HTTP + WebSocket echo (`ws`, permessage-deflate off): `GET /healthz` → 200
 *   for Switchyard's health checks; a WebSocket echoes every message as sent.
 *
 * Prints one ready line: {"ready":true,"port":<sink>,"pid":…,"echoPort":…,"wsPort":…}.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';

function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : 0);
    });
  });
}

const sockets = new Set<Socket>();
function track(sock: Socket): void {
  sockets.add(sock);
  sock.once('close', () => sockets.delete(sock));
  sock.on('error', () => sock.destroy());
}

const sink = createServer({ allowHalfOpen: true }, (sock) => {
  track(sock);
  let bytes = 0;
  sock.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  sock.once('end', () => {
    const answer = Buffer.alloc(8);
    answer.writeBigUInt64BE(BigInt(bytes));
    sock.end(answer);
  });
});

const echo = createServer({ allowHalfOpen: true }, (sock) => {
  track(sock);
  sock.pipe(sock);
});

const http = createHttpServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' });
  res.end(req.url === '/healthz' ? 'ok\n' : 'not found\n');
});
http.keepAliveTimeout = 65_000;
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => {
    ws.send(data as Buffer, { binary: isBinary });
  });
});

const [port, echoPort, wsPort] = [await listen(sink), await listen(echo), await listen(http)];
process.stdout.write(`${JSON.stringify({ ready: true, port, pid: process.pid, name: 'l4-upstreams', echoPort, wsPort })}\n`);

function shutdown(): void {
  for (const s of sockets) s.destroy();
  for (const c of wss.clients) c.terminate();
  sink.close();
  echo.close();
  http.close();
  http.closeAllConnections();
  setTimeout(() => process.exit(0), 200).unref();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
