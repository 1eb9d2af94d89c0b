/**
 * The TCP health probe (health/probe-tcp.ts) against real sockets: a connect
 * is a pass, a refused connect a failure, send/expect checks the reply, and
 * the timeout bounds a server that never answers.
 */
import t, { type Test } from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { probeTcp } from '../../src/health/probe-tcp.js';
import type { HealthConfig, UpstreamTlsConfig } from '../../src/config/types.js';
import { makeCa, makeCert } from '../helpers/certs.js';
import { freePort } from '../helpers/http.js';

const health: HealthConfig = { enabled: true, path: '/', intervalMs: 1000, timeoutMs: 300, rise: 1, fall: 1, expectStatus: [], host: undefined };

async function server(t: Test, onData: (data: string, write: (s: string) => void) => void): Promise<number> {
  const s = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => onData(d, (x) => socket.write(x)));
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.teardown(() => {
    s.close();
  });
  return (s.address() as AddressInfo).port;
}

t.test('a connect is a pass without send/expect', async (t) => {
  const port = await server(t, () => undefined);
  const r = await probeTcp({ host: '127.0.0.1', port, health }, { send: undefined, expect: undefined });
  t.equal(r.ok, true, r.reason);
});

t.test('a refused connect is a failure', async (t) => {
  const port = await freePort();
  const r = await probeTcp({ host: '127.0.0.1', port, health }, { send: undefined, expect: undefined });
  t.equal(r.ok, false);
  t.equal(r.reason, 'ECONNREFUSED');
});

t.test('send/expect: passes on the expected reply, fails on a wrong one or silence (timeout)', async (t) => {
  const port = await server(t, (d, write) => {
    if (d.startsWith('PING')) write('+PONG\r\n');
    else if (d.startsWith('WRONG')) write('-ERR\r\n');
  });
  const ok = await probeTcp({ host: '127.0.0.1', port, health }, { send: 'PING\r\n', expect: '+PONG' });
  t.equal(ok.ok, true, ok.reason);
  const started = performance.now();
  const wrong = await probeTcp({ host: '127.0.0.1', port, health }, { send: 'WRONG\r\n', expect: '+PONG' });
  t.equal(wrong.ok, false);
  t.match(wrong.reason, /timeout/);
  t.ok(performance.now() - started < 2000, 'bounded by timeoutMs');
  const silent = await probeTcp({ host: '127.0.0.1', port, health }, { send: 'HELLO\r\n', expect: '+PONG' });
  t.equal(silent.ok, false);
});

t.test('an aborted probe resolves at once', async (t) => {
  const port = await server(t, () => undefined);
  const ac = new AbortController();
  ac.abort();
  const r = await probeTcp({ host: '127.0.0.1', port, health }, { send: undefined, expect: 'x' }, ac.signal);
  t.same({ ok: r.ok, reason: r.reason }, { ok: false, reason: 'aborted' });
});

t.test('a TLS server is probed with a verified handshake; send/expect run inside TLS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  const other = makeCa(dir, 'other-ca');
  const leaf = makeCert(dir, 'db', ca, ['db.internal']);
  const s = createTlsServer({ cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) }, (socket) => {
    socket.on('error', () => undefined);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      if (d.startsWith('PING')) socket.write('+PONG\r\n');
    });
  });
  s.on('tlsClientError', () => undefined);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.teardown(() => {
    s.close();
  });
  const port = (s.address() as AddressInfo).port;
  const tls = (file: string, servername: string | undefined = 'db.internal'): UpstreamTlsConfig => ({ ca: readFileSync(file, 'utf8'), caFile: file, servername });
  const none = { send: undefined, expect: undefined };
  const ok = await probeTcp({ host: '127.0.0.1', port, health, tls: tls(ca.cert) }, none);
  t.same([ok.ok, ok.reason], [true, 'TLS handshake done']);
  const exchanged = await probeTcp({ host: '127.0.0.1', port, health, tls: tls(ca.cert) }, { send: 'PING\r\n', expect: '+PONG' });
  t.same([exchanged.ok, exchanged.reason], [true, 'expected reply']);
  const wrongCa = await probeTcp({ host: '127.0.0.1', port, health, tls: tls(other.cert) }, none);
  t.equal(wrongCa.ok, false, 'a certificate that does not verify is a failure');
  t.match(wrongCa.reason, /UNABLE_TO_VERIFY|CERT|SIGNATURE/);
  const wrongName = await probeTcp({ host: '127.0.0.1', port, health, tls: tls(ca.cert, 'other.internal') }, none);
  t.equal(wrongName.ok, false, 'a certificate for another name is a failure');
  t.match(wrongName.reason, /ERR_TLS_CERT_ALTNAME_INVALID/);
});
