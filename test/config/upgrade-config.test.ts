/**
 * config — the keys of the upgrade path and the long-lived connection
 * policy: defaults, inheritance (pools.NAME.drainTimeoutMs ← drain.timeoutMs)
 * and refusals with their key paths.
 */
import t from 'tap';
import { ConfigError, resolveConfig } from '../../src/config/load.js';

const base = {
  listen: { http: '127.0.0.1:8080', admin: '127.0.0.1:9901' },
  live: 'blue',
  pools: { blue: { servers: [{ address: '127.0.0.1:9001' }] }, green: { servers: [{ address: '127.0.0.1:9003' }] } },
};

function issues(data: Record<string, unknown>): string[] {
  try {
    resolveConfig(data, '', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

t.test('defaults: websocket only, 10 min idle, no age limit, keep, drain.timeoutMs', async (t) => {
  const c = resolveConfig(base, '', {});
  t.same(c.proxy.upgradeProtocols, ['websocket']);
  t.equal(c.proxy.upgradeIdleTimeoutMs, 600_000);
  t.equal(c.proxy.maxConnectionAgeMs, undefined);
  t.same(c.pools.map((p) => [p.name, p.onSwitch, p.drainTimeoutMs]), [['blue', 'keep', 30_000], ['green', 'keep', 30_000]]);
  t.ok(Object.isFrozen(c.proxy.upgradeProtocols), 'frozen like the rest of the config');
});

t.test('set values are kept; protocols are lowercased; pool drainTimeoutMs inherits drain.timeoutMs', async (t) => {
  const c = resolveConfig(
    {
      ...base,
      pools: { blue: { ...base.pools.blue, onSwitch: 'drain', drainTimeoutMs: 5000 }, green: base.pools.green },
      proxy: { upgradeProtocols: ['WebSocket', 'x-test/1.0'], upgradeIdleTimeoutMs: 1000, maxConnectionAgeMs: 3_600_000 },
      drain: { timeoutMs: 12_000 },
    },
    '',
    {},
  );
  t.same(c.proxy.upgradeProtocols, ['websocket', 'x-test/1.0']);
  t.equal(c.proxy.upgradeIdleTimeoutMs, 1000);
  t.equal(c.proxy.maxConnectionAgeMs, 3_600_000);
  t.same(c.pools.map((p) => [p.name, p.onSwitch, p.drainTimeoutMs]), [['blue', 'drain', 5000], ['green', 'keep', 12_000]]);
});

t.test('bad values are refused with their key paths', async (t) => {
  t.same(issues({ ...base, pools: { ...base.pools, blue: { ...base.pools.blue, onSwitch: 'close' } } }), ['pools.blue.onSwitch: expected one of "keep", "drain"']);
  t.match(issues({ ...base, pools: { ...base.pools, blue: { ...base.pools.blue, drainTimeoutMs: 0 } } }), [/^pools\.blue\.drainTimeoutMs: /]);
  t.match(issues({ ...base, proxy: { upgradeProtocols: ['web socket'] } }), [/^proxy\.upgradeProtocols\[0\]: does not match/]);
  t.match(issues({ ...base, proxy: { upgradeProtocols: ['websocket', 'websocket'] } }), [/^proxy\.upgradeProtocols: .*duplicate/]);
  t.match(issues({ ...base, proxy: { upgradeProtocols: 'websocket' } }), [/^proxy\.upgradeProtocols: must be array/]);
  t.match(issues({ ...base, proxy: { maxConnectionAgeMs: 0, upgradeIdleTimeoutMs: -1 } }), [/^proxy\.upgradeIdleTimeoutMs: must be >= 1/, /^proxy\.maxConnectionAgeMs: must be >= 1/]);
});
