import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, loadConfigFile, parseConfigText, type ConfigIssue } from '../../src/config/load.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import type { SwitchyardConfig } from '../../src/config/types.js';

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

/** The issue's sample config, verbatim. */
const SAMPLE = `listen:
  http: 127.0.0.1:8080
  admin: 127.0.0.1:9901
  preview: 127.0.0.1:8081
admin:
  token: change-me
state:
  file: ./switchyard-state.json
live: blue
pools:
  blue:
    balance: round-robin
    servers:
      - { address: 127.0.0.1:9001, weight: 1 }
      - { address: 127.0.0.1:9002, weight: 1 }
  green:
    servers:
      - { address: 127.0.0.1:9003 }
      - { address: 127.0.0.1:9004 }
health:
  path: /healthz
  intervalMs: 1000
  timeoutMs: 500
  rise: 2
  fall: 2
`;

type Raw = Record<string, unknown>;

/** base — a small valid config as data; tests change one thing in it. */
function base(): Raw {
  return {
    listen: { http: '127.0.0.1:8080', admin: '127.0.0.1:9901' },
    live: 'blue',
    pools: {
      blue: { servers: [{ address: '127.0.0.1:9001' }, { address: '127.0.0.1:9002' }] },
      green: { servers: [{ address: '127.0.0.1:9003' }, { address: '127.0.0.1:9004' }] },
    },
  };
}

/** write — puts `content` (YAML text, or data to stringify) in `dir/switchyard.yaml`, returns the path. */
function write(dir: string, content: string | Raw, name = 'switchyard.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : stringify(content));
  return file;
}

/** issuesOf — the issues of the ConfigError `fn` throws (fails the test if it does not throw one). */
function issuesOf(t: Test, fn: () => unknown): readonly ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) {
      t.equal(err.code, 'SY_ERR_CONFIG');
      return err.issues;
    }
    t.fail(`expected a ConfigError, got ${String(err)}`);
    return [];
  }
  t.fail('expected the config to be refused');
  return [];
}

/** refuse — loads `content` from a temp dir with an empty env and returns the issues. */
function refuse(t: Test, content: string | Raw, env: NodeJS.ProcessEnv = {}): readonly ConfigIssue[] {
  const file = write(tmp(t), content);
  return issuesOf(t, () => loadConfigFile(file, env));
}

t.test('the sample config from the issue is accepted verbatim', async (t) => {
  const dir = tmp(t);
  const config = loadConfigFile(write(dir, SAMPLE), {});
  t.equal(config.live, 'blue');
  t.same(config.listen, {
    http: { host: '127.0.0.1', port: 8080 },
    admin: { host: '127.0.0.1', port: 9901 },
    preview: { host: '127.0.0.1', port: 8081 },
    // No raw TCP listener in the sample.
    tcp: [],
    // Nor a TLS listener.
    https: [],
  });
  t.equal(config.admin.token, 'change-me');
  t.same(config.pools.map((p) => p.name), ['blue', 'green'], 'pools in config order');
  t.same(config.pools.map((p) => p.servers.map((s) => s.address)), [
    ['127.0.0.1:9001', '127.0.0.1:9002'],
    ['127.0.0.1:9003', '127.0.0.1:9004'],
  ]);
  t.equal(config.pools[0]?.servers[0]?.id, '127.0.0.1:9001', 'a server id defaults to its address');
  t.equal(config.pools[0]?.servers[0]?.port, 9001);
  t.equal(config.pools[1]?.balance, 'round-robin', 'green gets the default balance');
  t.equal(config.state.file, join(dir, 'switchyard-state.json'), 'state.file is resolved against the config folder');
  t.equal(config.source, join(dir, 'switchyard.yaml'));
});

t.test('a bad server address names its key path and says host:port is expected', async (t) => {
  const raw = base();
  (raw.pools as Raw).green = { servers: [{ address: '127.0.0.1:9003' }, { address: 'not-an-address' }] };
  const issues = refuse(t, raw);
  t.same(issues, [{ path: 'pools.green.servers[1].address', message: 'expected host:port' }]);
});

t.test('a port out of range is not a host:port', async (t) => {
  const raw = base();
  (raw.listen as Raw).http = '127.0.0.1:70000';
  t.same(refuse(t, raw), [{ path: 'listen.http', message: 'expected host:port' }]);
});

t.test('unknown keys are refused at the top level, nested, and inside a server', async (t) => {
  const top = { ...base(), lsiten: {} };
  t.same(refuse(t, top), [{ path: 'lsiten', message: 'unknown key' }]);

  const nested = base();
  nested.health = { path: '/healthz', intervalMS: 1000 };
  t.same(refuse(t, nested), [{ path: 'health.intervalMS', message: 'unknown key' }]);

  const inServer = base();
  (inServer.pools as Raw).blue = { servers: [{ address: '127.0.0.1:9001', wieght: 2 }] };
  t.same(refuse(t, inServer), [{ path: 'pools.blue.servers[0].wieght', message: 'unknown key' }]);
});

t.test('a balance that is not one of the algorithms lists the allowed values', async (t) => {
  const raw = base();
  (raw.pools as Raw).blue = { balance: 'random', servers: [{ address: '127.0.0.1:9001' }] };
  const issues = refuse(t, raw);
  t.equal(issues.length, 1);
  t.equal(issues[0]?.path, 'pools.blue.balance');
  t.match(issues[0]?.message, /^expected one of "round-robin", "least-conn", "p2c", "hash"$/);
});

t.test('missing required keys are each named', async (t) => {
  const raw = base();
  delete raw.live;
  delete (raw.listen as Raw).admin;
  (raw.pools as Raw).green = {};
  const issues = refuse(t, raw);
  t.same(
    [...issues].sort((a, b) => a.path.localeCompare(b.path)),
    [
      { path: 'listen.admin', message: 'is required' },
      { path: 'live', message: 'is required' },
      { path: 'pools.green.servers', message: 'is required' },
    ],
  );
});

t.test('a pool with an empty server list is refused', async (t) => {
  const raw = base();
  (raw.pools as Raw).green = { servers: [] };
  const issues = refuse(t, raw);
  t.equal(issues.length, 1);
  t.equal(issues[0]?.path, 'pools.green.servers');
});

t.test('live naming a pool that does not exist is refused and lists the pools', async (t) => {
  const issues = refuse(t, { ...base(), live: 'purple' });
  t.same(issues, [{ path: 'live', message: 'unknown pool "purple" (pools: blue, green)' }]);
});

t.test('hashKey accepts ip, header:NAME and cookie:NAME with balance hash', async (t) => {
  const cases: [string, unknown][] = [
    ['ip', { kind: 'ip' }],
    ['header:X-User', { kind: 'header', name: 'x-user' }],
    ['cookie:session', { kind: 'cookie', name: 'session' }],
  ];
  for (const [hashKey, expected] of cases) {
    const raw = base();
    (raw.pools as Raw).blue = { balance: 'hash', hashKey, servers: [{ address: '127.0.0.1:9001' }] };
    const config = loadConfigFile(write(tmp(t), raw), {});
    t.same(config.pools[0]?.hashKey, expected, `hashKey ${hashKey}`);
  }
});

t.test('a hashKey without a name, or of an unknown kind, is refused', async (t) => {
  for (const hashKey of ['header:', 'cookie:', 'query:x', 'IP']) {
    const raw = base();
    (raw.pools as Raw).blue = { balance: 'hash', hashKey, servers: [{ address: '127.0.0.1:9001' }] };
    t.same(refuse(t, raw), [{ path: 'pools.blue.hashKey', message: 'expected ip, header:NAME or cookie:NAME' }], hashKey);
  }
});

t.test('a hashKey on a pool whose balance is not hash is refused', async (t) => {
  const raw = base();
  (raw.pools as Raw).blue = { hashKey: 'ip', servers: [{ address: '127.0.0.1:9001' }] };
  t.same(refuse(t, raw), [{ path: 'pools.blue.hashKey', message: 'only valid with balance: hash' }]);
  (raw.pools as Raw).blue = { balance: 'least-conn', hashKey: 'header:X-User', servers: [{ address: '127.0.0.1:9001' }] };
  t.same(refuse(t, raw), [{ path: 'pools.blue.hashKey', message: 'only valid with balance: hash' }]);
});

t.test('a duplicate server address in a pool is reported once, at the repeated entry', async (t) => {
  const raw = base();
  (raw.pools as Raw).blue = { servers: [{ address: '127.0.0.1:9001' }, { address: '127.0.0.1:9002' }, { address: '127.0.0.1:9001' }] };
  t.same(refuse(t, raw), [{ path: 'pools.blue.servers[2].address', message: 'duplicate address 127.0.0.1:9001 in pool blue' }]);
});

t.test('a duplicate explicit server id is reported at the id', async (t) => {
  const raw = base();
  (raw.pools as Raw).blue = { servers: [{ address: '127.0.0.1:9001', id: 'a' }, { address: '127.0.0.1:9002', id: 'a' }] };
  t.same(refuse(t, raw), [{ path: 'pools.blue.servers[1].id', message: 'duplicate server id "a" in pool blue' }]);
});

t.test('a non-loopback admin listener without a token is refused', async (t) => {
  const raw = base();
  (raw.listen as Raw).admin = '0.0.0.0:9901';
  const issues = refuse(t, raw);
  t.equal(issues.length, 1);
  t.equal(issues[0]?.path, 'admin.token');
  t.match(issues[0]?.message, /required when listen\.admin \(0\.0\.0\.0:9901\) is not a loopback address/);
  t.same(refuse(t, raw, { SWITCHYARD_ADMIN_TOKEN: '' }).map((i) => i.path), ['admin.token'], 'an empty env token does not count');
});

t.test('loopback admin listeners need no token', async (t) => {
  for (const admin of ['127.0.0.1:9901', '127.9.8.7:9901', 'localhost:9901', '[::1]:9901']) {
    const raw = base();
    (raw.listen as Raw).admin = admin;
    const config = loadConfigFile(write(tmp(t), raw), {});
    t.equal(config.admin.token, undefined, admin);
  }
});

t.test('SWITCHYARD_ADMIN_TOKEN satisfies a non-loopback admin and wins over admin.token', async (t) => {
  const raw = base();
  (raw.listen as Raw).admin = '0.0.0.0:9901';
  const file = write(tmp(t), raw);
  t.equal(loadConfigFile(file, { SWITCHYARD_ADMIN_TOKEN: 'from-env' }).admin.token, 'from-env');

  raw.admin = { token: 'from-file' };
  const withToken = write(tmp(t), raw);
  t.equal(loadConfigFile(withToken, {}).admin.token, 'from-file');
  t.equal(loadConfigFile(withToken, { SWITCHYARD_ADMIN_TOKEN: 'from-env' }).admin.token, 'from-env', 'env wins');
});

t.test('maintenance.page is read relative to the config file', async (t) => {
  const dir = tmp(t);
  mkdirSync(join(dir, 'pages'));
  mkdirSync(join(dir, 'conf'));
  writeFileSync(join(dir, 'pages', 'down.html'), '<h1>back soon</h1>\n');
  const raw = { ...base(), maintenance: { page: '../pages/down.html', enabled: true, retryAfterSeconds: 30 } };
  const config = loadConfigFile(write(join(dir, 'conf'), raw), {});
  t.same(config.maintenance, { enabled: true, page: '<h1>back soon</h1>\n', retryAfterSeconds: 30 });
});

t.test('a missing maintenance page is reported with its resolved path', async (t) => {
  const dir = tmp(t);
  const file = write(dir, { ...base(), maintenance: { page: 'nope.html' } });
  const issues = issuesOf(t, () => loadConfigFile(file, {}));
  t.equal(issues.length, 1);
  t.equal(issues[0]?.path, 'maintenance.page');
  t.match(issues[0]?.message, `cannot read ${join(dir, 'nope.html')}: ENOENT`);
});

t.test('a YAML syntax error is reported with its line, on one line, without a stack', async (t) => {
  const text = SAMPLE.replace('live: blue', 'live: [blue');
  const issues = issuesOf(t, () => parseConfigText(text, '/etc/switchyard.yaml', {}));
  t.ok(issues.length >= 1);
  for (const issue of issues) {
    t.equal(issue.path, '');
    t.match(issue.message, /^YAML: /);
    t.notMatch(issue.message, /\n/, 'one line');
    t.notMatch(issue.message, /\bat .*\.(?:js|ts):\d+/, 'no stack frame');
  }
  t.match(issues.map((i) => i.message).join(' '), /line \d+/, 'says where');
});

t.test('a duplicate YAML key is a syntax error, not a silent override', async (t) => {
  const issues = issuesOf(t, () => parseConfigText(`${SAMPLE}live: green\n`, '', {}));
  t.equal(issues.length, 1);
  t.match(issues[0]?.message, /^YAML: .*[Mm]ap keys must be unique/);
});

t.test('an unreadable config file is one issue naming the file', async (t) => {
  const file = join(tmp(t), 'missing.yaml');
  const issues = issuesOf(t, () => loadConfigFile(file, {}));
  t.equal(issues.length, 1);
  t.match(issues[0]?.message, `cannot read ${file}`);
});

t.test('an empty file is refused as not a mapping', async (t) => {
  const issues = refuse(t, '');
  t.equal(issues.length, 1);
  t.equal(issues[0]?.path, '');
  t.match(issues[0]?.message, /must be object/);
});

t.test('several schema errors are reported at once, each with its path', async (t) => {
  const raw = base();
  (raw.listen as Raw).http = 'nope';
  (raw.pools as Raw).blue = { balance: 'fastest', servers: [{ address: '127.0.0.1:9001', colour: 'blue' }] };
  (raw.pools as Raw).green = { servers: [{ address: '127.0.0.1:9003' }, { address: 'x' }] };
  raw.extra = true;
  const issues = refuse(t, raw);
  const err = new ConfigError(issues);
  t.same(
    [...issues].sort((a, b) => a.path.localeCompare(b.path)),
    [
      { path: 'extra', message: 'unknown key' },
      { path: 'listen.http', message: 'expected host:port' },
      { path: 'pools.blue.balance', message: 'expected one of "round-robin", "least-conn", "p2c", "hash"' },
      { path: 'pools.blue.servers[0].colour', message: 'unknown key' },
      { path: 'pools.green.servers[1].address', message: 'expected host:port' },
    ],
  );
  t.equal(err.message.split('\n').length, 5, 'the error message has one line per issue');
});

t.test('several semantic errors are reported at once, each with its path', async (t) => {
  const dir = tmp(t);
  const raw = base();
  raw.live = 'purple';
  (raw.listen as Raw).admin = '10.0.0.1:9901';
  (raw.pools as Raw).blue = { hashKey: 'ip', servers: [{ address: '127.0.0.1:9001' }, { address: '127.0.0.1:9001' }] };
  raw.maintenance = { page: 'missing.html' };
  const issues = issuesOf(t, () => loadConfigFile(write(dir, raw), {}));
  t.same(
    issues.map((i) => i.path).sort(),
    ['admin.token', 'live', 'maintenance.page', 'pools.blue.hashKey', 'pools.blue.servers[1].address'],
  );
});

t.test('health timeoutMs above intervalMs is reported once at the level that set it', async (t) => {
  const global = base();
  global.health = { intervalMs: 100, timeoutMs: 200 };
  t.same(refuse(t, global), [{ path: 'health.timeoutMs', message: 'must not exceed intervalMs' }], 'global, not per server');

  const pool = base();
  (pool.pools as Raw).green = { health: { intervalMs: 100 }, servers: [{ address: '127.0.0.1:9003' }, { address: '127.0.0.1:9004' }] };
  t.same(refuse(t, pool), [{ path: 'pools.green.health.timeoutMs', message: 'must not exceed intervalMs' }], 'pool level');

  const server = base();
  (server.pools as Raw).green = { servers: [{ address: '127.0.0.1:9003' }, { address: '127.0.0.1:9004', health: { timeoutMs: 5000 } }] };
  t.same(refuse(t, server), [{ path: 'pools.green.servers[1].health.timeoutMs', message: 'must not exceed intervalMs' }], 'server level');

  const disabled = base();
  disabled.health = { enabled: false, intervalMs: 100, timeoutMs: 200 };
  t.doesNotThrow(() => loadConfigFile(write(tmp(t), disabled), {}), 'not checked when health checks are off');
});

t.test('passive maxEjectionMs below baseEjectionMs is reported once at the level that set it', async (t) => {
  const global = base();
  global.passive = { baseEjectionMs: 5000, maxEjectionMs: 1000 };
  t.same(refuse(t, global), [{ path: 'passive.maxEjectionMs', message: 'must be >= baseEjectionMs' }]);

  const pool = base();
  (pool.pools as Raw).blue = { passive: { baseEjectionMs: 400_000 }, servers: [{ address: '127.0.0.1:9001' }] };
  t.same(refuse(t, pool), [{ path: 'pools.blue.passive.maxEjectionMs', message: 'must be >= baseEjectionMs' }]);
});

t.test('an invalid pool name is refused with a readable message', async (t) => {
  const raw = base();
  (raw.pools as Raw)['1st'] = { servers: [{ address: '127.0.0.1:9005' }] };
  const issues = refuse(t, raw);
  t.same(issues, [{ path: 'pools.1st', message: 'invalid name (letters, digits, _ and -, starting with a letter)' }]);

  const empty = base();
  (empty.pools as Raw)['my pool'] = {};
  t.same(
    refuse(t, empty).map((i) => `${i.path}: ${i.message}`).sort(),
    ['pools.my pool.servers: is required', 'pools.my pool: invalid name (letters, digits, _ and -, starting with a letter)'],
    'the body of a badly named pool is still validated (no crash on the missing servers)',
  );
});

t.test('a preview listener needs two pools, and two listeners may not share an address', async (t) => {
  const one = base();
  (one.listen as Raw).preview = '127.0.0.1:8081';
  delete (one.pools as Raw).green;
  t.same(refuse(t, one), [{ path: 'listen.preview', message: 'needs at least two pools (it routes to the standby one)' }]);

  const clash = base();
  (clash.listen as Raw).admin = '127.0.0.1:8080';
  t.same(refuse(t, clash), [{ path: 'listen.admin', message: 'same address as listen.http' }]);
});

function isDeepFrozen(value: unknown, path = 'config'): string[] {
  if (value === null || typeof value !== 'object') return [];
  const bad = Object.isFrozen(value) ? [] : [path];
  for (const [k, v] of Object.entries(value)) bad.push(...isDeepFrozen(v, `${path}.${k}`));
  return bad;
}

t.test('the resolved config is deep-frozen', async (t) => {
  const raw: Raw = { ...base(), maintenance: { enabled: false } };
  (raw.pools as Raw).blue = { balance: 'hash', hashKey: 'header:X-User', servers: [{ address: '127.0.0.1:9001', health: { expectStatus: '200,204' } }] };
  const config = loadConfigFile(write(tmp(t), raw), {});
  t.same(isDeepFrozen(config), [], 'every object and array is frozen');
  t.throws(() => {
    (config as { live: string }).live = 'green';
  }, TypeError);
  t.throws(() => {
    (config.pools as SwitchyardConfig['pools'][number][]).push(config.pools[0]!);
  }, TypeError);
  t.throws(() => {
    (config.pools[0]!.servers[0]!.health.expectStatus[0] as { min: number }).min = 100;
  }, TypeError);
  t.equal(config.live, 'blue');
});

t.test('defaults are applied for every key left out', async (t) => {
  const config = loadConfigFile(write(tmp(t), base()), {});
  const blue = config.pools[0]!;
  const server = blue.servers[0]!;
  t.equal(blue.balance, DEFAULTS.balance);
  t.same(blue.hashKey, { kind: 'ip' }, `hashKey defaults to ${DEFAULTS.hashKey}`);
  t.equal(server.weight, DEFAULTS.weight);
  t.equal(server.maxInflight, Infinity, 'no in-flight limit by default');
  t.same(server.health, {
    enabled: DEFAULTS.health.enabled,
    path: DEFAULTS.health.path,
    intervalMs: DEFAULTS.health.intervalMs,
    timeoutMs: DEFAULTS.health.timeoutMs,
    rise: DEFAULTS.health.rise,
    fall: DEFAULTS.health.fall,
    expectStatus: [{ min: 200, max: 399 }],
    host: undefined,
  });
  t.same(blue.passive, DEFAULTS.passive);
  t.same(config.proxy, DEFAULTS.proxy);
  t.equal(config.drain.timeoutMs, DEFAULTS.drainTimeoutMs);
  t.equal(config.shutdown.timeoutMs, DEFAULTS.shutdownTimeoutMs);
  t.same(config.maintenance, DEFAULTS.maintenance);
  t.same(config.log, DEFAULTS.log);
  t.same(config.admin, { token: undefined, openMetrics: false });
  t.equal(config.state.file, undefined, 'no state file unless configured');
  t.equal(config.listen.preview, undefined);
});

t.test('health settings inherit global → pool → server, each level overriding the one above', async (t) => {
  const raw = base();
  raw.health = { path: '/up', intervalMs: 2000 };
  (raw.pools as Raw).green = {
    health: { path: '/ready', expectStatus: '200' },
    servers: [{ address: '127.0.0.1:9003' }, { address: '127.0.0.1:9004', health: { rise: 5 } }],
  };
  const config = loadConfigFile(write(tmp(t), raw), {});
  const [blue, green] = config.pools;
  t.match(blue?.servers[0]?.health, { path: '/up', intervalMs: 2000, rise: DEFAULTS.health.rise });
  t.match(green?.servers[0]?.health, { path: '/ready', intervalMs: 2000, expectStatus: [{ min: 200, max: 200 }], rise: DEFAULTS.health.rise });
  t.match(green?.servers[1]?.health, { path: '/ready', intervalMs: 2000, rise: 5 });
});

t.test('proxy.poolHeader is lower-cased and may be disabled with an empty string', async (t) => {
  const raw = { ...base(), proxy: { poolHeader: 'X-Served-By' } };
  t.equal(loadConfigFile(write(tmp(t), raw), {}).proxy.poolHeader, 'x-served-by');
  const off = { ...base(), proxy: { poolHeader: '' } };
  t.equal(loadConfigFile(write(tmp(t), off), {}).proxy.poolHeader, '');
});

t.test('workers: default 1, a count, or "auto" (one per CPU); anything else is refused at the key', async (t) => {
  const { availableParallelism } = await import('node:os');
  const load = (workers: unknown): SwitchyardConfig => loadConfigFile(write(tmp(t), { ...base(), ...(workers === undefined ? {} : { workers }) }), {});
  t.equal(load(undefined).workers, 1);
  t.equal(load(4).workers, 4);
  t.equal(load('auto').workers, availableParallelism());
  for (const bad of [0, -1, 1.5, 'many', 1000]) {
    const issues = refuse(t, { ...base(), workers: bad });
    t.equal(issues.length, 1, `workers: ${String(bad)} gives one issue`);
    t.equal(issues[0]?.path, 'workers', `workers: ${String(bad)} is reported at its key`);
  }
});
