/**
 * Upstream TLS: servers with `tls: true` are reached over https with the
 * configured CA (and SNI name), health probes use https with the same
 * verification, and a server whose certificate does not verify is a 502
 * (traffic) and unhealthy (probes) — never silently accepted.
 */
import t, { type Test } from 'tap';
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { startSwitchyard } from '../helpers/app.js';
import { makeCa, makeCert } from '../helpers/certs.js';
import { request, tempDir } from '../helpers/http.js';
import { getState } from '../helpers/observe.js';
import { waitFor } from '../helpers/wait.js';

async function httpsUpstream(t: Test, cert: string, key: string, name: string): Promise<string> {
  const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name, 'x-seen-proto': String(req.headers['x-forwarded-proto']) });
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('a tls: true server with its CA answers through the proxy and passes https health probes', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  const leaf = makeCert(dir, 'app', ca, ['app.internal', '127.0.0.1']);
  const address = await httpsUpstream(t, leaf.cert, leaf.key, 'secure-blue');
  const sy = await startSwitchyard(
    t,
    {
      blue: { servers: [{ address, tls: true, ca: 'ca.crt', servername: 'app.internal' } as { address: string }] },
    },
    // Slack for a TLS handshake per probe on a loaded CI box.
    { health: { intervalMs: 500, timeoutMs: 500, rise: 1, fall: 3 } },
    { dir },
  );
  const res = await request(`${sy.url}/x`);
  t.equal(res.status, 200, res.body);
  t.equal(res.body, 'secure-blue');
  t.equal(res.headers['x-seen-proto'], 'http', 'X-Forwarded-Proto is the client side protocol');
  // /readyz answers 200 once every server had its first probe; a plain-http probe to this server would fail.
  await waitFor(async () => (await sy.api('GET', '/readyz')).status === 200, { message: 'first probes done' });
  t.equal((await getState(sy)).pools.blue?.servers[0]?.healthy, true, 'healthy after an https probe with verification');
});

t.test('without the right CA the upstream handshake fails: 502 on traffic, unhealthy on probes', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  const other = makeCa(dir, 'other-ca');
  const leaf = makeCert(dir, 'app', ca, ['127.0.0.1']);
  const address = await httpsUpstream(t, leaf.cert, leaf.key, 'secure');
  t.ok(other.pem);
  const sy = await startSwitchyard(
    t,
    {
      blue: { servers: [{ address, tls: true, ca: 'other-ca.crt' } as { address: string }], health: { enabled: false } },
      green: { servers: [{ address, tls: true, ca: 'other-ca.crt' } as { address: string }] },
    },
    {},
    { dir, preview: false },
  );
  const res = await request(`${sy.url}/`);
  t.equal(res.status, 502, 'certificate not verified → 502');
  t.match(String(res.headers['x-switchyard-error']), /^SY_ERR_UPSTREAM_/);
  await waitFor(async () => (await getState(sy)).pools.green?.servers[0]?.healthy === false, { message: 'green unhealthy: its https probe fails verification' });
  t.pass('unhealthy');
});
