/**
 * bench/peers/fastify-http-proxy — @fastify/http-proxy (fastify + reply-from,
 * which forwards with undici) in front of one upstream, as the second
 * reference point: the closest existing Node stack to Switchyard's own
 * (node:http + undici). Default plugin options, logger off.
 *
 * Usage: `node --import tsx bench/peers/fastify-http-proxy.ts http://127.0.0.1:PORT`;
 * prints `{"ready":true,"port":N,"pid":N}` once listening.
 */
import fastifyHttpProxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';

const upstream = process.argv[2];
if (upstream === undefined) {
  process.stderr.write('usage: fastify-http-proxy.ts UPSTREAM_ORIGIN\n');
  process.exit(2);
}

const app = Fastify({ logger: false, keepAliveTimeout: 5_000, bodyLimit: 64 * 1024 * 1024 });
await app.register(fastifyHttpProxy, { upstream, http2: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address() as AddressInfo;
process.stdout.write(`${JSON.stringify({ ready: true, name: 'fastify-http-proxy', port, pid: process.pid })}\n`);
process.on('SIGTERM', () => {
  void app.close().finally(() => process.exit(0));
});
