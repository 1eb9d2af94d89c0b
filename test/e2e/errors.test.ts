import t from 'tap';
import type { Test } from 'tap';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startUpstream } from '../helpers/upstream.js';
import { startSwitchyard } from '../helpers/app.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { getState, metric, serverView } from '../helpers/observe.js';

// Active health checks are off unless a test is about them: a closed upstream
// would otherwise be marked down and answered with 503 before we could see 502.
const NO_HEALTH = { health: { enabled: false } };

/** closedAddress — an address that refuses connections: an upstream started, noted, closed. */
async function closedAddress(name: string): Promise<string> {
  const up = await startUpstream(name);
  const address = up.address;
  await up.close();
  return address;
}

/** rawUpstream — a TCP server that answers every connection with `script` (full control over the bytes). */
async function rawUpstream(t: Test, script: (socket: Socket) => void): Promise<string> {
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    // Wait for the request head before answering, as a real server does.
    socket.once('data', () => script(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Outcome {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly bytes: number;
  /** True when the response body ended normally (res.complete). */
  readonly complete: boolean;
  /** True when our own guard timer had to cut the request: the client was left hanging. */
  readonly hung: boolean;
}

/** fetchOutcome — GET url and report how the response ended (complete, cut, or hanging past guardMs). */
function fetchOutcome(url: string, guardMs = 5000): Promise<Outcome> {
  return new Promise<Outcome>((resolve, reject) => {
    let hung = false;
    const req = httpRequest(url, { agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      res.on('error', () => undefined);
      res.on('close', () => {
        clearTimeout(guard);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, complete: res.complete, hung });
      });
    });
    const guard = setTimeout(() => {
      hung = true;
      req.destroy();
    }, guardMs);
    req.on('error', (err) => {
      clearTimeout(guard);
      if (!hung) reject(err);
    });
    req.end();
  });
}

t.test('answers 502 with a short body and x-switchyard-error when every server of the pool refuses', async (t) => {
  const a = await closedAddress('blue-1');
  const b = await closedAddress('blue-2');
  const sy = await startSwitchyard(t, { blue: { servers: [a, b] } }, NO_HEALTH);
  const res = await request(`${sy.url}/anything`);
  t.equal(res.status, 502);
  t.equal(res.headers['x-switchyard-error'], 'SY_ERR_UPSTREAM_CONNECT');
  t.match(res.body, /^502 could not connect/, 'the body says what happened');
  t.ok(res.body.length < 200, 'the body is short');
  t.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)), 'with an exact Content-Length');
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(await metric(sy, 'switchyard_upstream_errors_total', { pool: 'blue', server: a, kind: 'connect' }), 1, 'first server tried once');
  t.equal(await metric(sy, 'switchyard_upstream_errors_total', { pool: 'blue', server: b, kind: 'connect' }), 1, 'second server tried once');
  t.equal((await getState(sy)).pools.blue?.inflight, 0, 'nothing left in flight');
});

t.test('answers 503 with Retry-After when every server of the pool is drained through the admin API', async (t) => {
  const ups = await Promise.all([startUpstream('blue-1'), startUpstream('blue-2')]);
  t.teardown(() => Promise.all(ups.map((u) => u.close())));
  const sy = await startSwitchyard(t, { blue: { servers: ups.map((u) => u.address) } }, NO_HEALTH);
  t.equal((await request(`${sy.url}/`)).status, 200, 'serves before the drain');
  for (const u of ups) {
    const res = await sy.api('POST', `/api/v1/pools/blue/servers/${u.address}/state`, { state: 'drain' });
    t.equal(res.status, 200, `drained ${u.name}`);
  }
  const before = ups.map((u) => u.requests);
  const res = await request(`${sy.url}/`);
  t.equal(res.status, 503);
  t.equal(res.headers['x-switchyard-error'], 'SY_ERR_NO_SERVER');
  t.match(res.headers['retry-after'], /^\d+$/, 'Retry-After tells the client when to come back');
  t.match(res.body, /^503 /);
  t.same(
    ups.map((u) => u.requests),
    before,
    'no drained server received the request',
  );
  t.equal((await getState(sy)).pools.blue?.usableServers, 0);

  await sy.api('POST', `/api/v1/pools/blue/servers/${ups[0]!.address}/state`, { state: 'ready' });
  t.equal((await request(`${sy.url}/`)).body, 'blue-1', 'a server made ready again serves at once');
});

t.test('answers 504 when the upstream sends no headers within firstByteTimeoutMs, and does not retry it', async (t) => {
  const ups = await Promise.all([startUpstream('blue-1'), startUpstream('blue-2')]);
  t.teardown(() => Promise.all(ups.map((u) => u.close())));
  const sy = await startSwitchyard(t, { blue: { servers: ups.map((u) => u.address) } }, { ...NO_HEALTH, proxy: { firstByteTimeoutMs: 200 } });
  const started = performance.now();
  const res = await request(`${sy.url}/hold`, { timeoutMs: 5000 });
  const ms = performance.now() - started;
  t.equal(res.status, 504);
  t.equal(res.headers['x-switchyard-error'], 'SY_ERR_UPSTREAM_HEADERS_TIMEOUT');
  t.match(res.body, /^504 /);
  t.ok(ms >= 150, `answered after the first-byte timeout, not before (${Math.round(ms)} ms)`);
  t.ok(ms < 4000, `answered well before the client gave up (${Math.round(ms)} ms)`);
  const holds = ups.reduce((n, u) => n + (u.requestsByPath.get('/hold') ?? 0), 0);
  t.equal(holds, 1, 'a timed-out request is not sent to a second server');
  await waitFor(async () => (await getState(sy)).pools.blue?.inflight === 0, { message: 'in-flight back to 0' });
  ups.forEach((u) => u.release());
});

t.test('cuts the client connection when the upstream resets after sending headers (Content-Length body)', async (t) => {
  const addr = await rawUpstream(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100000\r\n\r\n');
    socket.write('x'.repeat(1000), () => socket.destroy());
  });
  const sy = await startSwitchyard(t, { blue: { servers: [addr] } }, NO_HEALTH);
  const out = await fetchOutcome(`${sy.url}/`);
  t.equal(out.status, 200, 'the headers were relayed');
  t.equal(out.headers['content-length'], '100000');
  t.notOk(out.hung, 'the client is not left hanging');
  t.notOk(out.complete, 'the client sees an incomplete response');
  t.ok(out.bytes < 100000, `only part of the body arrived (${out.bytes} bytes)`);
  await waitFor(async () => (await getState(sy)).pools.blue?.inflight === 0, { message: 'in-flight back to 0' });
  t.equal(await metric(sy, 'switchyard_upstream_errors_total', { pool: 'blue', server: addr, kind: 'reset' }), 1, 'counted as an upstream reset');
});

t.test('cuts the client connection when the upstream resets mid chunked body, so the client cannot mistake it for a complete one', async (t) => {
  const addr = await rawUpstream(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n', () => socket.destroy());
  });
  const sy = await startSwitchyard(t, { blue: { servers: [addr] } }, NO_HEALTH);
  const out = await fetchOutcome(`${sy.url}/`);
  t.equal(out.status, 200);
  t.notOk(out.hung, 'the client is not left hanging');
  t.notOk(out.complete, 'no terminating chunk: the client knows the body is cut');
  t.equal(out.bytes, 5, 'what the upstream sent was relayed');
});

t.test('a client that aborts while waiting for the answer brings in-flight back to 0 and is not held against the server', async (t) => {
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  // One failure would eject: any abort wrongly counted as a server failure shows.
  const sy = await startSwitchyard(t, { blue: { servers: [up.address], passive: { consecutiveFailures: 1 } } }, NO_HEALTH);
  const req = httpRequest(`${sy.url}/hold`, { agent: false });
  req.on('error', () => undefined);
  req.end();
  await up.held();
  t.equal(serverView(await getState(sy), 'blue', up.address).inflight, 1, 'counted in flight while held');
  req.destroy();
  await waitFor(async () => (await getState(sy)).pools.blue?.inflight === 0, { message: 'in-flight back to 0 after the abort' });
  const s = serverView(await getState(sy), 'blue', up.address);
  t.equal(s.inflight, 0);
  t.equal(s.ejected, false, 'not ejected');
  t.equal(s.usable, true);
  for (const kind of ['connect', 'timeout', 'reset', 'protocol', 'other']) {
    t.equal(await metric(sy, 'switchyard_upstream_errors_total', { pool: 'blue', server: up.address, kind }), 0, `no ${kind} error counted`);
  }
  t.equal(await metric(sy, 'switchyard_client_aborts_total', { pool: 'blue' }), 1, 'counted as a client abort');
  t.equal((await request(`${sy.url}/`)).status, 200, 'the server still serves');
  up.release();
});

t.test('a client that aborts in the middle of its upload brings in-flight back to 0 and is not held against the server', async (t) => {
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  const sy = await startSwitchyard(t, { blue: { servers: [up.address], passive: { consecutiveFailures: 1 } } }, NO_HEALTH);
  const req = httpRequest(`${sy.url}/upload`, { method: 'POST', agent: false, headers: { 'content-length': String(8 * 1024 * 1024) } });
  req.on('error', () => undefined);
  req.write(Buffer.alloc(1024 * 1024, 1));
  await waitFor(() => up.postsReceived === 1, { message: 'the upload reached the upstream' });
  req.destroy();
  await waitFor(async () => (await getState(sy)).pools.blue?.inflight === 0, { message: 'in-flight back to 0 after the abort' });
  const s = serverView(await getState(sy), 'blue', up.address);
  t.equal(s.ejected, false, 'not ejected');
  t.equal(s.usable, true);
  for (const kind of ['connect', 'timeout', 'reset', 'protocol', 'other']) {
    t.equal(await metric(sy, 'switchyard_upstream_errors_total', { pool: 'blue', server: up.address, kind }), 0, `no ${kind} error counted`);
  }
  t.equal(await metric(sy, 'switchyard_client_aborts_total', { pool: 'blue' }), 1, 'counted as a client abort');
  t.equal((await request(`${sy.url}/`)).status, 200, 'the server still serves');
});

t.test('a slow upload taking longer than firstByteTimeoutMs is not cut: the timeout counts from the end of the request', async (t) => {
  const up = await startUpstream('blue-1');
  t.teardown(() => up.close());
  const sy = await startSwitchyard(t, { blue: { servers: [up.address] } }, { ...NO_HEALTH, proxy: { firstByteTimeoutMs: 200 } });
  const started = performance.now();
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(`${sy.url}/upload`, { method: 'POST', agent: false, headers: { 'content-length': '10' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => {
        body += s;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    // A client trickling its body: one byte every 80 ms, 10 bytes in all.
    let sent = 0;
    const timer = setInterval(() => {
      req.write('x');
      if (++sent === 10) {
        clearInterval(timer);
        req.end();
      }
    }, 80);
  });
  t.ok(performance.now() - started > 400, 'the upload took well over firstByteTimeoutMs');
  t.equal(answer.status, 200);
  t.same(JSON.parse(answer.body), { bytes: 10, name: 'blue-1' });
});
