/**
 * Upstream TLS for raw TCP (L4) pools: a `tls: true` server is reached with a
 * verified TLS handshake (its CA, its SNI name), bytes are echoed through the
 * TLS stream, a handshake that does not verify is a connect failure (client
 * closed, switchyard_tcp_connect_errors_total, retry and passive ejection),
 * the PROXY header travels inside TLS, and the TCP health probe does the
 * handshake (send/expect inside TLS) so a bad certificate marks a server down.
 */
import { rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import t, { type Test } from 'tap';
import { makeCa, makeCert, type CertFiles } from '../helpers/certs.js';
import { tempDir } from '../helpers/http.js';
import { metric } from '../helpers/observe.js';
import { onProxyFramedData, readAll, readLine, startTcpSwitchyard, tcpConnect, waitClosed, type ParsedProxyHeader } from '../helpers/tcp.js';
import { waitFor } from '../helpers/wait.js';

interface TlsEcho {
  readonly address: string;
  /** SNI names the clients asked for, one per accepted TLS connection. */
  readonly servernames: (string | false | null)[];
  readonly headers: ParsedProxyHeader[];
  close(): Promise<void>;
}

/** tlsEcho — a TLS server on 127.0.0.1:0 that optionally greets with `name\n`, optionally reads a PROXY header first, then echoes (half-close aware). */
async function tlsEcho(t: Test, leaf: CertFiles, name: string, options: { greet?: boolean; proxyProtocol?: boolean } = {}): Promise<TlsEcho> {
  const sockets = new Set<Socket>();
  const servernames: (string | false | null)[] = [];
  const headers: ParsedProxyHeader[] = [];
  const server = createServer({ cert: readFileSync(leaf.cert), key: readFileSync(leaf.key), allowHalfOpen: true }, (socket: TLSSocket) => {
    sockets.add(socket);
    servernames.push(socket.servername);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (options.greet === true) socket.write(`${name}\n`);
    onProxyFramedData(socket, options.proxyProtocol === true, headers, (chunk) => socket.write(chunk));
    socket.on('end', () => socket.end());
  });
  server.on('tlsClientError', () => undefined);
  // With allowHalfOpen, a handshake the client aborted (it rejected our certificate) leaves the server's
  // socket open and counted, so close() would wait forever: track raw connections and destroy them too.
  const raw = new Set<Socket>();
  server.on('connection', (s: Socket) => raw.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      for (const s of raw) s.destroy();
      server.close(() => resolve());
    }));
  t.teardown(close);
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, servernames, headers, close };
}

/** certs — a CA, a leaf for db.internal + 127.0.0.1 signed by it, and an unrelated CA; removed in teardown. */
async function certs(t: Test): Promise<{ ca: CertFiles; other: CertFiles; leaf: CertFiles }> {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  const other = makeCa(dir, 'other-ca');
  const leaf = makeCert(dir, 'db', ca, ['db.internal', '127.0.0.1']);
  return { ca, other, leaf };
}

t.test('a tls: true TCP server with its CA echoes through the listener, SNI name sent', async (t) => {
  const { ca, leaf } = await certs(t);
  const up = await tlsEcho(t, leaf, 'secure');
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [{ address: up.address, id: 'secure', tls: true, ca: ca.cert, servername: 'db.internal' }] } } });
  const client = await tcpConnect(address, { allowHalfOpen: true });
  t.teardown(() => client.destroy());
  client.write('hello over ');
  client.end('tls');
  t.equal((await readAll(client)).toString(), 'hello over tls', 'echoed through the TLS stream, half-close passed on');
  await waitClosed(client);
  t.same(up.servernames, ['db.internal'], 'the configured servername was sent as SNI');
  t.equal(await metric(sy, 'switchyard_tcp_connections_total', { listener: 'db', pool: 'blue', server: 'secure' }), 1);
  t.equal(await metric(sy, 'switchyard_tcp_connect_errors_total', { listener: 'db', pool: 'blue', server: 'secure' }), 0);
});

t.test('with the wrong CA the handshake fails: the client is closed and the connect error counted', async (t) => {
  const { other, leaf } = await certs(t);
  const up = await tlsEcho(t, leaf, 'secure');
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [{ address: up.address, id: 'secure', tls: true, ca: other.cert }], passive: { consecutiveFailures: 0 } } } });
  const client = await tcpConnect(address);
  client.on('error', () => undefined);
  const got: Buffer[] = [];
  client.on('data', (c: Buffer) => got.push(c));
  client.write('never delivered');
  await waitClosed(client);
  t.equal(Buffer.concat(got).length, 0, 'nothing came back');
  t.ok((await metric(sy, 'switchyard_tcp_connect_errors_total', { listener: 'db', pool: 'blue', server: 'secure' })) >= 1, 'the failed handshake is a connect error');
  t.equal(await metric(sy, 'switchyard_tcp_connections_total', { listener: 'db', pool: 'blue', server: 'secure' }), 0, 'never counted as established');
});

t.test('a failed handshake is retried on another server and ejects the bad one passively', async (t) => {
  const { ca, other, leaf } = await certs(t);
  const bad = await tlsEcho(t, leaf, 'bad', { greet: true });
  const good = await tlsEcho(t, leaf, 'good', { greet: true });
  const { sy, address } = await startTcpSwitchyard(t, {
    pools: {
      blue: {
        servers: [
          { address: bad.address, id: 'bad', tls: true, ca: other.cert },
          { address: good.address, id: 'good', tls: true, ca: ca.cert },
        ],
        passive: { consecutiveFailures: 1, baseEjectionMs: 60_000 },
      },
    },
  });
  for (let i = 0; i < 4; i++) {
    const c = await tcpConnect(address);
    t.equal(await readLine(c), 'good', `connection ${i} reached the server whose certificate verifies`);
    c.destroy();
  }
  t.equal(await metric(sy, 'switchyard_tcp_connect_errors_total', { listener: 'db', pool: 'blue', server: 'bad' }), 1, 'tried once, then ejected');
  t.equal(await metric(sy, 'switchyard_ejections_total', { pool: 'blue', server: 'bad' }), 1, 'the ejection is published like an HTTP one');
});

t.test('the PROXY protocol header is the first thing inside the TLS stream', async (t) => {
  const { ca, leaf } = await certs(t);
  const up = await tlsEcho(t, leaf, 'secure', { proxyProtocol: true });
  const { address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [{ address: up.address, tls: true, ca: ca.cert }] } }, proxyProtocol: 'v2' });
  const client = await tcpConnect(address, { allowHalfOpen: true });
  t.teardown(() => client.destroy());
  const clientPort = client.localPort;
  client.end('payload');
  t.equal((await readAll(client)).toString(), 'payload', 'the header was consumed by the upstream, not echoed');
  t.match(up.headers, [{ version: 2, family: 'TCP4', source: '127.0.0.1', sourcePort: clientPort }]);
});

t.test('the TCP health probe does a TLS handshake: up with the right CA (send/expect inside TLS), down with a wrong one or once the server is gone', async (t) => {
  const { ca, other, leaf } = await certs(t);
  const good = await tlsEcho(t, leaf, 'good', { greet: true });
  const bad = await tlsEcho(t, leaf, 'bad', { greet: true });
  const { sy } = await startTcpSwitchyard(t, {
    pools: {
      blue: {
        servers: [
          { address: good.address, id: 'good', tls: true, ca: ca.cert, servername: 'db.internal' },
          { address: bad.address, id: 'bad', tls: true, ca: other.cert },
        ],
        // Slack for a handshake per probe on a loaded box.
        health: { enabled: true, intervalMs: 100, timeoutMs: 100, rise: 1, fall: 1, send: 'ping\n', expect: 'ping' },
      },
    },
  });
  type View = { tcp: { pools: Record<string, { servers: { id: string; healthy: boolean }[] }> }[] };
  const servers = async (): Promise<{ id: string; healthy: boolean }[]> => ((await sy.api('GET', '/api/v1/state')).json as View).tcp[0]?.pools.blue?.servers ?? [];
  await waitFor(async () => {
    const s = await servers();
    return s[0]?.healthy === true && s[1]?.healthy === false;
  }, { message: 'good up (handshake + expected echo), bad down (certificate not verified)' });
  t.ok((await metric(sy, 'switchyard_health_transitions_total', { pool: 'blue', server: 'bad', to: 'down' })) >= 1, 'the first verdict on bad is published');
  await good.close();
  await waitFor(async () => (await servers())[0]?.healthy === false, { message: 'good down once it stops answering' });
  t.ok((await metric(sy, 'switchyard_health_transitions_total', { pool: 'blue', server: 'good', to: 'down' })) >= 1);
});
