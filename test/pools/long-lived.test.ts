/**
 * pools — long-lived connection accounting (counted apart from in-flight
 * requests, part of "idle") and the drain policies, with stand-in
 * connections: real ServerPools and a real Router (no state store, never
 * dispatched, so no sockets), fake LongLivedConnection objects.
 */
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { resolveConfig } from '../../src/config/load.js';
import { EventBus } from '../../src/events.js';
import { DrainTracker } from '../../src/pools/drain.js';
import { CLOSE_GRACE_MS, type CloseReason, type LongLivedConnection } from '../../src/pools/long-lived.js';
import { ServerPool } from '../../src/pools/pool.js';
import { Router } from '../../src/routing/router.js';

const WHO = { who: 'test' };

/** FakeConnection — records close() calls; `finish()` plays the sockets closing. */
class FakeConnection implements LongLivedConnection {
  readonly closes: CloseReason[] = [];
  readonly closedAt: number[] = [];
  constructor(readonly generation: number, readonly onClose?: (c: FakeConnection) => void) {}
  close(reason: CloseReason): void {
    this.closes.push(reason);
    this.closedAt.push(performance.now());
    this.onClose?.(this);
  }
}

function build(t: Test, pools: Record<string, Record<string, unknown>>, drain?: Record<string, unknown>): { router: Router; pools: ServerPool[]; drains: DrainTracker; bus: EventBus; drained: [string, boolean][] } {
  const config = resolveConfig(
    {
      listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
      live: Object.keys(pools)[0],
      pools: Object.fromEntries(Object.entries(pools).map(([name, extra], i) => [name, { servers: [{ address: `127.0.0.1:${9001 + i}` }], ...extra }])),
      ...(drain === undefined ? {} : { drain }),
    },
    '/tmp/switchyard.yaml',
    {},
  );
  const serverPools = config.pools.map((p) => new ServerPool(p, config.proxy));
  const bus = new EventBus();
  const router = new Router({ pools: serverPools, initialLive: config.live, initialMaintenance: false, store: undefined, bus, log: pino({ level: 'silent' }) });
  const drains = new DrainTracker(serverPools, bus, pino({ level: 'silent' }), config.drain.timeoutMs);
  const drained: [string, boolean][] = [];
  bus.on('drained', (pool, _ms, complete) => drained.push([pool, complete]));
  // waitIdle's and the drain's timers are unref'd (a server's listeners keep its loop alive); keep this test's alive.
  const keepAlive = setInterval(() => undefined, 1000);
  t.teardown(() => {
    drains.close();
    clearInterval(keepAlive);
  });
  return { router, pools: serverPools, drains, bus, drained };
}

t.test('long-lived connections are counted apart from in-flight requests, per pool and per server', async (t) => {
  const { pools } = build(t, { blue: {} });
  const pool = pools[0] as ServerPool;
  const server = pool.servers[0]!;
  const a = new FakeConnection(1);
  const b = new FakeConnection(1);
  pool.begin(server);
  pool.attachLongLived(server, a);
  pool.end(server);
  t.equal(pool.inflight, 0);
  t.equal(pool.longLived, 1);
  t.equal(server.longLived, 1);
  t.equal(server.inflight, 0);
  t.notOk(pool.idle, 'not idle while a long-lived connection is open');
  pool.attachLongLived(server, a);
  t.equal(pool.longLived, 1, 'attaching twice counts once');
  pool.attachLongLived(server, b);
  pool.detachLongLived(server, a);
  pool.detachLongLived(server, a);
  t.equal(pool.longLived, 1, 'detaching twice counts once');
  pool.detachLongLived(server, b);
  t.equal(pool.longLived, 0);
  t.equal(server.longLived, 0);
  t.ok(pool.idle);
});

t.test('waitIdle waits for long-lived connections too, unless asked for requests only', async (t) => {
  const { pools } = build(t, { blue: {} });
  const pool = pools[0] as ServerPool;
  const server = pool.servers[0]!;
  const conn = new FakeConnection(1);
  pool.attachLongLived(server, conn);
  pool.begin(server);
  const order: string[] = [];
  const all = pool.waitIdle(5000).then((ok) => order.push(`all:${ok}`));
  const requests = pool.waitIdle(5000, 'requests').then((ok) => order.push(`requests:${ok}`));
  pool.end(server);
  await requests;
  t.same(order, ['requests:true'], 'the request-only waiter resolved when the request ended');
  pool.detachLongLived(server, conn);
  await all;
  t.same(order, ['requests:true', 'all:true'], 'the full waiter once the connection closed');
  pool.attachLongLived(server, conn);
  t.equal(await pool.waitIdle(20), false, 'false at the deadline while a connection stays open');
  t.equal(await pool.waitIdle(20, 'requests'), true, 'requests-only is idle at once');
});

t.test('closeLongLived closes only connections routed before the given generation', async (t) => {
  const { pools } = build(t, { blue: {} });
  const pool = pools[0] as ServerPool;
  const server = pool.servers[0]!;
  const old = new FakeConnection(1, (c) => pool.detachLongLived(server, c));
  const fresh = new FakeConnection(2);
  pool.attachLongLived(server, old);
  pool.attachLongLived(server, fresh);
  t.equal(pool.closeLongLived('drain', 2), 1);
  t.same(old.closes, ['drain']);
  t.same(fresh.closes, []);
  t.equal(pool.closeLongLived('shutdown'), 1, 'no generation: every connection');
  t.same(fresh.closes, ['shutdown']);
});

t.test('onSwitch: keep leaves connections open and reports the drain incomplete at drainTimeoutMs', async (t) => {
  const { router, pools, drains, drained } = build(t, { blue: { drainTimeoutMs: 50 }, green: {} });
  const blue = pools[0] as ServerPool;
  const conn = new FakeConnection(router.current.generation);
  blue.attachLongLived(blue.servers[0]!, conn);
  t.equal(drains.timeoutFor(blue), 50);
  await router.switchTo('green', WHO);
  t.equal(await blue.waitIdle(drains.timeoutFor(blue) + 100), false, 'still not idle');
  t.same(conn.closes, [], 'keep: never closed by the proxy');
  t.same(drained, [['blue', false]], 'the drain was reported incomplete');
});

t.test('onSwitch: drain closes the connections routed before the switch at drainTimeoutMs', async (t) => {
  const { router, pools, drains, drained } = build(t, { blue: { onSwitch: 'drain', drainTimeoutMs: 60 }, green: {} });
  const blue = pools[0] as ServerPool;
  const server = blue.servers[0]!;
  const conns = [1, 2, 3].map(() => new FakeConnection(router.current.generation, (c) => blue.detachLongLived(server, c)));
  for (const c of conns) blue.attachLongLived(server, c);
  t.equal(drains.timeoutFor(blue), 60 + CLOSE_GRACE_MS, 'the deadline includes the close grace');
  const switchedAt = performance.now();
  await router.switchTo('green', WHO);
  // A preview upgrade to blue after the switch is not part of this drain.
  const later = new FakeConnection(router.current.generation);
  blue.attachLongLived(server, later);
  t.equal(await blue.waitIdle(5000, 'requests'), true);
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (conns.every((c) => c.closes.length > 0)) resolve();
      else setImmediate(check);
    };
    check();
  });
  for (const c of conns) {
    t.same(c.closes, ['drain']);
    t.ok((c.closedAt[0] as number) - switchedAt >= 55, 'closed no earlier than drainTimeoutMs');
  }
  t.same(later.closes, [], 'the connection opened after the switch stays');
  blue.detachLongLived(server, later);
  t.equal(await blue.waitIdle(1000), true);
  await new Promise<void>((resolve) => {
    const check = (): void => (drained.length > 0 ? resolve() : void setImmediate(check));
    check();
  });
  t.same(drained, [['blue', true]], 'reported drained');
});

t.test('pools.NAME.drainTimeoutMs defaults to drain.timeoutMs', async (t) => {
  const { pools, drains } = build(t, { blue: {}, green: { drainTimeoutMs: 7 } }, { timeoutMs: 1234 });
  t.equal(pools[0]?.config.drainTimeoutMs, 1234);
  t.equal(pools[0]?.config.onSwitch, 'keep', 'onSwitch defaults to keep');
  t.equal(drains.timeoutFor(pools[1] as ServerPool), 7);
});
