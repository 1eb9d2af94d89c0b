import t, { type Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { resolveConfig } from '../../src/config/load.js';
import { SwitchyardError } from '../../src/errors.js';
import { EventBus, type RoutingChange } from '../../src/events.js';
import { ServerPool } from '../../src/pools/pool.js';
import { LIVE_WEIGHT, Router } from '../../src/routing/router.js';
import type { RoutingSnapshot } from '../../src/routing/snapshot.js';
import { FileStateStore } from '../../src/state/file-store.js';
import type { PersistedState } from '../../src/state/types.js';

/**
 * tmp — a fresh directory under os.tmpdir(), removed in teardown. Not
 * t.testdir(): its path is derived from the test name, so two runs of this
 * file at once (CI jobs, or engineers sharing a checkout) would share it.
 */
function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const WHO = { who: 'test' };

interface Fixture {
  readonly router: Router;
  readonly pools: readonly ServerPool[];
  readonly bus: EventBus;
  readonly store: FileStateStore;
  readonly dir: string;
  readonly file: string;
  readonly events: { snapshot: RoutingSnapshot; change: RoutingChange }[];
  readonly warnings: string[];
}

/** build — real ServerPools (never dispatched, so no sockets), a FileStateStore in a temp dir, a router over them. */
function build(t: Test, opts: { dir?: string; pools?: Record<string, string[]>; live?: string } = {}): Fixture {
  const dir = opts.dir ?? tmp(t);
  const file = join(dir, 'state.json');
  const spec = opts.pools ?? { blue: ['127.0.0.1:9001', '127.0.0.1:9002'], green: ['127.0.0.1:9003', '127.0.0.1:9004'] };
  const config = resolveConfig(
    {
      listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
      live: opts.live ?? Object.keys(spec)[0],
      pools: Object.fromEntries(Object.entries(spec).map(([name, addrs]) => [name, { servers: addrs.map((address) => ({ address })) }])),
    },
    join(dir, 'switchyard.yaml'),
    {},
  );
  const pools = config.pools.map((p) => new ServerPool(p, config.proxy));
  const bus = new EventBus();
  const events: Fixture['events'] = [];
  const warnings: string[] = [];
  bus.on('routing', (snapshot, _prev, change) => events.push({ snapshot, change }));
  bus.on('warning', (code) => warnings.push(code));
  const store = new FileStateStore(file);
  const router = new Router({
    pools,
    initialLive: config.live,
    initialMaintenance: false,
    store,
    bus,
    log: pino({ level: 'silent' }),
  });
  t.teardown(() => store.close());
  return { router, pools, bus, store, dir, file, events, warnings };
}

async function persisted(file: string): Promise<PersistedState> {
  return JSON.parse(await readFile(file, 'utf8')) as PersistedState;
}

t.test('starts from the config: generation 1, the live pool at full weight, nothing persisted yet', async (t) => {
  const f = build(t);
  const result = await f.router.restore();
  t.same(result, { restored: false });
  const s = f.router.current.state;
  t.same(s, { generation: 1, live: 'blue', previous: null, weights: { blue: LIVE_WEIGHT, green: 0 }, maintenance: false, servers: {} });
  t.same(f.router.current.livePools.map((p) => p.name), ['blue']);
  t.equal(f.router.current.standby?.name, 'green');
  t.equal(f.events.length, 1, 'restore installs the initial snapshot and publishes it');
  t.equal(f.events[0]?.change.action, 'init');
  await t.rejects(readFile(f.file), { code: 'ENOENT' }, 'the config values are not written back at start');
});

t.test('each change adds exactly one to the generation and is persisted before it is answered', async (t) => {
  const f = build(t);
  await f.router.restore();
  const r1 = await f.router.switchTo('green', WHO);
  t.same(r1, { from: 'blue', to: 'green', generation: 2, changed: true, warnings: [] });
  t.equal((await persisted(f.file)).generation, 2, 'saved before the promise resolved');
  const r2 = await f.router.setMaintenance(true, WHO);
  t.equal(r2.generation, 3);
  const r3 = await f.router.setServerState('green', '127.0.0.1:9003', 'drain', WHO);
  t.equal(r3.generation, 4);
  const r4 = await f.router.setServerWeight('green', '127.0.0.1:9004', 5, WHO);
  t.equal(r4.generation, 5);
  const r5 = await f.router.setWeights({ blue: 10 }, WHO);
  t.equal(r5.generation, 6);
  const r6 = await f.router.rollback(WHO);
  t.equal(r6.generation, 7);
  t.equal(f.router.current.generation, 7);
  const saved = await persisted(f.file);
  t.match(saved, { version: 1, generation: 7, maintenance: true, servers: { green: { '127.0.0.1:9003': { state: 'drain' }, '127.0.0.1:9004': { weight: 5 } } } });
  t.same(
    f.events.slice(1).map((e) => [e.change.action, e.snapshot.generation]),
    [['switch', 2], ['maintenance', 3], ['server-state', 4], ['server-weight', 5], ['weights', 6], ['rollback', 7]],
    'one routing event per change, in order',
  );
});

t.test('a change that asks for the state already in force keeps the generation and writes nothing', async (t) => {
  const f = build(t);
  await f.router.restore();
  const same = await f.router.switchTo('blue', WHO);
  t.same(same, { from: 'blue', to: 'blue', generation: 1, changed: false, warnings: [] });
  t.equal((await f.router.setMaintenance(false, WHO)).changed, false);
  t.equal((await f.router.setServerState('blue', '127.0.0.1:9001', 'ready', WHO)).changed, false);
  t.equal((await f.router.setServerWeight('blue', '127.0.0.1:9001', 1, WHO)).changed, false);
  t.equal((await f.router.setWeights({ blue: LIVE_WEIGHT }, WHO)).changed, false);
  t.equal(f.router.current.generation, 1);
  t.equal(f.events.length, 1, 'nothing published after init');
  await t.rejects(readFile(f.file), { code: 'ENOENT' }, 'nothing written');
});

t.test('ten concurrent switches serialize: generations 2..11, each distinct, the last call wins', async (t) => {
  const f = build(t);
  await f.router.restore();
  const targets = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'green' : 'blue'));
  const results = await Promise.all(targets.map((to) => f.router.switchTo(to, WHO)));
  t.same(results.map((r) => r.generation), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'in call order');
  t.same(results.map((r) => r.to), targets);
  t.same(results.map((r) => r.from), ['blue', ...targets.slice(0, -1)], 'each saw the state the previous one left');
  t.ok(results.every((r) => r.changed));
  const last = targets[targets.length - 1];
  t.equal(f.router.current.state.live, last);
  t.equal(f.router.current.generation, 11);
  const saved = await persisted(f.file);
  t.equal(saved.generation, 11, 'the file holds the last change');
  t.equal(saved.live, last);
  t.same(saved.history.map((h) => h.generation), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  t.same(f.router.history.map((h) => h.to), targets);
});

t.test('concurrent changes with If-Match: only the first with the current generation succeeds', async (t) => {
  const f = build(t);
  await f.router.restore();
  const outcomes = await Promise.allSettled([
    f.router.switchTo('green', { ...WHO, expectGeneration: 1 }),
    f.router.switchTo('green', { ...WHO, expectGeneration: 1 }),
    f.router.setMaintenance(true, { ...WHO, expectGeneration: 1 }),
  ]);
  t.equal(outcomes[0]?.status, 'fulfilled');
  for (const o of outcomes.slice(1)) {
    t.equal(o.status, 'rejected');
    if (o.status === 'rejected') t.match(o.reason, { code: 'SY_ERR_STALE_GENERATION', statusCode: 412 });
  }
  t.equal(f.router.current.generation, 2);
  t.equal(f.router.current.maintenance, false);
});

t.test('a failed store save leaves the snapshot, the history and the servers unchanged and publishes nothing', async (t) => {
  const root = tmp(t);
  const dir = join(root, 'state');
  await mkdir(dir);
  const f = build(t, { dir });
  await f.router.restore();
  await f.router.switchTo('green', WHO);
  const before = f.router.current;
  const historyBefore = f.router.history;
  const eventsBefore = f.events.length;
  const fileBefore = await readFile(f.file, 'utf8');

  await rm(dir, { recursive: true });
  const attempts: [string, () => Promise<unknown>][] = [
    ['switch', () => f.router.switchTo('blue', WHO)],
    ['rollback', () => f.router.rollback(WHO)],
    ['weights', () => f.router.setWeights({ blue: 50 }, WHO)],
    ['maintenance', () => f.router.setMaintenance(true, WHO)],
    ['server state', () => f.router.setServerState('green', '127.0.0.1:9003', 'drain', WHO)],
    ['server weight', () => f.router.setServerWeight('green', '127.0.0.1:9003', 7, WHO)],
  ];
  for (const [name, attempt] of attempts) {
    await t.rejects(attempt(), { code: 'SY_ERR_STATE_WRITE', statusCode: 500, message: /change not applied/ }, name);
    t.equal(f.router.current, before, `${name}: the same snapshot object is in force`);
    t.equal(f.router.history, historyBefore, `${name}: history unchanged`);
  }
  t.equal(f.events.length, eventsBefore, 'no routing event');
  t.same(f.warnings, [], 'no warning published for a change that did not happen');
  const green = f.router.pool('green');
  t.equal(green?.server('127.0.0.1:9003')?.adminState, 'ready', 'server override not applied');
  t.equal(green?.server('127.0.0.1:9003')?.weight, 1);

  // Once the store works again the next change takes the next generation: no gap, nothing half-applied.
  await mkdir(dir);
  const ok = await f.router.switchTo('blue', WHO);
  t.same(ok, { from: 'green', to: 'blue', generation: 3, changed: true, warnings: [] });
  t.not(await readFile(f.file, 'utf8'), fileBefore);
  t.same(f.router.history.map((h) => h.generation), [2, 3]);
});

t.test('a failed save does not block the changes queued behind it', async (t) => {
  const root = tmp(t);
  const dir = join(root, 'state');
  await mkdir(dir);
  const f = build(t, { dir });
  await f.router.restore();
  await rm(dir, { recursive: true });
  const queued = await Promise.allSettled([f.router.switchTo('green', WHO), f.router.setMaintenance(true, WHO)]);
  t.same(queued.map((o) => o.status), ['rejected', 'rejected'], 'both settle (neither is stuck behind the failure)');
  await mkdir(dir);
  const next = await f.router.switchTo('green', WHO);
  t.equal(next.generation, 2);
  t.equal(f.router.current.state.live, 'green');
  t.equal(f.router.current.maintenance, false);
});

t.test('refused changes name the problem and change nothing', async (t) => {
  const f = build(t);
  await f.router.restore();
  const before = f.router.current;
  await t.rejects(f.router.switchTo('purple', WHO), { code: 'SY_ERR_UNKNOWN_POOL', statusCode: 404 });
  await t.rejects(f.router.setServerState('blue', 'nope', 'drain', WHO), { code: 'SY_ERR_UNKNOWN_SERVER', statusCode: 404 });
  await t.rejects(f.router.setServerWeight('purple', '127.0.0.1:9001', 2, WHO), { code: 'SY_ERR_UNKNOWN_POOL' });
  await t.rejects(f.router.rollback(WHO), { code: 'SY_ERR_NO_PREVIOUS', statusCode: 409 });
  await t.rejects(f.router.setWeights({ blue: 0 }, WHO), { code: 'SY_ERR_BAD_REQUEST' }, 'all weights zero');
  await t.rejects(f.router.setWeights({ blue: 10, purple: 10 }, WHO), { code: 'SY_ERR_UNKNOWN_POOL' });
  await t.rejects(f.router.switchTo('green', { ...WHO, expectGeneration: 7 }), { code: 'SY_ERR_STALE_GENERATION', message: /current generation is 1/ });
  const err = await f.router.switchTo('nope', WHO).catch((e: unknown) => e);
  t.ok(err instanceof SwitchyardError, 'refusals are catalogue errors the admin API maps to a status');
  t.equal(f.router.current, before);
  await t.rejects(readFile(f.file), { code: 'ENOENT' }, 'nothing written');
});

t.test('a switch to a pool with no usable server is refused unless forced', async (t) => {
  const f = build(t);
  await f.router.restore();
  for (const s of f.router.pool('green')?.servers ?? []) s.setHealthy(false, 'test');
  await t.rejects(f.router.switchTo('green', WHO), { code: 'SY_ERR_POOL_UNHEALTHY', statusCode: 409 });
  t.equal(f.router.current.generation, 1);
  const forced = await f.router.switchTo('green', { ...WHO, force: true });
  t.equal(forced.generation, 2);
  t.equal(f.router.current.state.live, 'green');
});

t.test('a switch to a smaller pool answers a capacity warning and publishes it', async (t) => {
  const f = build(t, { pools: { blue: ['127.0.0.1:9001', '127.0.0.1:9002'], green: ['127.0.0.1:9003'] } });
  await f.router.restore();
  const r = await f.router.switchTo('green', WHO);
  t.equal(r.warnings.length, 1);
  t.match(r.warnings[0], /pool "green" has 1 usable server\(s\) where the live pool had 2/);
  t.same(f.warnings, ['capacity']);
});

t.test('a capacity warning is not published for a switch whose save failed', async (t) => {
  const root = tmp(t);
  const dir = join(root, 'state');
  await mkdir(dir);
  const f = build(t, { dir, pools: { blue: ['127.0.0.1:9001', '127.0.0.1:9002'], green: ['127.0.0.1:9003'] } });
  await f.router.restore();
  await rm(dir, { recursive: true });
  await t.rejects(f.router.switchTo('green', WHO), { code: 'SY_ERR_STATE_WRITE' });
  t.same(f.warnings, [], 'the switch did not happen, so neither did its warning');
  t.equal(f.router.current.state.live, 'blue');
});

t.test('restore adopts the persisted state, including server overrides and history', async (t) => {
  const first = build(t);
  await first.router.restore();
  await first.router.switchTo('green', { who: 'alice' });
  await first.router.setServerState('blue', '127.0.0.1:9002', 'maint', WHO);
  await first.router.setServerWeight('green', '127.0.0.1:9004', 3, WHO);
  await first.router.setMaintenance(true, WHO);
  await first.store.close();

  const second = build(t, { dir: first.dir });
  const result = await second.router.restore();
  t.same(result, { restored: true });
  t.same(second.router.current.state, first.router.current.state);
  t.same(second.router.history, first.router.history);
  t.match(second.router.history, [{ action: 'switch', from: 'blue', to: 'green', generation: 2, who: 'alice' }]);
  t.equal(second.router.pool('blue')?.server('127.0.0.1:9002')?.adminState, 'maint', 'override applied to the server');
  t.equal(second.router.pool('green')?.server('127.0.0.1:9004')?.weight, 3);
  t.same(second.router.pool('blue')?.candidates.map((s) => s.id), ['127.0.0.1:9001'], 'maint server left the pick set');
  const next = await second.router.rollback(WHO);
  t.same([next.from, next.to, next.generation], ['green', 'blue', 6], 'generations continue from the file');
});

t.test('restore ignores pools and servers the config no longer has', async (t) => {
  const dir = tmp(t);
  const state: PersistedState = {
    version: 1,
    generation: 40,
    live: 'green',
    previous: 'red',
    weights: { blue: 0, green: 100, red: 50 },
    maintenance: false,
    servers: {
      green: { '127.0.0.1:9003': { state: 'drain' }, '10.9.9.9:1': { weight: 9 } },
      red: { '127.0.0.1:9999': { state: 'maint' } },
    },
    history: [{ at: '2024-05-01T12:00:00.000Z', action: 'switch', from: 'red', to: 'green', generation: 40, who: 'bob' }],
  };
  await writeFile(join(dir, 'state.json'), JSON.stringify(state));
  const f = build(t, { dir });
  const result = await f.router.restore();
  t.same(result, { restored: true });
  const s = f.router.current.state;
  t.equal(s.generation, 40);
  t.equal(s.live, 'green');
  t.equal(s.previous, null, 'a previous pool that no longer exists cannot be rolled back to');
  t.same(s.weights, { blue: 0, green: 100 }, 'unknown pool weight dropped');
  t.same(s.servers, { green: { '127.0.0.1:9003': { state: 'drain' } } }, 'unknown servers dropped');
  t.equal(f.router.pool('green')?.server('127.0.0.1:9003')?.adminState, 'drain');
  await t.rejects(f.router.rollback(WHO), { code: 'SY_ERR_NO_PREVIOUS' });
});

t.test('restore falls back to the config on a corrupt, invalid or mismatched state file', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['corrupt JSON', '{"version": 1, "generation": ', /not valid JSON/],
    ['wrong shape', JSON.stringify({ version: 1, generation: -1, live: 3 }), /generation must be/],
    [
      'unknown live pool',
      JSON.stringify({ version: 1, generation: 9, live: 'red', previous: null, weights: { red: 100 }, maintenance: true, servers: {}, history: [] }),
      /live pool "red" is not in the config/,
    ],
  ];
  for (const [name, text, problem] of cases) {
    const dir = tmp(t);
    await writeFile(join(dir, 'state.json'), text);
    const f = build(t, { dir });
    const result = await f.router.restore();
    t.equal(result.restored, false, name);
    t.match(result.problem, problem, name);
    t.same(f.router.current.state, { generation: 1, live: 'blue', previous: null, weights: { blue: LIVE_WEIGHT, green: 0 }, maintenance: false, servers: {} }, `${name}: config values`);
    t.same(f.router.history, []);
    const next = await f.router.switchTo('green', WHO);
    t.equal(next.generation, 2, `${name}: changes work and overwrite the bad file`);
    t.equal((await persisted(f.file)).live, 'green');
  }
});

t.test('snapshots and their state are frozen, and a change never mutates the previous snapshot', async (t) => {
  const f = build(t);
  await f.router.restore();
  const before = f.router.current;
  const beforeState = JSON.parse(JSON.stringify(before.state)) as unknown;
  await f.router.setServerState('blue', '127.0.0.1:9001', 'drain', WHO);
  await f.router.switchTo('green', WHO);
  const after = f.router.current;
  t.not(after, before, 'a change installs a new snapshot');
  t.same(before.state, beforeState, 'the old snapshot is untouched');
  for (const snap of [before, after]) {
    t.ok(Object.isFrozen(snap), 'snapshot frozen');
    t.ok(Object.isFrozen(snap.state), 'state frozen');
    t.ok(Object.isFrozen(snap.state.weights), 'weights frozen');
    t.ok(Object.isFrozen(snap.state.servers), 'servers frozen');
    t.ok(Object.isFrozen(snap.livePools), 'livePools frozen');
  }
  t.ok(Object.isFrozen(after.state.servers.blue?.['127.0.0.1:9001']), 'server overrides frozen');
  t.throws(() => {
    (after.state.weights as Record<string, number>).blue = 100;
  }, TypeError);
  t.throws(() => {
    (after.state as { live: string }).live = 'blue';
  }, TypeError);
  t.equal(after.state.live, 'green');
});

t.test('warns (without refusing) when recent traffic exceeds the target pool capacityRps', async (t) => {
  const dir = tmp(t);
  const config = resolveConfig(
    {
      listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
      live: 'blue',
      pools: {
        blue: { servers: [{ address: '127.0.0.1:9001' }] },
        green: { capacityRps: 500, servers: [{ address: '127.0.0.1:9003' }] },
      },
    },
    join(dir, 'switchyard.yaml'),
    {},
  );
  const pools = config.pools.map((p) => new ServerPool(p, config.proxy));
  const bus = new EventBus();
  const warnings: string[] = [];
  bus.on('warning', (code, message) => warnings.push(`${code}: ${message}`));
  let rps = 800;
  const router = new Router({ pools, initialLive: 'blue', initialMaintenance: false, store: undefined, bus, log: pino({ level: 'silent' }), requestRate: () => rps });
  await router.restore();
  const over = await router.switchTo('green', WHO);
  t.equal(over.changed, true, 'the switch still happens');
  t.match(over.warnings, [/green.*500 req\/s.*800 req\/s/]);
  t.match(warnings, [/^capacity: /]);
  rps = 100;
  const back = await router.switchTo('blue', WHO);
  t.same(back.warnings, [], 'blue has no capacityRps: no rate warning');
  const again = await router.switchTo('green', WHO);
  t.same(again.warnings, [], 'under capacity: no warning');
});
