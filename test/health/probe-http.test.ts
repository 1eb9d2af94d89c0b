import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { probeHttp, statusExpected } from '../../src/health/probe-http.js';
import { connections, healthConfig, listen, until } from './fixtures/helpers.js';

t.test('is ok on a 200 and drains the body', async (t) => {
  const { server, port } = await listen(t, (_req, res) => res.end('x'.repeat(100_000)));
  const result = await probeHttp({ host: '127.0.0.1', port, health: healthConfig() });
  t.equal(result.ok, true);
  t.equal(result.statusCode, 200);
  t.equal(result.reason, 'status 200');
  t.ok(result.durationMs >= 0);
  await until(async () => (await connections(server)) === 0, 'no open connections');
});

t.test('sends GET to the health path with the default Host, its user agent and no keep-alive', async (t) => {
  let seen: { method?: string; url?: string; headers?: IncomingHttpHeaders } = {};
  const { port } = await listen(t, (req, res) => {
    seen = { method: req.method, url: req.url, headers: req.headers };
    res.end();
  });
  await probeHttp({ host: '127.0.0.1', port, health: healthConfig({ path: '/ping?deep=1' }) });
  t.equal(seen.method, 'GET');
  t.equal(seen.url, '/ping?deep=1');
  t.equal(seen.headers?.host, `127.0.0.1:${port}`);
  t.equal(seen.headers?.['user-agent'], 'switchyard-health');
  t.equal(seen.headers?.connection, 'close');
});

t.test('uses the configured Host header when health.host is set', async (t) => {
  let host: string | undefined;
  const { port } = await listen(t, (req, res) => {
    host = req.headers.host;
    res.end();
  });
  await probeHttp({ host: '127.0.0.1', port, health: healthConfig({ host: 'app.internal' }) });
  t.equal(host, 'app.internal');
});

t.test('opens a new connection for every probe', async (t) => {
  const ports = new Set<number>();
  const { port } = await listen(t, (req, res) => {
    ports.add(req.socket.remotePort ?? 0);
    res.end();
  });
  for (let i = 0; i < 3; i++) await probeHttp({ host: '127.0.0.1', port, health: healthConfig() });
  t.equal(ports.size, 3);
});

t.test('is not ok on a 500 and reports the status', async (t) => {
  const { port } = await listen(t, (_req, res) => {
    res.statusCode = 500;
    res.end('boom');
  });
  const result = await probeHttp({ host: '127.0.0.1', port, health: healthConfig() });
  t.equal(result.ok, false);
  t.equal(result.statusCode, 500);
  t.match(result.reason, /status 500 not in 200-399/);
});

t.test('accepts a status within any of several expectStatus ranges', async (t) => {
  let status = 418;
  const { port } = await listen(t, (_req, res) => {
    res.statusCode = status;
    res.end();
  });
  const health = healthConfig({ expectStatus: [{ min: 200, max: 204 }, { min: 418, max: 418 }] });
  t.equal((await probeHttp({ host: '127.0.0.1', port, health })).ok, true, '418 is in the second range');
  status = 204;
  t.equal((await probeHttp({ host: '127.0.0.1', port, health })).ok, true, '204 is in the first range');
  status = 302;
  const result = await probeHttp({ host: '127.0.0.1', port, health });
  t.equal(result.ok, false, '302 is in neither range');
  t.match(result.reason, 'not in 200-204,418');
});

t.test('statusExpected treats range bounds as inclusive', async (t) => {
  const ranges = [{ min: 200, max: 299 }];
  t.equal(statusExpected(200, ranges), true);
  t.equal(statusExpected(299, ranges), true);
  t.equal(statusExpected(300, ranges), false);
  t.equal(statusExpected(199, ranges), false);
  t.equal(statusExpected(200, []), false);
});

t.test('is not ok, without rejecting, when the port refuses connections', async (t) => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));

  const result = await probeHttp({ host: '127.0.0.1', port, health: healthConfig() });
  t.equal(result.ok, false);
  t.match(result.reason, /ECONNREFUSED/);
  t.equal(result.statusCode, undefined);
});

t.test('times out a server that never answers, within the timeout, and leaves no open connection', async (t) => {
  const { server, port } = await listen(t, () => {
    // never answers
  });
  const started = performance.now();
  const result = await probeHttp({ host: '127.0.0.1', port, health: healthConfig({ timeoutMs: 100 }) });
  const took = performance.now() - started;
  t.equal(result.ok, false);
  t.equal(result.reason, 'timeout after 100ms');
  t.ok(took >= 90, `took ${took.toFixed(1)}ms, not less than the timeout`);
  t.ok(took < 600, `took ${took.toFixed(1)}ms, close to the timeout`);
  await until(async () => (await connections(server)) === 0, 'no open connections');
});

t.test('decides on headers and still closes a connection whose body stalls', async (t) => {
  const { server, port } = await listen(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('partial');
    // the rest never comes
  });
  const result = await probeHttp({ host: '127.0.0.1', port, health: healthConfig({ timeoutMs: 100 }) });
  t.equal(result.ok, true);
  t.equal(result.statusCode, 200);
  await until(async () => (await connections(server)) === 0, 'no open connections');
});

t.test('resolves as aborted when the signal fires mid-probe, and closes the connection', async (t) => {
  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const { server, port } = await listen(t, () => arrived());
  const controller = new AbortController();
  const probe = probeHttp({ host: '127.0.0.1', port, health: healthConfig({ timeoutMs: 5000 }) }, controller.signal);
  await requestArrived;
  controller.abort();
  const result = await probe;
  t.equal(result.ok, false);
  t.equal(result.reason, 'aborted');
  await until(async () => (await connections(server)) === 0, 'no open connections');
});

t.test('resolves at once as aborted when the signal already fired', async (t) => {
  const controller = new AbortController();
  controller.abort();
  const result = await probeHttp({ host: '127.0.0.1', port: 1, health: healthConfig() }, controller.signal);
  t.same(result, { ok: false, reason: 'aborted', durationMs: 0 });
});

t.test('turns a malformed request into a failed verdict instead of throwing', async (t) => {
  const result = await probeHttp({ host: '127.0.0.1', port: 1, health: healthConfig({ path: '/has space' }) });
  t.equal(result.ok, false);
  t.match(result.reason, /invalid probe request/);
});
