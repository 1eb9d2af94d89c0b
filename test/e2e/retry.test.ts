import t from 'tap';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startSwitchyard } from '../helpers/app.js';
import { request } from '../helpers/http.js';
import { metric } from '../helpers/observe.js';

// Health checks off and passive ejection off: every attempt reaches the server
// the balancer picks, so attempt counts are exact. Round-robin with equal
// weights picks the first listed server first, which is the failing one.
const QUIET = { health: { enabled: false } };
const NO_EJECT = { consecutiveFailures: 0 };

/** closedAddress — an address that refuses connections: an upstream started, noted, closed. */
async function closedAddress(name: string): Promise<string> {
  const up = await startUpstream(name);
  const address = up.address;
  await up.close();
  return address;
}

function sum(ups: readonly TestUpstream[], f: (u: TestUpstream) => number): number {
  return ups.reduce((n, u) => n + f(u), 0);
}

t.test('a GET whose first server refuses the connection is retried on another server and succeeds', async (t) => {
  const dead = await closedAddress('blue-dead');
  const alive = await startUpstream('blue-alive');
  t.teardown(() => alive.close());
  const sy = await startSwitchyard(t, { blue: { servers: [dead, alive.address], passive: NO_EJECT } }, QUIET);
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push((await request(`${sy.url}/page`)).status);
  t.same(statuses, Array(10).fill(200), 'every client request succeeds');
  t.equal(alive.requests, 10, 'the live server served all of them');
  t.equal(await metric(sy, 'switchyard_retries_total', { pool: 'blue' }), 5, 'the five picks of the dead server were retried');
  t.equal(await metric(sy, 'switchyard_upstream_errors_total', { pool: 'blue', server: dead, kind: 'connect' }), 5);
});

t.test('a POST with a body is retried when the first server refuses the connection, and reaches exactly one server', async (t) => {
  const dead = await closedAddress('blue-dead');
  const alive = await startUpstream('blue-alive');
  t.teardown(() => alive.close());
  const sy = await startSwitchyard(t, { blue: { servers: [dead, alive.address], passive: NO_EJECT } }, QUIET);
  const body = Buffer.alloc(256 * 1024, 7);
  const res = await request(`${sy.url}/upload`, { method: 'POST', body });
  t.equal(res.status, 200);
  t.same(JSON.parse(res.body), { bytes: body.length, name: 'blue-alive' }, 'the whole body arrived at the second server');
  t.equal(alive.postsReceived, 1, 'exactly one server received the POST');
  t.equal(await metric(sy, 'switchyard_retries_total', { pool: 'blue' }), 1, 'it was a retry');
});

t.test('a POST whose connection is reset after it was sent is never sent twice: the client gets 502', async (t) => {
  const crashing = await startUpstream('blue-crash');
  const healthy = await startUpstream('blue-ok');
  t.teardown(() => Promise.all([crashing.close(), healthy.close()]));
  crashing.reset = true;
  const sy = await startSwitchyard(t, { blue: { servers: [crashing.address, healthy.address], passive: NO_EJECT } }, QUIET);
  const res = await request(`${sy.url}/upload`, { method: 'POST', body: Buffer.alloc(64 * 1024, 1) });
  t.equal(res.status, 502);
  t.equal(res.headers['x-switchyard-error'], 'SY_ERR_UPSTREAM_RESET');
  t.equal(crashing.postsReceived, 1, 'the crashing server got it');
  t.equal(sum([crashing, healthy], (u) => u.postsReceived), 1, 'no server got it a second time');
  t.equal(await metric(sy, 'switchyard_retries_total', { pool: 'blue' }), 0, 'no retry was attempted');
});

t.test('a bodyless POST reset after sending is not retried either (not idempotent)', async (t) => {
  const crashing = await startUpstream('blue-crash');
  const healthy = await startUpstream('blue-ok');
  t.teardown(() => Promise.all([crashing.close(), healthy.close()]));
  crashing.reset = true;
  const sy = await startSwitchyard(t, { blue: { servers: [crashing.address, healthy.address], passive: NO_EJECT } }, QUIET);
  const res = await request(`${sy.url}/submit`, { method: 'POST' });
  t.equal(res.status, 502);
  t.equal(sum([crashing, healthy], (u) => u.postsReceived), 1);
});

t.test('an idempotent GET whose connection is reset is retried on another server', async (t) => {
  const crashing = await startUpstream('blue-crash');
  const healthy = await startUpstream('blue-ok');
  t.teardown(() => Promise.all([crashing.close(), healthy.close()]));
  crashing.reset = true;
  const sy = await startSwitchyard(t, { blue: { servers: [crashing.address, healthy.address], passive: NO_EJECT } }, QUIET);
  const res = await request(`${sy.url}/page`);
  t.equal(res.status, 200);
  t.equal(res.body, 'blue-ok');
  t.equal(crashing.requests, 1, 'the first server got it and reset');
  t.equal(healthy.requests, 1, 'the second server answered');
  t.equal(await metric(sy, 'switchyard_retries_total', { pool: 'blue' }), 1);
});

t.test('a PUT with a body reset after sending is not retried, though PUT is idempotent (its body is gone)', async (t) => {
  const crashing = await startUpstream('blue-crash');
  const healthy = await startUpstream('blue-ok');
  t.teardown(() => Promise.all([crashing.close(), healthy.close()]));
  crashing.reset = true;
  const sy = await startSwitchyard(t, { blue: { servers: [crashing.address, healthy.address], passive: NO_EJECT } }, QUIET);
  const res = await request(`${sy.url}/doc`, { method: 'PUT', body: 'v2' });
  t.equal(res.status, 502);
  t.equal(crashing.requests + healthy.requests, 1);
});

t.test('retries never exceed proxy.retries, whatever the pool size', async (t) => {
  const ups = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => startUpstream(`blue-${n}`)));
  t.teardown(() => Promise.all(ups.map((u) => u.close())));
  for (const u of ups) u.reset = true;
  for (const retries of [0, 1, 3]) {
    await t.test(`with proxy.retries = ${retries}`, async (t) => {
      for (const u of ups) u.requests = 0;
      const sy = await startSwitchyard(t, { blue: { servers: ups.map((u) => u.address), passive: NO_EJECT } }, { ...QUIET, proxy: { retries } });
      const res = await request(`${sy.url}/page`);
      t.equal(res.status, 502, 'the client gets an answer once the attempts are used up');
      t.equal(sum(ups, (u) => u.requests), 1 + retries, `exactly ${1 + retries} attempt(s)`);
      t.ok(ups.every((u) => u.requests <= 1), 'no server was tried twice');
      t.equal(await metric(sy, 'switchyard_retries_total', { pool: 'blue' }), retries);
    });
  }
});

t.test('a retry skips servers already tried and stops when the pool runs out of servers', async (t) => {
  const ups = await Promise.all(['a', 'b'].map((n) => startUpstream(`blue-${n}`)));
  t.teardown(() => Promise.all(ups.map((u) => u.close())));
  for (const u of ups) u.reset = true;
  const sy = await startSwitchyard(t, { blue: { servers: ups.map((u) => u.address), passive: NO_EJECT } }, { ...QUIET, proxy: { retries: 5 } });
  const res = await request(`${sy.url}/page`);
  t.equal(res.status, 502);
  t.same(
    ups.map((u) => u.requests),
    [1, 1],
    'each server tried once even though more retries were allowed',
  );
});
