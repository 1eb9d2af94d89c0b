/**
 * The TCP health probe (health/probe-tcp.ts) against real sockets: a connect
 * is a pass, a refused connect a failure, send/expect checks the reply, and
 * the timeout bounds a server that never answers.
 */
import t, { type Test } from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { probeTcp } from '../../src/health/probe-tcp.js';
import type { HealthConfig } from '../../src/config/types.js';
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
