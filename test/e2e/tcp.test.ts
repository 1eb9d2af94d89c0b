/**
 * Raw TCP (L4) listeners end to end: real client, Switchyard and upstream
 * sockets on 127.0.0.1. Echo with half-close, a byte-exact 100 MiB transfer
 * both ways, connect failures retried on another server, TCP health checks
 * keeping a dead server out, PROXY protocol v1/v2 headers as the upstream
 * sees them, and the state API / metrics views of it all.
 */
import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { freePort } from '../helpers/http.js';
import { metric } from '../helpers/observe.js';
import { readAll, readLine, startTcpSwitchyard, startTcpUpstream, tcpConnect, waitClosed } from '../helpers/tcp.js';
import { once, waitFor } from '../helpers/wait.js';

interface TcpStateView {
  readonly tcp: readonly {
    readonly name: string;
    readonly address: string;
    readonly connections: number;
    readonly pools: Record<string, { live: boolean; connections: number; usableServers: number; servers: { id: string; address: string; healthy: boolean; usable: boolean; connections: number }[] }>;
  }[];
  readonly pools: Record<string, { status: string; longLived: number }>;
}

t.test('echoes bytes through the listener and passes a half-close on', async (t) => {
  const up = await startTcpUpstream(t, 'blue-1');
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [up] }, green: { servers: [up] } } });
  const client = await tcpConnect(address, { allowHalfOpen: true });
  t.teardown(() => client.destroy());
  client.write('hello, ');
  client.write('world');
  // FIN from the client; the upstream answers with its own FIN after echoing (the echo still arrives).
  client.end();
  const echoed = await readAll(client);
  t.equal(echoed.toString(), 'hello, world', 'echo arrives after the half-close');
  await waitClosed(client);

  const state = (await sy.api('GET', '/api/v1/state')).json as TcpStateView;
  const db = state.tcp[0];
  t.equal(db?.name, 'db');
  t.equal(db?.address, address);
  t.same(Object.keys(db?.pools ?? {}), ['blue', 'green']);
  t.equal(db?.pools.blue?.live, true);
  t.equal(db?.pools.blue?.servers[0]?.id, 'blue-1');
  t.equal(await metric(sy, 'switchyard_tcp_connections_total', { listener: 'db', pool: 'blue', server: 'blue-1' }), 1);
  t.equal(await metric(sy, 'switchyard_tcp_bytes_total', { listener: 'db', pool: 'blue', direction: 'in' }), 12);
  t.equal(await metric(sy, 'switchyard_tcp_bytes_total', { listener: 'db', pool: 'blue', direction: 'out' }), 12);
  await waitFor(async () => (await metric(sy, 'switchyard_tcp_connections_active', { listener: 'db', pool: 'blue' })) === 0, { message: 'active gauge back to 0' });
});

t.test('carries 100 MiB both ways byte for byte', async (t) => {
  const up = await startTcpUpstream(t, 'blue-1');
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [up] } } }, { blue: {}, green: {} });
  const TOTAL = 100 * 1024 * 1024;
  const CHUNK = 1024 * 1024;
  const base = randomBytes(CHUNK);
  const client = await tcpConnect(address, { allowHalfOpen: true });
  t.teardown(() => client.destroy());
  const sent = createHash('sha256');
  const received = createHash('sha256');
  let receivedBytes = 0;
  client.on('data', (c: Buffer) => {
    received.update(c);
    receivedBytes += c.length;
  });
  const ended = once(client, 'end');
  for (let i = 0; i < TOTAL / CHUNK; i++) {
    // A counter in every chunk: a reordered or repeated chunk changes the hash.
    const chunk = Buffer.from(base);
    chunk.writeUInt32BE(i, 0);
    sent.update(chunk);
    if (!client.write(chunk)) await once(client, 'drain');
  }
  client.end();
  await ended;
  t.equal(receivedBytes, TOTAL, 'every byte came back');
  t.equal(received.digest('hex'), sent.digest('hex'), 'sha256 of what came back equals sha256 of what was sent');
  t.equal(await metric(sy, 'switchyard_tcp_bytes_total', { listener: 'db', pool: 'blue', direction: 'in' }), TOTAL);
  t.equal(await metric(sy, 'switchyard_tcp_bytes_total', { listener: 'db', pool: 'blue', direction: 'out' }), TOTAL);
});

t.test('the upstream sees the same 10 MiB the client sent (hash computed on the server side)', async (t) => {
  const up = await startTcpUpstream(t, 'blue-1', { mode: 'hash' });
  const { address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [up] } } });
  const client = await tcpConnect(address, { allowHalfOpen: true });
  t.teardown(() => client.destroy());
  const sent = createHash('sha256');
  const reply = readAll(client);
  for (let i = 0; i < 10; i++) {
    const chunk = randomBytes(1024 * 1024);
    sent.update(chunk);
    if (!client.write(chunk)) await once(client, 'drain');
  }
  client.end();
  t.equal((await reply).toString(), sent.digest('hex'));
});

t.test('a failed connect is retried on another server; the client never notices', async (t) => {
  const deadPort = await freePort();
  const live = await startTcpUpstream(t, 'live', { greet: true });
  const { sy, address } = await startTcpSwitchyard(t, {
    pools: { blue: { servers: [{ address: `127.0.0.1:${deadPort}`, id: 'dead' }, live], passive: { consecutiveFailures: 0 } } },
  });
  for (let i = 0; i < 6; i++) {
    const c = await tcpConnect(address);
    t.equal(await readLine(c), 'live', `connection ${i} reached the live server`);
    c.destroy();
  }
  t.ok((await metric(sy, 'switchyard_tcp_connect_errors_total', { listener: 'db', pool: 'blue', server: 'dead' })) >= 1, 'the dead server was tried and counted');
  t.equal(await metric(sy, 'switchyard_tcp_connections_total', { listener: 'db', pool: 'blue', server: 'live' }), 6);
});

t.test('the client is closed when no server accepts', async (t) => {
  const deadPort = await freePort();
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [{ address: `127.0.0.1:${deadPort}`, id: 'dead' }] } } });
  const c = await tcpConnect(address);
  c.on('error', () => undefined);
  c.resume();
  await waitClosed(c);
  t.pass('closed');
  // 1 + proxy.retries attempts, all on the one server (no other to try): counted once per attempt.
  t.ok((await metric(sy, 'switchyard_tcp_connect_errors_total', { listener: 'db', pool: 'blue', server: 'dead' })) >= 1);
});

t.test('a TCP health check marks a dead server down and it gets no connections', async (t) => {
  const dead = await startTcpUpstream(t, 'dead', { greet: true });
  const live = await startTcpUpstream(t, 'live-1', { greet: true });
  const deadAddress = dead.address;
  await dead.close();
  const { sy, address } = await startTcpSwitchyard(t, {
    pools: {
      blue: {
        servers: [{ address: deadAddress, id: 'dead' }, live],
        health: { enabled: true, intervalMs: 50, timeoutMs: 40, rise: 1, fall: 1, expect: 'live' },
      },
    },
  });
  const view = async (): Promise<TcpStateView['tcp'][number]['pools'][string] | undefined> => ((await sy.api('GET', '/api/v1/state')).json as TcpStateView).tcp[0]?.pools.blue;
  const pool = await waitFor(async () => {
    const p = await view();
    return p !== undefined && p.servers[0]?.healthy === false && p.servers[1]?.healthy === true ? p : undefined;
  }, { message: 'dead server down, live server up' });
  t.equal(pool?.usableServers, 1);
  t.equal(pool?.servers[0]?.usable, false);
  const errorsBefore = await metric(sy, 'switchyard_tcp_connect_errors_total', { listener: 'db', pool: 'blue', server: 'dead' });
  for (let i = 0; i < 5; i++) {
    const c = await tcpConnect(address);
    t.equal(await readLine(c), 'live-1');
    c.destroy();
  }
  t.equal(await metric(sy, 'switchyard_tcp_connect_errors_total', { listener: 'db', pool: 'blue', server: 'dead' }), errorsBefore, 'no connection was tried on the dead server');
  t.ok((await sy.api('GET', '/readyz')).status === 200, 'ready once the TCP checks are in too');
});

for (const version of ['v1', 'v2'] as const) {
  t.test(`PROXY protocol ${version} tells the upstream the client address before any client byte`, async (t) => {
    const up = await startTcpUpstream(t, 'blue-1', { proxyProtocol: true });
    const { address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [up] } }, proxyProtocol: version });
    const client = await tcpConnect(address, { allowHalfOpen: true });
    t.teardown(() => client.destroy());
    const clientPort = client.localPort;
    client.end('payload');
    t.equal((await readAll(client)).toString(), 'payload', 'the header is not echoed: the upstream consumed it');
    const h = up.headers[0];
    t.equal(up.headers.length, 1);
    t.equal(h?.version, version === 'v1' ? 1 : 2);
    t.equal(h?.family, 'TCP4');
    t.equal(h?.source, '127.0.0.1');
    t.equal(h?.sourcePort, clientPort, "the client's own port");
    t.equal(h?.dest, '127.0.0.1');
    t.equal(h?.destPort, Number(address.split(':')[1]), "the listener's port");
  });
}

t.test('least-conn sends a new connection to the server with the fewest open ones', async (t) => {
  const a = await startTcpUpstream(t, 'a', { greet: true });
  const b = await startTcpUpstream(t, 'b', { greet: true });
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [a, b], balance: 'least-conn' } } });
  const c1 = await tcpConnect(address);
  const first = await readLine(c1);
  const c2 = await tcpConnect(address);
  const second = await readLine(c2);
  t.not(first, second, 'two open connections are spread over both servers');
  c1.destroy();
  // Switchyard's own count, not the upstream's: the balancer reads the former.
  await waitFor(async () => ((await sy.api('GET', '/api/v1/state')).json as TcpStateView).tcp[0]?.pools.blue?.connections === 1, { message: 'first connection gone in Switchyard' });
  const c3 = await tcpConnect(address);
  t.equal(await readLine(c3), first, 'the next connection goes to the server that has none open');
  c2.destroy();
  c3.destroy();
});

t.test('hash keeps one client address on one server', async (t) => {
  const a = await startTcpUpstream(t, 'a', { greet: true });
  const b = await startTcpUpstream(t, 'b', { greet: true });
  const { address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [a, b], balance: 'hash' } } });
  const names = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const c = await tcpConnect(address);
    names.add(await readLine(c));
    c.destroy();
  }
  t.equal(names.size, 1, `all connections from 127.0.0.1 went to ${[...names].join(',')}`);
});

t.test('pool weights split TCP connections like HTTP requests; maintenance mode does not apply', async (t) => {
  const blue = await startTcpUpstream(t, 'blue', { greet: true });
  const green = await startTcpUpstream(t, 'green', { greet: true });
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [blue] }, green: { servers: [green] } } });
  t.equal((await sy.api('PUT', '/api/v1/weights', { weights: { blue: 50, green: 50 } })).status, 200);
  t.equal((await sy.api('POST', '/api/v1/maintenance', { enabled: true })).status, 200);
  const count = new Map<string, number>();
  for (let i = 0; i < 10; i++) {
    const c = await tcpConnect(address);
    const name = await readLine(c);
    count.set(name, (count.get(name) ?? 0) + 1);
    c.destroy();
  }
  t.same(Object.fromEntries(count), { blue: 5, green: 5 }, 'smooth weighted round-robin over the two live pools, during maintenance');
});

t.test('failed connects eject a server passively (no active check needed)', async (t) => {
  const deadPort = await freePort();
  const live = await startTcpUpstream(t, 'live', { greet: true });
  const { sy, address } = await startTcpSwitchyard(t, {
    pools: { blue: { servers: [{ address: `127.0.0.1:${deadPort}`, id: 'dead' }, live], passive: { consecutiveFailures: 1, baseEjectionMs: 60_000 } } },
  });
  for (let i = 0; i < 4; i++) {
    const c = await tcpConnect(address);
    t.equal(await readLine(c), 'live');
    c.destroy();
  }
  const state = (await sy.api('GET', '/api/v1/state')).json as { tcp: { pools: Record<string, { servers: { id: string; ejected: boolean; usable: boolean }[] }> }[] };
  t.match(state.tcp[0]?.pools.blue?.servers[0], { id: 'dead', ejected: true, usable: false });
  t.equal(await metric(sy, 'switchyard_tcp_connect_errors_total', { listener: 'db', pool: 'blue', server: 'dead' }), 1, 'tried once, then out of rotation');
});

t.test('a TCP server going down is published like an HTTP one: switchyard_health_transitions_total counts it', async (t) => {
  const up = await startTcpUpstream(t, 'blue-1');
  const { sy } = await startTcpSwitchyard(t, {
    pools: { blue: { servers: [up], health: { enabled: true, intervalMs: 50, timeoutMs: 40, rise: 1, fall: 1 } } },
  });
  const down = { pool: 'blue', server: 'blue-1', to: 'down' };
  await waitFor(async () => (await sy.api('GET', '/readyz')).status === 200, { message: 'first TCP probe done' });
  t.equal(await metric(sy, 'switchyard_health_transitions_total', down), 0, 'up at first: no transition yet');
  const flips: [string, string, boolean][] = [];
  sy.app.bus.on('health', (pool, server, healthy) => flips.push([pool, server, healthy]));
  await up.close();
  await waitFor(async () => (await metric(sy, 'switchyard_health_transitions_total', down)) === 1, { message: 'the down transition is counted' });
  t.same(flips, [['blue', 'blue-1', false]], 'one health event on the bus');
});
