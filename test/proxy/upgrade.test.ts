/**
 * proxy/upgrade — the pure pieces (which upgrades are tunnelled, the 101 and
 * refusal heads) as functions, and the byte-level splice through a real
 * Switchyard against a raw TCP upstream: bytes sent with the request head,
 * half-close in both directions, backpressure-free echo of odd protocols.
 */
import t from 'tap';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { localAnswer, responseHead, selectProtocols, switchingProtocolsHead, tunnelProtocol } from '../../src/proxy/upgrade.js';
import { startSwitchyard } from '../helpers/app.js';
import { getState } from '../helpers/observe.js';
import { waitFor } from '../helpers/wait.js';

t.test('selectProtocols keeps only allowed protocols, in the client order and spelling', async (t) => {
  t.equal(selectProtocols('websocket', ['websocket']), 'websocket');
  t.equal(selectProtocols('WebSocket', ['websocket']), 'WebSocket', 'tokens compare case-insensitively');
  t.equal(selectProtocols('h2c', ['websocket']), '');
  t.equal(selectProtocols('h2c, websocket', ['websocket']), 'websocket');
  t.equal(selectProtocols(' foo/2 , bar, foo ', ['foo']), 'foo/2, foo', 'a name without version allows every version');
  t.equal(selectProtocols('foo/2, foo/3', ['foo/3']), 'foo/3', 'a name with a version allows that version only');
  t.equal(selectProtocols('', ['websocket']), '');
  t.equal(selectProtocols('websocket', []), '', 'nothing allowed: nothing tunnelled');
});

t.test('tunnelProtocol ignores Upgrade on HTTP/1.0 and on requests with a body', async (t) => {
  const req = (headers: Record<string, string>, minor = 1): IncomingMessage =>
    ({ httpVersionMajor: 1, httpVersionMinor: minor, headers }) as unknown as IncomingMessage;
  t.equal(tunnelProtocol(req({ upgrade: 'websocket' }), ['websocket']), 'websocket');
  t.equal(tunnelProtocol(req({ upgrade: 'websocket', 'content-length': '0' }), ['websocket']), 'websocket');
  t.equal(tunnelProtocol(req({ upgrade: 'websocket' }, 0), ['websocket']), '', 'HTTP/1.0 (RFC 9110 §7.8)');
  t.equal(tunnelProtocol(req({ upgrade: 'websocket', 'content-length': '5' }), ['websocket']), '');
  t.equal(tunnelProtocol(req({ upgrade: 'websocket', 'transfer-encoding': 'chunked' }), ['websocket']), '');
  t.equal(tunnelProtocol(req({}), ['websocket']), '');
});

t.test('switchingProtocolsHead keeps end-to-end headers and restores Connection/Upgrade only', async (t) => {
  const raw = ['Upgrade', 'WebSocket', 'Connection', 'Upgrade, X-Secret', 'Sec-WebSocket-Accept', 'abc=', 'X-Secret', 'no', 'Keep-Alive', 'timeout=5', 'X-App', 'yes'].map((s) => Buffer.from(s));
  const head = switchingProtocolsHead(raw, 'websocket');
  t.equal(
    head,
    'HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: abc=\r\nX-App: yes\r\nconnection: Upgrade\r\nupgrade: WebSocket\r\n\r\n',
  );
  t.match(switchingProtocolsHead([], 'websocket'), /upgrade: websocket\r\n\r\n$/, 'falls back to the protocol asked for');
});

t.test('responseHead and localAnswer write complete, closing HTTP/1.1 answers', async (t) => {
  t.equal(responseHead(403, '', ['content-length', '2']), 'HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\nconnection: close\r\n\r\n');
  t.equal(responseHead(418, 'Short And Stout', []), 'HTTP/1.1 418 Short And Stout\r\nconnection: close\r\n\r\n');
  const answer = localAnswer('SY_ERR_NO_POOL', 120).toString('latin1');
  const [head, body] = answer.split('\r\n\r\n') as [string, string];
  t.match(head, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  t.match(head, /\r\nx-switchyard-error: SY_ERR_NO_POOL\r\n/);
  t.match(head, /\r\nretry-after: 120\r\n/);
  t.match(head, new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(body)}\\r\\n`));
  t.match(body, /^503 no pool has weight > 0/);
  const page = localAnswer('SY_ERR_MAINTENANCE', 5, Buffer.from('<p>down</p>')).toString('latin1');
  t.match(page, /content-type: text\/html; charset=utf-8/);
  t.match(page, /\r\n\r\n<p>down<\/p>$/);
});

/** RawUpstream — a TCP server that speaks just enough HTTP to accept any upgrade, then runs `session`. */
async function rawUpstream(session: (socket: Socket, rest: Buffer) => void): Promise<{ server: Server; address: string; heads: string[] }> {
  const heads: string[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      heads.push(buf.subarray(0, end).toString('latin1'));
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x-test/1\r\n\r\n');
      session(socket, buf.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}`, heads };
}

/** rawClient — a TCP client that sends an upgrade request (plus `extra` bytes in the same write) and collects what comes back. */
function rawClient(url: string, extra: string): { socket: Socket; received: () => string; ended: Promise<void> } {
  const { port } = new URL(url);
  const socket = connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true });
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (s: string) => {
    received += s;
  });
  const ended = once(socket, 'end').then(() => undefined);
  socket.write(`GET /tunnel HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\nUpgrade: x-test/1\r\n\r\n${extra}`);
  return { socket, received: () => received, ended };
}

t.test('a raw upgraded stream: bytes sent with the head arrive, and a client half-close lets the server finish', async (t) => {
  const up = await rawUpstream((socket, rest) => {
    let got = rest.toString('latin1');
    socket.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      socket.write(c.toString('latin1').toUpperCase());
    });
    if (rest.length > 0) socket.write(rest.toString('latin1').toUpperCase());
    // The client's FIN arrives here; the server still answers after it, then closes its side.
    socket.on('end', () => socket.end(`BYE after ${got.length} bytes`));
  });
  t.teardown(() => up.server.close());
  const sy = await startSwitchyard(t, { blue: { servers: [up.address] } }, { health: { enabled: false }, proxy: { upgradeProtocols: ['websocket', 'x-test'] } });
  const c = rawClient(sy.url, 'early');
  await waitFor(() => c.received().includes('EARLY'), { message: 'the bytes sent with the request head echoed' });
  t.match(c.received(), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.match(c.received(), /\r\nupgrade: x-test\/1\r\n/i);
  t.match(up.heads[0], /^GET \/tunnel HTTP\/1\.1\r\n/);
  t.match(up.heads[0], /\r\nupgrade: x-test\/1\r\n/i, 'the allowed versioned protocol was asked for');
  t.match(up.heads[0], /\r\nhost: example\.test\r\n/i, 'Host kept');
  c.socket.write('more');
  await waitFor(() => c.received().includes('MORE'));
  c.socket.end(); // half-close: we are done sending, not receiving
  await c.ended;
  t.match(c.received(), /BYE after 9 bytes$/, 'the server wrote after our FIN and it arrived');
  await waitFor(async () => ((await getState(sy)).pools.blue as unknown as { longLived: number }).longLived === 0, { message: 'tunnel released' });
});

t.test('a raw upgraded stream: a server half-close leaves the client able to send', async (t) => {
  let afterFin = '';
  let serverSawEnd: () => void = () => undefined;
  const serverDone = new Promise<void>((resolve) => {
    serverSawEnd = resolve;
  });
  const up = await rawUpstream((socket) => {
    socket.end('server done'); // FIN first, but keep reading
    socket.on('data', (c: Buffer) => {
      afterFin += c.toString('latin1');
    });
    socket.on('end', () => serverSawEnd());
  });
  t.teardown(() => up.server.close());
  const sy = await startSwitchyard(t, { blue: { servers: [up.address] } }, { health: { enabled: false }, proxy: { upgradeProtocols: ['x-test'] } });
  const c = rawClient(sy.url, '');
  await c.ended;
  t.match(c.received(), /server done$/, 'the server FIN came through after its bytes');
  c.socket.end('client still talking');
  await serverDone;
  t.equal(afterFin, 'client still talking', 'bytes sent after the server FIN reached the server');
  await waitFor(() => c.socket.closed, { message: 'client socket fully closed' });
  await waitFor(async () => ((await getState(sy)).pools.blue as unknown as { longLived: number }).longLived === 0, { message: 'tunnel released' });
});
