/**
 * SIGHUP re-reads the certificate files of a running `switchyard start`
 * (a child process, as in production): new handshakes get the renewed
 * certificate, an HTTPS connection opened before keeps serving, and a bad
 * file on the next SIGHUP is logged while the current certificate stays.
 */
import t from 'tap';
import { copyFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'node:https';
import { stringify } from 'yaml';
import { CHILD_TOKEN, spawnSwitchyard } from '../helpers/child.js';
import { makeCa, makeCert } from '../helpers/certs.js';
import { freePort, tempDir } from '../helpers/http.js';
import { httpsGet, servedCn } from '../helpers/tls.js';
import { startUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';

t.test('SIGHUP swaps the served certificate without dropping an open connection; a bad file keeps the old one', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  makeCert(dir, 'site', ca, ['old.test', '127.0.0.1']);
  const blue = await startUpstream('blue');
  t.teardown(() => blue.close());
  const httpPort = await freePort();
  const adminPort = await freePort();
  const httpsPort = await freePort();
  const file = join(dir, 'switchyard.yaml');
  writeFileSync(
    file,
    stringify({
      listen: { http: `127.0.0.1:${httpPort}`, admin: `127.0.0.1:${adminPort}`, https: [{ address: `127.0.0.1:${httpsPort}`, cert: 'site.crt', key: 'site.key' }] },
      admin: { token: CHILD_TOKEN },
      state: { file: join(dir, 'state.json') },
      live: 'blue',
      pools: { blue: { servers: [{ address: blue.address }] } },
      health: { enabled: false },
      log: { level: 'info' },
    }),
  );
  const child = await spawnSwitchyard(t, { file, stateFile: join(dir, 'state.json'), httpPort, adminPort });
  const address = `127.0.0.1:${httpsPort}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.equal((await httpsGet(address, '/', { ca: ca.pem, agent })).body, 'blue', 'served over the TLS listener');
  t.equal(await servedCn(address, ca.pem), 'old.test');

  const renewed = makeCert(dir, 'renewed', ca, ['new.test', '127.0.0.1']);
  copyFileSync(renewed.cert, join(dir, 'site.crt'));
  copyFileSync(renewed.key, join(dir, 'site.key'));
  child.proc.kill('SIGHUP');
  await waitFor(async () => (await servedCn(address, ca.pem)) === 'new.test', { message: 'renewed certificate served after SIGHUP' });
  t.pass('renewed certificate served');
  t.equal((await httpsGet(address, '/', { ca: ca.pem, agent })).status, 200, 'the connection opened before SIGHUP still works');

  writeFileSync(join(dir, 'site.crt'), 'garbage\n');
  child.proc.kill('SIGHUP');
  await waitFor(() => child.output().includes('certificate reload refused'), { message: 'refused reload logged' });
  t.match(child.output(), /site\.crt/, 'the log names the bad file');
  t.equal(await servedCn(address, ca.pem), 'new.test', 'the certificate in force stays');
  t.equal(child.proc.exitCode, null, 'still running');
});
