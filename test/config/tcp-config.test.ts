/**
 * listen.tcp in the config (config/schema.ts, config/tcp.ts): defaults, the
 * rule that TCP pools are named after main pools, and errors with key paths.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, resolveConfig } from '../../src/config/load.js';
import { makeCa } from '../helpers/certs.js';

const base = {
  listen: { http: '127.0.0.1:8080', admin: '127.0.0.1:9901' },
  live: 'blue',
  pools: { blue: { servers: [{ address: '127.0.0.1:9001' }], onSwitch: 'drain', drainTimeoutMs: 1234 }, green: { servers: [{ address: '127.0.0.1:9003' }] } },
};

function withTcp(tcp: unknown, extra: Record<string, unknown> = {}): unknown {
  return { ...base, ...extra, listen: { ...base.listen, tcp } };
}

function issues(data: unknown): string[] {
  try {
    resolveConfig(data, '', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

t.test('a TCP listener resolves with defaults and inherits its pool policy from the main pool', async (t) => {
  const c = resolveConfig(withTcp([{ name: 'pg', address: '127.0.0.1:5432', pools: { blue: { servers: [{ address: '10.0.0.1:5432' }], health: { send: 'x', expect: 'y' } }, green: { servers: [{ address: '10.0.0.2:5432', id: 'g1' }], balance: 'hash' } } }]), '', {});
  const pg = c.listen.tcp[0];
  t.equal(pg?.name, 'pg');
  t.same(pg?.bind, { host: '127.0.0.1', port: 5432 });
  t.equal(pg?.connectTimeoutMs, 5000);
  t.equal(pg?.idleTimeoutMs, 600_000);
  t.equal(pg?.proxyProtocol, undefined);
  t.equal(pg?.pools[0]?.pool.onSwitch, 'drain');
  t.equal(pg?.pools[0]?.pool.drainTimeoutMs, 1234);
  t.same(pg?.pools[0]?.check, { send: 'x', expect: 'y' });
  t.equal(pg?.pools[1]?.pool.balance, 'hash');
  t.same(pg?.pools[1]?.pool.hashKey, { kind: 'ip' });
  t.equal(pg?.pools[1]?.pool.servers[0]?.id, 'g1');
  t.same(resolveConfig(base, '', {}).listen.tcp, [], 'no listen.tcp: an empty list');
});

t.test('TCP pools must be named after main pools; names, addresses and keys are checked', async (t) => {
  t.same(issues(withTcp([{ name: 'pg', address: '127.0.0.1:5432', pools: { red: { servers: [{ address: '10.0.0.1:1' }] } } }])), ['listen.tcp[0].pools.red: unknown pool "red" (TCP pools follow the main pools: blue, green)']);
  t.same(issues(withTcp([{ name: 'pg', address: '127.0.0.1:8080', pools: { blue: { servers: [{ address: '10.0.0.1:1' }] } } }])), ['listen.tcp[0].address: same address as listen.http']);
  t.same(
    issues(withTcp([
      { name: 'pg', address: '127.0.0.1:1', pools: { blue: { servers: [{ address: '10.0.0.1:1' }] } } },
      { name: 'pg', address: '127.0.0.1:2', pools: { blue: { servers: [{ address: '10.0.0.1:1' }] } } },
    ])),
    ['listen.tcp[1].name: duplicate TCP listener name "pg"'],
  );
  const found = issues(withTcp([{ name: 'pg', address: 'nope', pools: { blue: { servers: [{ address: '10.0.0.1:1' }], balance: 'p2c', hashKey: 'ip' } }, proxyProtocol: 'v3' }]));
  for (const want of [
    'listen.tcp[0].address: expected host:port',
    'listen.tcp[0].pools.blue.hashKey: unknown key',
    'listen.tcp[0].pools.blue.balance: expected one of "round-robin", "least-conn", "hash"',
    'listen.tcp[0].proxyProtocol: expected one of "v1", "v2"',
  ]) {
    t.ok(found.includes(want), `reports ${want} (got ${JSON.stringify(found)})`);
  }
});

t.test('TCP servers take the upstream TLS keys: ca read at load (relative to the config file), ca/servername only with tls: true', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  const source = join(dir, 'switchyard.yaml');
  const tcp = (server: Record<string, unknown>): unknown => withTcp([{ name: 'pg', address: '127.0.0.1:5432', pools: { blue: { servers: [{ address: '10.0.0.1:5432', ...server }, { address: '10.0.0.2:5432' }] } } }]);
  const resolved = resolveConfig(tcp({ tls: true, ca: 'ca.crt', servername: 'db.internal' }), source, {});
  const servers = resolved.listen.tcp[0]?.pools[0]?.pool.servers;
  t.match(servers?.[0]?.tls, { ca: ca.pem, caFile: join(dir, 'ca.crt'), servername: 'db.internal' });
  t.equal(servers?.[1]?.tls, undefined, 'plain servers have no tls');
  t.same(resolveConfig(tcp({ tls: true }), source, {}).listen.tcp[0]?.pools[0]?.pool.servers[0]?.tls, { ca: undefined, caFile: undefined, servername: undefined }, 'tls alone: system roots, SNI from the address');
  t.same(issues(tcp({ ca: 'ca.crt', servername: 'db.internal' })), [
    'listen.tcp[0].pools.blue.servers[0].ca: only valid with tls: true',
    'listen.tcp[0].pools.blue.servers[0].servername: only valid with tls: true',
  ]);
  t.match(issues(tcp({ tls: true, ca: join(dir, 'nope.crt') })), [/^listen\.tcp\[0\]\.pools\.blue\.servers\[0\]\.ca: cannot read .*nope\.crt/]);
  t.match(issues(tcp({ tls: 'yes', servername: 'bad name' })), ['listen.tcp[0].pools.blue.servers[0].tls: must be boolean', /^listen\.tcp\[0\]\.pools\.blue\.servers\[0\]\.servername: does not match/]);
});
