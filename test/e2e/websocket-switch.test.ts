/**
 * A blue/green switch while 200 WebSockets are open on blue, under both
 * `onSwitch` policies: `keep` leaves them open (they keep echoing, blue shows
 * `draining` until they end), `drain` closes them drainTimeoutMs after the
 * switch. New WebSockets land on green at once in both cases.
 */
import t, { type Test } from 'tap';
import { setTimeout as delay } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { startSwitchyard, type SwitchyardUnderTest } from '../helpers/app.js';
import { getState, metric } from '../helpers/observe.js';
import { waitFor } from '../helpers/wait.js';
import { closed, echo, openWs, startWsUpstream, wsUrl, type WsUpstream } from '../helpers/ws.js';

const SOCKETS = 200;

interface PoolLongLived {
  readonly status: string;
  readonly inflight: number;
  readonly longLived: number;
}

async function pool(sy: SwitchyardUnderTest, name: string): Promise<PoolLongLived> {
  return (await getState(sy)).pools[name] as unknown as PoolLongLived;
}

/** openMany — `n` WebSockets, opened 50 at a time (each one's handshake fully through the proxy). */
async function openMany(url: string, n: number): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  while (out.length < n) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - out.length) }, () => openWs(url)));
    out.push(...batch.map((b) => b.ws));
  }
  return out;
}

async function twoPools(t: Test, blueExtra: Record<string, unknown>): Promise<{ sy: SwitchyardUnderTest; blue: WsUpstream; green: WsUpstream }> {
  const blue = await startWsUpstream('blue-1');
  const green = await startWsUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(
    t,
    { blue: { servers: [blue.address], ...blueExtra }, green: { servers: [green.address] } },
    { health: { intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 3 } },
  );
  return { sy, blue, green };
}

t.test(`onSwitch: keep — ${SOCKETS} open WebSockets stay on blue and keep echoing; new ones land on green`, async (t) => {
  const { sy, blue } = await twoPools(t, { onSwitch: 'keep', drainTimeoutMs: 300 });
  const old = await openMany(wsUrl(sy.url), SOCKETS);
  t.teardown(() => old.forEach((ws) => ws.terminate()));
  t.equal(blue.wss.clients.size, SOCKETS, `${SOCKETS} connections reached blue`);
  t.match(await pool(sy, 'blue'), { status: 'live', longLived: SOCKETS, inflight: 0 });

  // wait=drained honours long-lived connections: with them open, blue cannot drain within its 300 ms.
  const sw = await sy.api('POST', '/api/v1/switch', { to: 'green', wait: 'drained' });
  t.equal(sw.status, 200);
  t.match(sw.json, { from: 'blue', to: 'green', changed: true, drained: false });

  const fresh = await openWs(wsUrl(sy.url));
  t.teardown(() => fresh.ws.terminate());
  t.equal(fresh.headers['x-upstream'], 'green-1', 'a new WebSocket lands on green');
  t.equal(await echo(fresh.ws, 'who'), 'green-1');

  const answers = await Promise.all(old.map((ws) => echo(ws, 'who')));
  t.equal(answers.filter((a) => a === 'blue-1').length, SOCKETS, `all ${SOCKETS} old WebSockets still echo, from blue`);
  const state = await getState(sy);
  t.match(state.pools.blue, { status: 'draining', longLived: SOCKETS, inflight: 0 }, 'blue is draining with its long-lived connections');
  t.match(state.pools.green, { status: 'live', longLived: 1 });
  t.equal(await metric(sy, 'switchyard_open_upgraded_connections', { pool: 'blue' }), SOCKETS);

  for (const ws of old) ws.close(1000, 'done');
  const codes = await Promise.all(old.map(closed));
  t.equal(codes.filter((c) => c === 1000).length, SOCKETS, 'each closed cleanly by its client');
  await waitFor(async () => (await pool(sy, 'blue')).status === 'idle', { timeoutMs: 10_000, message: 'blue idle once its WebSockets closed' });
  t.match(await pool(sy, 'blue'), { status: 'idle', longLived: 0, inflight: 0 });
  t.equal(await echo(fresh.ws, 'still'), 'still', 'the green WebSocket is unaffected');
});

t.test(`onSwitch: drain — ${SOCKETS} open WebSockets on blue are closed after drainTimeoutMs; new ones land on green and stay`, async (t) => {
  const DRAIN_MS = 1000;
  const { sy, blue } = await twoPools(t, { onSwitch: 'drain', drainTimeoutMs: DRAIN_MS });
  const old = await openMany(wsUrl(sy.url), SOCKETS);
  t.teardown(() => old.forEach((ws) => ws.terminate()));
  t.equal(blue.wss.clients.size, SOCKETS);
  const closedAt: number[] = [];
  const codes = Promise.all(
    old.map((ws) =>
      closed(ws).then((code) => {
        closedAt.push(performance.now());
        return code;
      }),
    ),
  );

  const switchedAt = performance.now();
  const sw = sy.api('POST', '/api/v1/switch', { to: 'green', wait: 'drained' });
  await waitFor(() => sy.app.router.current.state.live === 'green', { message: 'switch in force' });
  const fresh = await openWs(wsUrl(sy.url));
  t.teardown(() => fresh.ws.terminate());
  t.equal(fresh.headers['x-upstream'], 'green-1', 'a new WebSocket lands on green at once');
  t.equal(await echo(old[0] as WebSocket, 'who'), 'blue-1', 'an old one still works before the deadline');

  const answer = await sw;
  t.equal(answer.status, 200);
  t.match(answer.json, { from: 'blue', to: 'green', drained: true }, 'wait=drained answers once they are closed');
  t.same(new Set(await codes), new Set([1006]), `all ${SOCKETS} old WebSockets were closed by the proxy`);
  const earliest = Math.min(...closedAt) - switchedAt;
  t.ok(earliest >= DRAIN_MS - 5, `none before drainTimeoutMs (first after ${Math.round(earliest)} ms)`);
  await waitFor(() => blue.wss.clients.size === 0, { message: 'blue saw them all close' });
  t.match(await pool(sy, 'blue'), { status: 'idle', longLived: 0, inflight: 0 });
  t.equal(await echo(fresh.ws, 'who'), 'green-1', 'the green WebSocket stays open');
  t.match(await pool(sy, 'green'), { status: 'live', longLived: 1 });
});

t.test('onSwitch: drain — switching back before the deadline cancels the close', async (t) => {
  const { sy } = await twoPools(t, { onSwitch: 'drain', drainTimeoutMs: 200 });
  const { ws } = await openWs(wsUrl(sy.url));
  t.teardown(() => ws.terminate());
  t.equal((await sy.api('POST', '/api/v1/switch', { to: 'green' })).status, 200);
  t.equal((await sy.api('POST', '/api/v1/rollback')).status, 200);
  // That nothing happens can only be seen by letting the cancelled deadline pass (not a synchronisation sleep).
  await delay(500);
  t.equal(await echo(ws, 'who'), 'blue-1', 'still open after the cancelled deadline');
  t.match(await pool(sy, 'blue'), { status: 'live', longLived: 1 });
});
