/**
 * bench/peers/http-proxy — node-http-proxy (the most used Node reverse proxy)
 * in front of one upstream, as a reference point: "how does Switchyard compare
 * with what people would otherwise reach for". Keep-alive agent on, because
 * without one every request opens a new upstream connection and the
 * comparison would measure TCP handshakes, not the proxy.
 *
 * Usage: `node --import tsx bench/peers/http-proxy.ts http://127.0.0.1:PORT`;
 * prints `{"ready":true,"port":N,"pid":N}` once listening.
 */
import { Agent, createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import httpProxy from 'http-proxy';

const target = process.argv[2];
if (target === undefined) {
  process.stderr.write('usage: http-proxy.ts UPSTREAM_ORIGIN\n');
  process.exit(2);
}

const agent = new Agent({ keepAlive: true, maxSockets: 512, keepAliveMsecs: 4_000 });
const proxy = httpProxy.createProxyServer({ target, agent });
// node-http-proxy emits 'error' on the proxy and crashes the process when nobody listens (issue #898).
proxy.on('error', (_err: Error, _req: unknown, res: ServerResponse | Socket) => {
  if ('headersSent' in res && !res.headersSent) res.writeHead(502, { 'content-length': '0' }).end();
  else res.destroy();
});

const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => proxy.web(req, res));
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, name: 'http-proxy', port, pid: process.pid })}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  agent.destroy();
  process.exit(0);
});
