/**
 * tls/certs as a unit: SNI lookup order (exact, one-label wildcard, default)
 * and the all-or-nothing prepare/swap used by certificate reloads.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CertSet } from '../../src/tls/certs.js';
import { PemError } from '../../src/tls/pem.js';
import { makeCa, makeCert } from '../helpers/certs.js';
import { tempDir } from '../helpers/http.js';

t.test('lookup: exact names, then one-label wildcards, else the default; prepare swaps only when every file is good', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  const def = makeCert(dir, 'default', ca, ['default.test']);
  const a = makeCert(dir, 'a', ca, ['a.test']);
  const w = makeCert(dir, 'w', ca, ['*.w.test']);
  const set = new CertSet({
    cert: def.cert,
    key: def.key,
    minVersion: 'TLSv1.2',
    sni: [
      { names: ['a.test', 'x.w.test'], cert: a.cert, key: a.key },
      { names: ['*.w.test'], cert: w.cert, key: w.key },
    ],
  });
  const fallback = set.defaultContext;
  const exact = set.lookup('a.test');
  const wild = set.lookup('y.w.test');
  t.not(exact, fallback);
  t.not(wild, fallback);
  t.not(wild, exact);
  t.equal(set.lookup('A.TEST'), exact, 'case-insensitive');
  t.equal(set.lookup('x.w.test'), exact, 'an exact name beats a wildcard');
  t.equal(set.lookup('z.y.w.test'), fallback, 'a wildcard covers one label only');
  t.equal(set.lookup('w.test'), fallback, 'and not the bare domain');
  t.equal(set.lookup(''), fallback);
  t.equal(set.lookup('other.test'), fallback);

  writeFileSync(w.key, 'broken\n');
  t.throws(() => set.prepare(), PemError, 'a bad file throws');
  try {
    set.prepare();
  } catch (err) {
    t.equal((err as PemError).problem.file, join(dir, 'w.key'), 'naming the file');
    t.equal((err as PemError).problem.which, 'key');
  }
  t.equal(set.lookup('a.test'), exact, 'nothing was swapped');
  makeCert(dir, 'w', ca, ['*.w.test']);
  set.prepare()();
  t.not(set.lookup('a.test'), exact, 'a good prepare swaps every context');
  t.not(set.defaultContext, fallback);
  t.same(set.files, [def.cert, def.key, a.cert, a.key, w.cert, w.key]);
});
