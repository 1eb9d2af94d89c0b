/**
 * WebSocket (HTTP/1.1 Upgrade) through Switchyard end to end: real `ws`
 * clients and servers on 127.0.0.1, the product's own state and metrics as
 * the witness. Waits are on events or polls with a deadline, never sleeps.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { startSwitchyard, type SwitchyardUnderTest } from '../helpers/app.js';
import { freePort } from '../helpers/http.js';
import { getState, metric } from '../helpers/observe.js';
import { startUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { closed, echo, nextMessage, openWs, refusedWs, startWsUpstream, wsUrl } from '../helpers/ws.js';

const MiB = 1024 * 1024;

interface LongLivedView {
  readonly status: string;
  readonly inflight: number;
  readonly longLived: number;
  readonly servers: readonly { readonly id: string; readonly longLived: number; readonly inflight: number }[];
}

async function poolView(sy: SwitchyardUnderTest, pool: string): Promise<LongLivedView> {
  const p = (await getState(sy)).pools[pool];
  if (p === undefined) throw new Error(`no pool ${pool}`);
  return p as unknown as LongLivedView;
}

/** rawExchange — write `text` on a fresh TCP connection and collect everything until the server closes it. */
async function rawExchange(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(text);
  socket.setTimeout(10_000, () => socket.destroy(new Error('no close within 10 s')));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

t.test('a WebSocket echoes through the proxy, with forwarding headers and the pool header upstream', async (t) => {
  const blue = await startWsUpstream('blue-1');
  const green = await startWsUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] }, green: { servers: [green.address] } });
  const { ws, headers } = await openWs(wsUrl(sy.url, '/chat?room=1'), {
    headers: { 'x-switchyard-pool': 'green', 'x-forwarded-for': '10.0.0.1' },
    protocols: ['chat.v2', 'chat.v1'],
  });
  t.teardown(() => ws.terminate());
  t.equal(headers['x-upstream'], 'blue-1', 'the live pool answered the handshake');
  t.equal(headers.connection, 'Upgrade');
  t.equal(headers.upgrade, 'websocket');
  t.equal(ws.protocol, 'chat.v2', 'the negotiated subprotocol (Sec-WebSocket-Protocol) came back');
  t.equal(await echo(ws, 'hello'), 'hello');
  t.equal(await echo(ws, 'who'), 'blue-1');
  const h = blue.lastHeaders ?? {};
  t.equal(h['x-switchyard-pool'], 'blue', 'pool header set, the client copy dropped');
  t.equal(h['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
  t.equal(h['x-forwarded-proto'], 'http');
  t.equal(h.upgrade, 'websocket');
  t.match(h.connection, /upgrade/i);
  t.ok(h['sec-websocket-key'], 'end-to-end WebSocket headers kept');
  t.equal(h['sec-websocket-protocol'], 'chat.v2,chat.v1', 'the subprotocol offer of the client');

  const state = await poolView(sy, 'blue');
  t.match(state, { status: 'live', inflight: 0, longLived: 1, servers: [{ longLived: 1, inflight: 0 }] }, 'state counts the open connection as long-lived, not in flight');
  t.equal(await metric(sy, 'switchyard_open_upgraded_connections', { pool: 'blue' }), 1);
  t.equal(await metric(sy, 'switchyard_upgraded_connections_total', { pool: 'blue', server: blue.address }), 1);
  t.equal(await metric(sy, 'switchyard_requests_total', { pool: 'blue', server: blue.address, code_class: '1xx' }), 1, 'the 101 counts as an answered request');

  ws.close(1000, 'bye');
  t.equal(await closed(ws), 1000, 'a clean close handshake passes through');
  await waitFor(async () => (await poolView(sy, 'blue')).longLived === 0, { message: 'long-lived count back to 0' });
  t.ok((await metric(sy, 'switchyard_upgraded_bytes_total', { pool: 'blue', direction: 'in' })) > 0, 'bytes in counted');
  t.ok((await metric(sy, 'switchyard_upgraded_bytes_total', { pool: 'blue', direction: 'out' })) > 0, 'bytes out counted');
});

t.test('8 MiB messages go through both ways intact', async (t) => {
  const blue = await startWsUpstream('blue-1');
  t.teardown(() => blue.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] } });
  const { ws } = await openWs(wsUrl(sy.url));
  t.teardown(() => ws.terminate());
  const payload = randomBytes(8 * MiB);
  const started = performance.now();
  for (let i = 0; i < 2; i++) {
    const reply = nextMessage(ws);
    ws.send(payload, { binary: true });
    const got = await reply;
    t.ok(got.isBinary, 'binary stays binary');
    t.equal(got.data.length, payload.length, `round ${i + 1}: all ${payload.length} bytes came back`);
    t.ok(got.data.equals(payload), `round ${i + 1}: byte for byte`);
  }
  const text = 'x'.repeat(8 * MiB);
  t.equal(await echo(ws, text), text, 'an 8 MiB text message too');
  t.comment(`3 round trips of 8 MiB in ${Math.round(performance.now() - started)} ms`);
  const bytesIn = await metric(sy, 'switchyard_upgraded_bytes_total', { pool: 'blue', direction: 'in' });
  t.ok(bytesIn >= 24 * MiB, `bytes in ≥ 24 MiB (${bytesIn})`);
});

t.test('the preview listener routes upgrades to the standby pool', async (t) => {
  const blue = await startWsUpstream('blue-1');
  const green = await startWsUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] }, green: { servers: [green.address] } });
  const { ws, headers } = await openWs(wsUrl(sy.previewUrl as string));
  t.teardown(() => ws.terminate());
  t.equal(headers['x-upstream'], 'green-1');
  t.equal(await echo(ws, 'who'), 'green-1');
  t.equal(green.lastHeaders?.['x-switchyard-pool'], 'green');
  t.match(await poolView(sy, 'green'), { status: 'draining', longLived: 1 }, 'a standby pool with an open connection is not idle');
  ws.terminate();
  await waitFor(async () => (await poolView(sy, 'green')).status === 'idle', { message: 'green idle once the preview socket closed' });
});

t.test('a non-101 upstream answer is passed back as a normal response and the connection closed', async (t) => {
  const blue = await startWsUpstream('blue-1');
  t.teardown(() => blue.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] } });
  const res = await refusedWs(wsUrl(sy.url, '/refuse'));
  t.equal(res.status, 403);
  t.equal(res.body, 'refused by blue-1');
  t.equal(res.headers['x-upstream'], 'blue-1');
  t.equal(res.headers.connection, 'close');
  t.equal(await metric(sy, 'switchyard_requests_total', { pool: 'blue', server: blue.address, code_class: '4xx' }), 1);
  await waitFor(async () => {
    const p = await poolView(sy, 'blue');
    return p.inflight === 0 && p.longLived === 0;
  }, { message: 'nothing left in flight' });
  t.equal(await metric(sy, 'switchyard_upgraded_connections_total', { pool: 'blue', server: blue.address }), 0, 'not counted as an upgrade');
});

t.test('maintenance mode refuses upgrades with 503 and Retry-After; the preview listener still upgrades', async (t) => {
  const blue = await startWsUpstream('blue-1');
  const green = await startWsUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] }, green: { servers: [green.address] } }, { maintenance: { retryAfterSeconds: 30 } });
  t.equal((await sy.api('POST', '/api/v1/maintenance', { enabled: true })).status, 200);
  const res = await refusedWs(wsUrl(sy.url));
  t.equal(res.status, 503);
  t.equal(res.headers['retry-after'], '30');
  t.equal(res.headers['x-switchyard-error'], 'SY_ERR_MAINTENANCE');
  t.match(res.body, /maintenance/i, 'the maintenance page');
  t.equal(blue.upgrades, 0, 'nothing reached the upstream');
  const { ws } = await openWs(wsUrl(sy.previewUrl as string));
  t.equal(await echo(ws, 'who'), 'green-1');
  ws.terminate();
});

t.test('no usable server answers 503 SY_ERR_NO_SERVER; no standby pool on preview answers 503 SY_ERR_NO_POOL', async (t) => {
  const blue = await startWsUpstream('blue-1');
  const green = await startWsUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] }, green: { servers: [green.address] } });
  t.equal((await sy.api('POST', `/api/v1/pools/blue/servers/${blue.address}/state`, { state: 'maint' })).status, 200);
  const none = await refusedWs(wsUrl(sy.url));
  t.equal(none.status, 503);
  t.equal(none.headers['x-switchyard-error'], 'SY_ERR_NO_SERVER');
  t.equal(none.headers['retry-after'], '1');
  t.match(none.body, /no available server/);
  t.equal((await sy.api('PUT', '/api/v1/weights', { weights: { blue: 50, green: 50 }, force: true })).status, 200);
  const noPool = await refusedWs(wsUrl(sy.previewUrl as string));
  t.equal(noPool.status, 503);
  t.equal(noPool.headers['x-switchyard-error'], 'SY_ERR_NO_POOL');
  t.ok(noPool.headers['retry-after'] !== undefined, 'Retry-After set');
  t.equal(blue.upgrades + green.upgrades, 0, 'nothing reached an upstream');
});

t.test('a refused connect is retried on another server; with every server down the client gets 502', async (t) => {
  const live = await startWsUpstream('blue-live');
  t.teardown(() => live.close());
  const dead = `127.0.0.1:${await freePort()}`;
  const sy = await startSwitchyard(t, { blue: { servers: [dead, live.address] } }, { health: { enabled: false }, passive: { consecutiveFailures: 0 } });
  for (let i = 0; i < 4; i++) {
    const { ws, headers } = await openWs(wsUrl(sy.url));
    t.equal(headers['x-upstream'], 'blue-live', `upgrade ${i + 1} landed on the live server`);
    ws.terminate();
  }
  t.ok((await metric(sy, 'switchyard_retries_total', { pool: 'blue' })) >= 1, 'the connect failures were retried');
  t.ok((await metric(sy, 'switchyard_upstream_errors_total', { pool: 'blue', server: dead, kind: 'connect' })) >= 1, 'and counted against the dead server');

  await live.close();
  const res = await refusedWs(wsUrl(sy.url));
  t.equal(res.status, 502);
  t.equal(res.headers['x-switchyard-error'], 'SY_ERR_UPSTREAM_CONNECT');
  await waitFor(async () => (await poolView(sy, 'blue')).inflight === 0, { message: 'nothing left in flight' });
});

t.test('an upgrade to a protocol not in proxy.upgradeProtocols is served as plain HTTP (Upgrade ignored)', async (t) => {
  const blue = await startUpstream('blue-1');
  t.teardown(() => blue.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] } });
  const { port } = new URL(sy.url);
  // curl --http2 and Java's HttpClient send exactly this on http:// URLs; the answer must stay a plain 200.
  const answer = await rawExchange(
    sy.url,
    `POST /upload HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhello` +
      `GET /headers HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
  );
  const responses = answer.split(/(?=HTTP\/1\.1 )/);
  t.equal(responses.length, 2, 'two pipelined answers on one connection');
  t.match(responses[0], /^HTTP\/1\.1 200 /);
  t.match(responses[0], /"bytes":5/, 'the body arrived');
  t.match(responses[1], /^HTTP\/1\.1 200 /);
  t.equal(blue.lastHeaders?.upgrade, undefined, 'no Upgrade header reached the upstream');
  t.equal(blue.lastHeaders?.['http2-settings'], undefined, 'nor the headers Connection named');
  t.equal(blue.postsReceived, 1);
});

t.test('with upgradeProtocols: [] a WebSocket handshake is answered by the app as plain HTTP', async (t) => {
  const blue = await startWsUpstream('blue-1');
  t.teardown(() => blue.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] } }, { proxy: { upgradeProtocols: [] } });
  const res = await refusedWs(wsUrl(sy.url));
  t.equal(res.status, 200);
  t.equal(res.body, 'plain blue-1');
  t.equal(blue.upgrades, 0);
});

t.test('an upstream that dies mid-connection closes the client socket, and the counts drop', async (t) => {
  const blue = await startWsUpstream('blue-1');
  t.teardown(() => blue.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] } });
  const sockets = await Promise.all(Array.from({ length: 5 }, () => openWs(wsUrl(sy.url))));
  for (const { ws } of sockets) t.equal(await echo(ws, 'ping'), 'ping');
  const codes = Promise.all(sockets.map(({ ws }) => closed(ws)));
  blue.terminateAll();
  t.same(await codes, [1006, 1006, 1006, 1006, 1006], 'every client saw an abnormal close (no close frame: the app died)');
  await waitFor(async () => (await poolView(sy, 'blue')).longLived === 0, { message: 'long-lived back to 0' });
});

t.test('a client that leaves closes the upstream side', async (t) => {
  const blue = await startWsUpstream('blue-1');
  t.teardown(() => blue.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] } });
  const { ws } = await openWs(wsUrl(sy.url));
  t.equal(await echo(ws, 'ping'), 'ping');
  t.equal(blue.wss.clients.size, 1);
  ws.terminate();
  await waitFor(() => blue.wss.clients.size === 0 && blue.openSockets() === 0, { message: 'upstream connection closed' });
  await waitFor(async () => (await poolView(sy, 'blue')).longLived === 0, { message: 'long-lived back to 0' });
});

t.test('an idle upgraded connection is closed after proxy.upgradeIdleTimeoutMs', async (t) => {
  const blue = await startWsUpstream('blue-1');
  t.teardown(() => blue.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] } }, { proxy: { upgradeIdleTimeoutMs: 200 } });
  const { ws } = await openWs(wsUrl(sy.url));
  t.equal(await echo(ws, 'ping'), 'ping');
  t.equal(await closed(ws), 1006, 'closed by the proxy once idle');
  await waitFor(() => blue.wss.clients.size === 0, { message: 'upstream side closed too' });
  t.equal((await poolView(sy, 'blue')).longLived, 0);
});

t.test('proxy.maxConnectionAgeMs closes an upgraded connection that is still busy', async (t) => {
  const blue = await startWsUpstream('blue-1');
  t.teardown(() => blue.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] } }, { proxy: { maxConnectionAgeMs: 300 } });
  const { ws } = await openWs(wsUrl(sy.url));
  const code = closed(ws);
  let echoes = 0;
  // Keep it busy: the age limit applies however active the connection is.
  const busy = (async () => {
    while (ws.readyState === WebSocket.OPEN && echoes < 100_000) {
      try {
        await echo(ws, 'tick');
        echoes++;
      } catch {
        return;
      }
    }
  })();
  t.equal(await code, 1006, 'closed by the proxy');
  await busy;
  t.ok(echoes > 0, `it was echoing until then (${echoes} echoes)`);
  await waitFor(async () => (await poolView(sy, 'blue')).longLived === 0, { message: 'long-lived back to 0' });
});

t.test('shutdown closes long-lived connections at the shutdown deadline and still reports a clean stop', async (t) => {
  const blue = await startWsUpstream('blue-1');
  t.teardown(() => blue.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] } }, { shutdown: { timeoutMs: 300 } });
  const sockets = await Promise.all(Array.from({ length: 3 }, () => openWs(wsUrl(sy.url))));
  const codes = Promise.all(sockets.map(({ ws }) => closed(ws)));
  const started = performance.now();
  t.equal(await sy.stop(), true, 'no request was cut');
  t.same(await codes, [1006, 1006, 1006], 'every WebSocket was closed');
  t.ok(performance.now() - started >= 250, 'they were given until the deadline');
  await waitFor(() => blue.wss.clients.size === 0, { message: 'upstream sides closed' });
});

t.test('least-conn sends new WebSockets to the server with the fewest open ones', async (t) => {
  const one = await startWsUpstream('blue-1');
  const two = await startWsUpstream('blue-2');
  t.teardown(() => Promise.all([one.close(), two.close()]));
  const sy = await startSwitchyard(t, { blue: { balance: 'least-conn', servers: [one.address, two.address] } });
  // blue-2 out of rotation while six WebSockets open: they all land on blue-1.
  t.equal((await sy.api('POST', `/api/v1/pools/blue/servers/${two.address}/state`, { state: 'maint' })).status, 200);
  const first = await Promise.all(Array.from({ length: 6 }, () => openWs(wsUrl(sy.url))));
  t.teardown(() => first.forEach((o) => o.ws.terminate()));
  t.same(first.map((o) => o.headers['x-upstream']), Array(6).fill('blue-1'));
  // Back in rotation with nothing open: the next six go to blue-2 (a plain rotation would split them 3/3).
  t.equal((await sy.api('POST', `/api/v1/pools/blue/servers/${two.address}/state`, { state: 'ready' })).status, 200);
  const next: string[] = [];
  for (let i = 0; i < 6; i++) {
    const o = await openWs(wsUrl(sy.url));
    t.teardown(() => o.ws.terminate());
    next.push(String(o.headers['x-upstream']));
  }
  t.same(next, Array(6).fill('blue-2'), 'each new WebSocket goes to the server with fewer open tunnels');
});
