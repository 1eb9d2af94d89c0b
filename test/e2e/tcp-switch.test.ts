/**
 * Raw TCP listeners under the admin API's switch: a switch while clients
 * keep opening and closing connections loses none, and every connection
 * opened after the switch answered lands on the new pool; connections open
 * at the switch follow the pool's onSwitch policy (keep: they stay and keep
 * working, the pool shows draining until they end; drain: closed after
 * drainTimeoutMs) and count in the pool's long-lived set.
 */
import t from 'tap';
import type { Socket } from 'node:net';
import { readAll, readLine, startTcpSwitchyard, startTcpUpstream, tcpConnect, waitClosed } from '../helpers/tcp.js';
import { once, waitFor } from '../helpers/wait.js';

interface PoolState {
  readonly status: string;
  readonly longLived: number;
}

/** echoOnce — write `text` and read it back on an open connection (after its greeting was read). */
async function echoOnce(socket: Socket, text: string): Promise<string> {
  socket.write(`${text}\n`);
  return readLine(socket);
}

t.test('a switch under connection churn: no failed connect, new connections go to green', async (t) => {
  const blue = await startTcpUpstream(t, 'blue', { greet: true });
  const green = await startTcpUpstream(t, 'green', { greet: true });
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [blue] }, green: { servers: [green] } } });
  const MAX_CONNECTIONS = 1200;
  const BUDGET_MS = 20_000;
  const CONCURRENCY = 8;
  const started = Date.now();
  let opened = 0;
  let failures = 0;
  let switchedAt: number | undefined;
  const wrongAfterSwitch: string[] = [];
  const seen = new Map<string, number>();
  let switchDone: Promise<unknown> | undefined;
  const worker = async (): Promise<void> => {
    while (opened < MAX_CONNECTIONS && Date.now() - started < BUDGET_MS) {
      const n = ++opened;
      if (n === MAX_CONNECTIONS / 3) {
        switchDone = sy.api('POST', '/api/v1/switch', { to: 'green' }).then((res) => {
          t.equal(res.status, 200, 'switch answered 200');
          switchedAt = performance.now();
        });
      }
      const begun = performance.now();
      const afterSwitch = switchedAt !== undefined && begun > switchedAt;
      try {
        const c = await tcpConnect(address);
        const name = await readLine(c);
        seen.set(name, (seen.get(name) ?? 0) + 1);
        if (afterSwitch && name !== 'green') wrongAfterSwitch.push(name);
        c.destroy();
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await switchDone;
  t.equal(opened >= MAX_CONNECTIONS, true, `all ${MAX_CONNECTIONS} connections ran within the budget`);
  t.equal(failures, 0, 'no connection failed');
  t.same(wrongAfterSwitch, [], 'every connection opened after the switch answered reached green');
  t.ok((seen.get('blue') ?? 0) > 0 && (seen.get('green') ?? 0) > 0, `both pools served (${JSON.stringify(Object.fromEntries(seen))})`);
});

t.test('onSwitch keep: open TCP connections stay on blue and keep working; blue drains when they end', async (t) => {
  const blue = await startTcpUpstream(t, 'blue', { greet: true });
  const green = await startTcpUpstream(t, 'green', { greet: true });
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [blue] }, green: { servers: [green] } } }, { blue: { onSwitch: 'keep' }, green: {} });
  const old = await tcpConnect(address);
  t.teardown(() => old.destroy());
  t.equal(await readLine(old), 'blue');
  t.equal(((await sy.api('GET', '/api/v1/state')).json as { pools: Record<string, PoolState> }).pools.blue?.longLived, 1, 'the connection counts as long-lived on blue');
  t.equal((await sy.api('POST', '/api/v1/switch', { to: 'green' })).status, 200);
  const fresh = await tcpConnect(address);
  t.equal(await readLine(fresh), 'green', 'a new connection goes to green');
  fresh.destroy();
  t.equal(await echoOnce(old, 'still there'), 'still there', 'the old connection still echoes through blue');
  const poolState = async (): Promise<PoolState | undefined> => ((await sy.api('GET', '/api/v1/state')).json as { pools: Record<string, PoolState> }).pools.blue;
  t.match(await poolState(), { status: 'draining', longLived: 1 }, 'blue is draining while the connection is open');
  old.end();
  await waitClosed(old);
  await waitFor(async () => (await poolState())?.status === 'idle', { message: 'blue idle once the connection ended' });
  t.pass('blue is idle');
});

t.test('onSwitch drain: open TCP connections are closed after drainTimeoutMs; wait:drained covers them', async (t) => {
  const blue = await startTcpUpstream(t, 'blue', { greet: true });
  const green = await startTcpUpstream(t, 'green', { greet: true });
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [blue] }, green: { servers: [green] } } }, { blue: { onSwitch: 'drain', drainTimeoutMs: 200 }, green: {} });
  const conns: Socket[] = [];
  for (let i = 0; i < 5; i++) {
    const c = await tcpConnect(address, { allowHalfOpen: false });
    t.teardown(() => c.destroy());
    t.equal(await readLine(c), 'blue');
    conns.push(c);
  }
  const started = Date.now();
  const res = await sy.api('POST', '/api/v1/switch', { to: 'green', wait: 'drained' });
  t.equal(res.status, 200);
  t.equal((res.json as { drained: boolean }).drained, true, 'the drain completed: the TCP connections were closed');
  await Promise.all(conns.map((c) => waitClosed(c)));
  t.ok(Date.now() - started >= 190, 'not before drainTimeoutMs');
  const fresh = await tcpConnect(address);
  t.equal(await readLine(fresh), 'green');
  fresh.end();
  await readAll(fresh);
  await waitFor(() => blue.sockets.size === 0, { message: 'blue has no connection left' });
});

t.test('a connection that is piping when its pool drains gets a FIN (graceful close), not a reset', async (t) => {
  const blue = await startTcpUpstream(t, 'blue');
  const green = await startTcpUpstream(t, 'green');
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [blue] }, green: { servers: [green] } } }, { blue: { onSwitch: 'drain', drainTimeoutMs: 50 }, green: {} });
  const c = await tcpConnect(address);
  t.teardown(() => c.destroy());
  c.write('x');
  const [echo] = (await once(c, 'data')) as [Buffer];
  t.equal(echo.toString(), 'x');
  await sy.api('POST', '/api/v1/switch', { to: 'green' });
  c.resume();
  await once(c, 'end');
  t.pass('the client got a FIN from the drain');
});

t.test('shutdown closes open TCP connections at shutdown.timeoutMs and stops cleanly', async (t) => {
  const blue = await startTcpUpstream(t, 'blue', { greet: true });
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [blue] } } }, { blue: {}, green: {} }, { shutdown: { timeoutMs: 200 } });
  const c = await tcpConnect(address);
  t.teardown(() => c.destroy());
  t.equal(await readLine(c), 'blue');
  const closed = waitClosed(c);
  c.resume();
  t.equal(await sy.stop(), true, 'a clean stop: closing long-lived connections is expected');
  await closed;
  await waitFor(() => blue.sockets.size === 0, { message: 'upstream side closed too' });
  t.pass('both sides closed');
});
