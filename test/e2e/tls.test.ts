/**
 * TLS listeners end to end: certificates chosen by SNI (exact, one-label
 * wildcard, default), TLS 1.2+ only, X-Forwarded-Proto https, HTTP/1.1 and
 * WebSocket over TLS, and certificate reload through the admin API — new
 * handshakes get the new certificate, open connections keep working, a bad
 * file is refused and the old certificate stays. Certificates are generated
 * by openssl for the test.
 */
import t, { type Test } from 'tap';
import { copyFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { WebSocket } from 'ws';
import { startSwitchyard } from '../helpers/app.js';
import { makeCa, makeCert } from '../helpers/certs.js';
import { tempDir } from '../helpers/http.js';
import { handshake, httpsGet, servedCn } from '../helpers/tls.js';
import { startUpstream } from '../helpers/upstream.js';
import { echo, startWsUpstream } from '../helpers/ws.js';
import { rm } from 'node:fs/promises';

// Active probes are not what these tests are about; on a loaded CI box a 100 ms probe timeout could flap a server down.
const NO_PROBES = { enabled: false };

async function setup(t: Test, listenerExtra: Record<string, unknown> = {}) {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  const def = makeCert(dir, 'default', ca, ['default.test', '127.0.0.1']);
  const a = makeCert(dir, 'a', ca, ['a.test', 'www.a.test']);
  const wild = makeCert(dir, 'wild', ca, ['*.b.test']);
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  t.teardown(() => blue.close());
  t.teardown(() => green.close());
  const sy = await startSwitchyard(
    t,
    { blue: { servers: [blue.address] }, green: { servers: [green.address] } },
    {
      health: NO_PROBES,
      listen: {
        http: '127.0.0.1:0',
        admin: '127.0.0.1:0',
        https: [
          {
            address: '127.0.0.1:0',
            cert: 'default.crt',
            key: 'default.key',
            sni: [
              { names: ['a.test', 'www.a.test'], cert: 'a.crt', key: 'a.key' },
              { names: ['*.b.test'], cert: 'wild.crt', key: 'wild.key' },
            ],
            ...listenerExtra,
          },
        ],
      },
    },
    { dir },
  );
  const address = sy.app.addresses.https[0] as string;
  return { dir, ca, def, a, wild, blue, green, sy, address };
}

t.test('SNI picks the certificate: exact names, one-label wildcards, else the default', async (t) => {
  const { ca, address } = await setup(t);
  t.equal(await servedCn(address, ca.pem, 'a.test'), 'a.test', 'exact name');
  t.equal(await servedCn(address, ca.pem, 'WWW.A.test'), 'a.test', 'second name of the entry, case-insensitive');
  t.equal(await servedCn(address, ca.pem, 'x.b.test'), '*.b.test', 'wildcard matches one label');
  t.equal(await servedCn(address, ca.pem, 'y.x.b.test'), 'default.test', 'wildcard does not match two labels');
  t.equal(await servedCn(address, ca.pem, 'b.test'), 'default.test', 'wildcard does not match the bare domain');
  t.equal(await servedCn(address, ca.pem, 'unknown.test'), 'default.test', 'unknown name gets the default');
  t.equal(await servedCn(address, ca.pem), 'default.test', 'no SNI gets the default');
  // A verifying client accepts the chain for its name.
  const { socket } = await handshake(address, { ca: ca.pem, servername: 'a.test' });
  t.equal(socket.authorized, true, 'a.test certificate verifies against the CA');
  socket.destroy();
});

t.test('TLS 1.1 and older are refused; TLS 1.2 and 1.3 are accepted', async (t) => {
  const { ca, address } = await setup(t);
  await t.rejects(
    handshake(address, { ca: ca.pem, servername: 'a.test', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
    'a TLS 1.1 client gets no handshake',
  );
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    const { socket } = await handshake(address, { ca: ca.pem, servername: 'a.test', minVersion: v, maxVersion: v });
    t.equal(socket.getProtocol(), v, `${v} negotiated`);
    socket.destroy();
  }
});

t.test('minVersion TLSv1.3 refuses TLS 1.2', async (t) => {
  const { ca, address } = await setup(t, { minVersion: 'TLSv1.3' });
  await t.rejects(handshake(address, { ca: ca.pem, servername: 'a.test', maxVersion: 'TLSv1.2' }), 'TLS 1.2 refused');
  const { socket } = await handshake(address, { ca: ca.pem, servername: 'a.test' });
  t.equal(socket.getProtocol(), 'TLSv1.3');
  socket.destroy();
});

t.test('HTTPS requests are proxied with X-Forwarded-Proto https (h2 listener, HTTP/1.1 client)', async (t) => {
  const { ca, address, blue } = await setup(t);
  const res = await httpsGet(address, '/headers', { ca: ca.pem, servername: 'a.test', headers: { 'x-forwarded-proto': 'http' } });
  t.equal(res.status, 200);
  t.not(res.alpn, 'h2', 'an HTTP/1.1-only client is served over HTTP/1.1 (allowHTTP1)');
  t.equal(blue.lastHeaders?.['x-forwarded-proto'], 'https', 'the client-sent value is replaced');
  t.equal(res.headers['x-upstream'], 'blue');
});

t.test('a listener with http2: false serves HTTPS/1.1 only', async (t) => {
  const { ca, address, blue } = await setup(t, { http2: false });
  const res = await httpsGet(address, '/', { ca: ca.pem, servername: 'x.b.test' });
  t.equal(res.status, 200);
  t.equal(res.body, 'blue');
  t.equal(blue.lastHeaders?.['x-forwarded-proto'], 'https');
});

t.test('WebSocket upgrades work on the HTTP/1.1 side of a TLS listener', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  makeCert(dir, 'default', ca, ['ws.test', '127.0.0.1']);
  const wsUp = await startWsUpstream('blue-ws');
  t.teardown(() => wsUp.close());
  const sy = await startSwitchyard(
    t,
    { blue: { servers: [wsUp.address] } },
    { health: NO_PROBES, listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0', https: [{ address: '127.0.0.1:0', cert: 'default.crt', key: 'default.key' }] } },
    { dir },
  );
  const ws = new WebSocket(`wss://${sy.app.addresses.https[0] as string}/`, { ca: ca.pem });
  t.teardown(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  t.equal(await echo(ws, 'hello over tls'), 'hello over tls');
  ws.close();
});

t.test('POST /api/v1/reload-certs swaps certificates without dropping open connections; a bad file changes nothing', async (t) => {
  const { dir, ca, address, sy } = await setup(t);
  // An open keep-alive connection, established with the old certificate.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await httpsGet(address, '/', { ca: ca.pem, servername: 'a.test', agent });
  t.equal(first.status, 200);
  t.equal(await servedCn(address, ca.pem, 'a.test'), 'a.test');

  // Renew a.test: the new certificate has a different CN so the test can tell them apart.
  const renewed = makeCert(dir, 'renewed', ca, ['renewed-a.test', 'a.test', 'www.a.test']);
  copyFileSync(renewed.cert, `${dir}/a.crt`);
  copyFileSync(renewed.key, `${dir}/a.key`);
  const newDefault = makeCert(dir, 'default2', ca, ['renewed-default.test']);
  copyFileSync(newDefault.cert, `${dir}/default.crt`);
  copyFileSync(newDefault.key, `${dir}/default.key`);
  t.equal(await servedCn(address, ca.pem, 'a.test'), 'a.test', 'nothing changes before the reload');

  const res = await sy.api('POST', '/api/v1/reload-certs');
  t.equal(res.status, 200, res.body);
  t.match(res.json, { listeners: 1 });
  t.equal(await servedCn(address, ca.pem, 'a.test'), 'renewed-a.test', 'new handshakes get the renewed SNI certificate');
  t.equal(await servedCn(address, ca.pem), 'renewed-default.test', 'and the renewed default certificate');
  const again = await httpsGet(address, '/', { ca: ca.pem, servername: 'a.test', agent });
  t.equal(again.status, 200, 'the connection opened before the reload still serves requests');

  // A broken file: the reload is refused, names the file, and the certificates in force stay.
  writeFileSync(`${dir}/wild.key`, 'not a key\n');
  const bad = await sy.api('POST', '/api/v1/reload-certs');
  t.equal(bad.status, 500);
  t.match(bad.json, { error: 'SY_ERR_CERT_RELOAD', message: /wild\.key/ });
  t.equal(await servedCn(address, ca.pem, 'a.test'), 'renewed-a.test', 'old (current) certificates still served');
  t.equal(await servedCn(address, ca.pem, 'x.b.test'), '*.b.test');

  const unauth = await sy.api('POST', '/api/v1/reload-certs', undefined, {}, null);
  t.equal(unauth.status, 401, 'the reload needs the admin token');
});

t.test('a TLS listener with preview: true routes to the standby pool', async (t) => {
  const { ca, address, sy } = await setup(t, { preview: true });
  const res = await httpsGet(address, '/', { ca: ca.pem, servername: 'a.test' });
  t.equal(res.body, 'green', 'standby pool while blue is live');
  t.equal(sy.app.addresses.https.length, 1);
});
