/**
 * listen.https and servers' upstream TLS keys in the config: defaults, paths
 * relative to the config file, and every unusable file reported at load with
 * its key path (so a typo never becomes a failed handshake in production).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, resolveConfig } from '../../src/config/load.js';
import { makeCa, makeCert } from '../helpers/certs.js';

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function base(extra: { https?: unknown[]; server?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    listen: { http: '127.0.0.1:8080', admin: '127.0.0.1:9901', ...(extra.https === undefined ? {} : { https: extra.https }) },
    live: 'blue',
    pools: { blue: { servers: [{ address: '127.0.0.1:9001', ...extra.server }] }, green: { servers: [{ address: '127.0.0.1:9002' }] } },
  };
}

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

t.test('a TLS listener resolves with defaults and absolute paths', async (t) => {
  const dir = tmp(t);
  const ca = makeCa(dir);
  makeCert(dir, 'site', ca, ['site.test']);
  const config = resolveConfig(base({ https: [{ address: '127.0.0.1:8443', cert: 'site.crt', key: 'site.key', sni: [{ names: ['WWW.Site.test', '*.site.test'], cert: 'site.crt', key: 'site.key' }] }] }), join(dir, 'switchyard.yaml'), {});
  const l = config.listen.https[0];
  t.match(l, { bind: { host: '127.0.0.1', port: 8443 }, cert: join(dir, 'site.crt'), key: join(dir, 'site.key'), http2: true, minVersion: 'TLSv1.2', preview: false });
  t.same(l?.sni[0]?.names, ['www.site.test', '*.site.test'], 'names are lowercased');
  t.same(resolveConfig(base(), join(dir, 'switchyard.yaml'), {}).listen.https, [], 'no listen.https → []');
});

t.test('unreadable, invalid and mismatched files are config errors naming the key path', async (t) => {
  const dir = tmp(t);
  const ca = makeCa(dir);
  makeCert(dir, 'site', ca, ['site.test']);
  makeCert(dir, 'other', ca, ['other.test']);
  writeFileSync(join(dir, 'bad.pem'), 'not pem\n');
  const found = issues(() =>
    resolveConfig(
      base({
        https: [
          {
            address: '127.0.0.1:8443',
            cert: 'missing.crt',
            key: 'site.key',
            sni: [
              { names: ['a.test'], cert: 'site.crt', key: 'site.key' },
              { names: ['b.test'], cert: 'bad.pem', key: 'site.key' },
              { names: ['c.test'], cert: 'site.crt', key: 'other.key' },
            ],
          },
        ],
      }),
      join(dir, 'switchyard.yaml'),
      {},
    ),
  );
  t.match(found, [
    new RegExp(`^listen\\.https\\[0\\]\\.cert: cannot read ${join(dir, 'missing.crt')}: ENOENT`),
    /^listen\.https\[0\]\.sni\[1\]\.cert: not a PEM certificate/,
    /^listen\.https\[0\]\.sni\[2\]\.key: does not match .*site\.crt/,
  ]);
  t.equal(found.length, 3, found.join('\n'));
});

t.test('schema rules: SNI names, minVersion, duplicate addresses', async (t) => {
  const dir = tmp(t);
  const ca = makeCa(dir);
  makeCert(dir, 'site', ca, ['site.test']);
  const found = issues(() =>
    resolveConfig(
      base({ https: [{ address: '127.0.0.1:8080', cert: 'site.crt', key: 'site.key', minVersion: 'TLSv1.1', sni: [{ names: ['a.*.test'], cert: 'site.crt', key: 'site.key' }] }] }),
      join(dir, 'switchyard.yaml'),
      {},
    ),
  );
  t.match(found.join('\n'), /listen\.https\[0\]\.minVersion: expected one of "TLSv1\.2", "TLSv1\.3"/);
  t.match(found.join('\n'), /listen\.https\[0\]\.sni\[0\]\.names\[0\]: does not match/);
  const dup = issues(() => resolveConfig(base({ https: [{ address: '127.0.0.1:8080', cert: 'site.crt', key: 'site.key' }] }), join(dir, 'switchyard.yaml'), {}));
  t.match(dup, [/^listen\.https\[0\]\.address: same address as listen\.http/]);
});

t.test('upstream TLS: ca read at load, servername kept, both only with tls: true', async (t) => {
  const dir = tmp(t);
  const ca = makeCa(dir);
  const config = resolveConfig(base({ server: { tls: true, ca: 'ca.crt', servername: 'app.internal' } }), join(dir, 'switchyard.yaml'), {});
  const s = config.pools[0]?.servers[0];
  t.match(s?.tls, { ca: ca.pem, caFile: join(dir, 'ca.crt'), servername: 'app.internal' });
  t.equal(config.pools[1]?.servers[0]?.tls, undefined, 'plain servers have no tls');
  t.match(issues(() => resolveConfig(base({ server: { ca: 'ca.crt', servername: 'x' } }), join(dir, 'switchyard.yaml'), {})), [
    /^pools\.blue\.servers\[0\]\.ca: only valid with tls: true/,
    /^pools\.blue\.servers\[0\]\.servername: only valid with tls: true/,
  ]);
  t.match(issues(() => resolveConfig(base({ server: { tls: true, ca: 'nope.crt' } }), join(dir, 'switchyard.yaml'), {})), [/^pools\.blue\.servers\[0\]\.ca: cannot read .*nope\.crt/]);
});
