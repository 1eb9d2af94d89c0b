import t from 'tap';
import type { Test } from 'tap';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startSwitchyard, type SwitchyardUnderTest } from '../helpers/app.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { getState, metric, serverView } from '../helpers/observe.js';

// Fast probes. fall 3 so that a probe or two delayed by a busy machine (tests
// run in parallel) does not take a healthy server out; rise 1 so that a first
// probe that timed out at start-up is forgotten at the next one. Tests start
// with waitSettled() for the same reason.
const FAST_HEALTH = { health: { intervalMs: 100, timeoutMs: 100, rise: 1, fall: 3 } };

/** waitSettled — every server has had its first probe (/readyz) and every one of `pool` is healthy. */
async function waitSettled(sy: SwitchyardUnderTest, pool = 'blue'): Promise<void> {
  await waitFor(
    async () => {
      const ready = await request(`${sy.adminUrl}/readyz`);
      if (ready.status !== 200) return false;
      return (await getState(sy)).pools[pool]?.servers.every((s) => s.healthy) === true;
    },
    { message: 'first probes done and every server healthy' },
  );
}

/** countBodies — send `n` sequential GETs; every answer must be 200; returns body → count. */
async function countBodies(t: Test, url: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const failures: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await request(url);
    if (res.status !== 200) failures.push(`${res.status} ${res.body.trim()}`);
    else counts[res.body] = (counts[res.body] ?? 0) + 1;
  }
  t.same(failures, [], `no client-visible failure in ${n} requests`);
  return counts;
}

async function serverHealthy(sy: SwitchyardUnderTest, up: TestUpstream, pool = 'blue'): Promise<boolean> {
  return serverView(await getState(sy), pool, up.address).healthy;
}

t.test('an upstream whose health check fails stops getting traffic and gets it back once it recovers', async (t) => {
  const a = await startUpstream('blue-a');
  const b = await startUpstream('blue-b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [a.address, b.address] } }, FAST_HEALTH);
  await waitSettled(sy);
  const both = await countBodies(t, `${sy.url}/`, 10);
  t.ok((both['blue-a'] ?? 0) > 0 && (both['blue-b'] ?? 0) > 0, 'both serve while healthy');

  const downsBefore = await metric(sy, 'switchyard_health_transitions_total', { pool: 'blue', server: a.address, to: 'down' });
  a.health = 503;
  await waitFor(async () => !(await serverHealthy(sy, a)), { message: 'blue-a marked unhealthy' });
  const down = serverView(await getState(sy), 'blue', a.address);
  t.match(down, { healthy: false, usable: false, ejected: false });
  t.equal((await getState(sy)).pools.blue?.usableServers, 1);
  t.equal(await metric(sy, 'switchyard_health_transitions_total', { pool: 'blue', server: a.address, to: 'down' }), downsBefore + 1, 'one transition to down');

  const before = a.requests;
  t.same(await countBodies(t, `${sy.url}/`, 20), { 'blue-b': 20 }, 'every request goes to the healthy server');
  t.equal(a.requests, before, 'the unhealthy server received nothing');

  a.health = 200;
  await waitFor(() => serverHealthy(sy, a), { message: 'blue-a healthy again' });
  t.match(serverView(await getState(sy), 'blue', a.address), { healthy: true, usable: true });
  const after = await countBodies(t, `${sy.url}/`, 20);
  t.ok((after['blue-a'] ?? 0) > 0, 'the recovered server is back in rotation');
});

t.test('a pool with no healthy server answers 503 until one recovers', async (t) => {
  const a = await startUpstream('blue-a');
  const b = await startUpstream('blue-b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [a.address, b.address] } }, FAST_HEALTH);
  await waitSettled(sy);
  a.health = 503;
  b.health = 500;
  await waitFor(async () => (await getState(sy)).pools.blue?.usableServers === 0, { message: 'both servers unhealthy' });
  const state = await getState(sy);
  t.match(state.pools.blue?.servers, [{ healthy: false }, { healthy: false }]);
  const res = await request(`${sy.url}/`);
  t.equal(res.status, 503);
  t.equal(res.headers['x-switchyard-error'], 'SY_ERR_NO_SERVER');
  t.match(res.headers['retry-after'], /^\d+$/);
  t.equal(a.requests + b.requests, 0, 'no request reached an unhealthy server');

  b.health = 200;
  await waitFor(() => serverHealthy(sy, b), { message: 'blue-b healthy again' });
  t.equal((await request(`${sy.url}/`)).body, 'blue-b');
});

/** How early a Node timer may fire when measured with performance.now() (it counts from the loop's cached clock). */
const TIMER_SLACK_MS = 40;

interface EjectionEvent {
  readonly server: string;
  readonly ejected: boolean;
  readonly at: number;
}

function recordEjections(sy: SwitchyardUnderTest): EjectionEvent[] {
  const events: EjectionEvent[] = [];
  sy.app.bus.on('ejection', (_pool, server, ejected) => events.push({ server, ejected, at: performance.now() }));
  return events;
}

t.test('an upstream that resets connections is ejected after consecutiveFailures and re-admitted after baseEjectionMs, with no failed GET', async (t) => {
  const a = await startUpstream('blue-a');
  const b = await startUpstream('blue-b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const sy = await startSwitchyard(
    t,
    { blue: { servers: [a.address, b.address], passive: { consecutiveFailures: 3, baseEjectionMs: 400, maxEjectionMs: 5000 } } },
    { health: { enabled: false } },
  );
  const events = recordEjections(sy);
  a.reset = true;

  // Each pick of blue-a fails and is retried on blue-b; the third failure ejects.
  const counts = await countBodies(t, `${sy.url}/`, 6);
  t.same(counts, { 'blue-b': 6 }, 'every GET was answered by blue-b');
  t.equal(a.requests, 3, 'blue-a saw exactly consecutiveFailures requests');
  t.same(
    events.map((e) => [e.server, e.ejected]),
    [[a.address, true]],
    'one ejection',
  );
  t.match(serverView(await getState(sy), 'blue', a.address), { ejected: true, usable: false, healthy: true });
  t.equal(await metric(sy, 'switchyard_ejections_total', { pool: 'blue', server: a.address }), 1);

  t.same(await countBodies(t, `${sy.url}/`, 10), { 'blue-b': 10 }, 'while ejected every request goes to blue-b');
  t.equal(a.requests, 3, 'the ejected server got nothing');
  t.equal(await metric(sy, 'switchyard_retries_total', { pool: 'blue' }), 3, 'retries only while blue-a was still picked');

  a.reset = false;
  await waitFor(() => events.length === 2, { message: 'blue-a re-admitted' });
  const [ejected, readmitted] = events as [EjectionEvent, EjectionEvent];
  t.equal(readmitted.ejected, false);
  // Node timers count from the event loop's cached clock, so they may fire a few ms early by performance.now().
  t.ok(readmitted.at - ejected.at >= 400 - TIMER_SLACK_MS, `out for baseEjectionMs (${Math.round(readmitted.at - ejected.at)} ms)`);
  t.match(serverView(await getState(sy), 'blue', a.address), { ejected: false, usable: true });
  t.same(await countBodies(t, `${sy.url}/`, 10), { 'blue-a': 5, 'blue-b': 5 }, 'blue-a serves again after re-admission');
});

t.test('an upstream that refuses connections is ejected, and a repeat ejection lasts twice as long', async (t) => {
  const dead = await startUpstream('blue-dead');
  const deadAddress = dead.address;
  await dead.close();
  const b = await startUpstream('blue-b');
  t.teardown(() => b.close());
  const sy = await startSwitchyard(
    t,
    { blue: { servers: [deadAddress, b.address], passive: { consecutiveFailures: 2, baseEjectionMs: 300, maxEjectionMs: 5000 } } },
    { health: { enabled: false } },
  );
  const events = recordEjections(sy);

  t.same(await countBodies(t, `${sy.url}/`, 4), { 'blue-b': 4 }, 'refused attempts are retried: no failed GET');
  t.same(
    events.map((e) => e.ejected),
    [true],
    'ejected after two refused connections',
  );
  await waitFor(() => events.length === 2, { message: 'first re-admission' });

  // Still dead: two more refused picks eject it again, for 2 × baseEjectionMs.
  const deadline = Date.now() + 5000;
  const failed: number[] = [];
  for (let sent = 0; events.length < 3 && Date.now() < deadline && sent < 50; sent++) {
    const res = await request(`${sy.url}/`);
    if (res.status !== 200) failed.push(res.status);
  }
  t.same(failed, [], 'no failed GET while it is found dead again');
  t.equal(events.length, 3, 'ejected a second time');
  await waitFor(() => events.length === 4, { message: 'second re-admission' });
  const [first, back, second, backAgain] = events as [EjectionEvent, EjectionEvent, EjectionEvent, EjectionEvent];
  const firstMs = back.at - first.at;
  const secondMs = backAgain.at - second.at;
  t.ok(firstMs >= 300 - TIMER_SLACK_MS, `first ejection lasted baseEjectionMs (${Math.round(firstMs)} ms)`);
  t.ok(secondMs >= 600 - TIMER_SLACK_MS, `second ejection lasted 2 × baseEjectionMs (${Math.round(secondMs)} ms)`);
  t.ok(secondMs > firstMs + 150, 'the repeat ejection was clearly longer');
  t.equal(await metric(sy, 'switchyard_upstream_errors_total', { pool: 'blue', server: deadAddress, kind: 'connect' }), 4, 'only the failures that led to ejections');
});

t.test('active and passive health combine: an ejected server that also fails its probes stays out after re-admission', async (t) => {
  const a = await startUpstream('blue-a');
  const b = await startUpstream('blue-b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const sy = await startSwitchyard(
    t,
    { blue: { servers: [a.address, b.address], passive: { consecutiveFailures: 1, baseEjectionMs: 200, maxEjectionMs: 5000 } } },
    FAST_HEALTH,
  );
  await waitSettled(sy);
  const events = recordEjections(sy);
  a.reset = true;
  t.same(await countBodies(t, `${sy.url}/`, 2), { 'blue-b': 2 });
  t.equal(events.length, 1, 'ejected after one reset');
  a.health = 503;
  await waitFor(async () => !(await serverHealthy(sy, a)), { message: 'blue-a also unhealthy' });
  await waitFor(() => events.length === 2, { message: 'ejection over' });
  t.match(serverView(await getState(sy), 'blue', a.address), { ejected: false, healthy: false, usable: false }, 're-admitted but still unhealthy');
  const before = a.requests;
  t.same(await countBodies(t, `${sy.url}/`, 6), { 'blue-b': 6 });
  t.equal(a.requests, before, 'no traffic to a server that is re-admitted but unhealthy');
});
