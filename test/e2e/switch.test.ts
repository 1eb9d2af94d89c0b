import t from 'tap';
import { Agent, request as undiciRequest } from 'undici';
import { startUpstream } from '../helpers/upstream.js';
import { startSwitchyard } from '../helpers/app.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

t.test('routes to the live pool and switches atomically under concurrent load with zero failed requests', async (t) => {
  const ups = await Promise.all(['blue-1', 'blue-2', 'green-1', 'green-2'].map((n) => startUpstream(n)));
  t.teardown(() => Promise.all(ups.map((u) => u.close())));
  const [b1, b2, g1, g2] = ups as [typeof ups[0], typeof ups[0], typeof ups[0], typeof ups[0]];
  // Health probes share the two cores with the load below: give them room so a slow probe is not a failure.
  const sy = await startSwitchyard(
    t,
    { blue: { servers: [b1.address, b2.address] }, green: { servers: [g1.address, g2.address] } },
    { health: { intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 3 } },
  );

  const first = await request(`${sy.url}/`);
  t.match(first.body, /^blue-/, 'blue is live at start');

  // Continuous load: 16 concurrent keep-alive loops, bounded in count and time.
  const agent = new Agent({ connections: 16 });
  t.teardown(() => agent.close());
  let switchAnsweredAt = -1;
  let failures = 0;
  let total = 0;
  const lateOldPool: string[] = [];
  const deadline = Date.now() + 15_000;
  let stop = false;
  const loop = async (): Promise<void> => {
    while (!stop && Date.now() < deadline && total < 20_000) {
      const startedAt = performance.now();
      try {
        const res = await undiciRequest(`${sy.url}/`, { dispatcher: agent });
        const body = await res.body.text();
        total++;
        if (res.statusCode !== 200) failures++;
        if (switchAnsweredAt >= 0 && startedAt > switchAnsweredAt && !body.startsWith('green-')) lateOldPool.push(body);
      } catch {
        failures++;
      }
    }
  };
  const loops = Array.from({ length: 16 }, loop);
  await waitFor(() => total > 300, { timeoutMs: 10_000, message: 'load did not start' });
  const res = await sy.api('POST', '/api/v1/switch', { to: 'green' });
  switchAnsweredAt = performance.now();
  t.equal(res.status, 200, 'switch accepted');
  t.match(res.json, { from: 'blue', to: 'green', generation: 2 });
  const atSwitch = total;
  await waitFor(() => total > atSwitch + 300, { timeoutMs: 10_000, message: 'load stalled after switch' });
  stop = true;
  await Promise.all(loops);
  t.equal(failures, 0, `no failed requests out of ${total}`);
  t.same(lateOldPool, [], 'every request started after the switch answer was served by green');
  t.ok(g1.requests > 0 && g2.requests > 0, 'both green servers served');
});

t.test('a slow request on blue started before a switch completes normally; blue shows draining then idle', async (t) => {
  const blue = await startUpstream('blue-1');
  const green = await startUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] }, green: { servers: [green.address] } });

  const slow = request(`${sy.url}/hold`);
  await blue.held();
  const sw = await sy.api('POST', '/api/v1/switch', { to: 'green' });
  t.equal(sw.status, 200);
  const state = await sy.api('GET', '/api/v1/state');
  t.match(state.json, { live: 'green', pools: { blue: { status: 'draining', inflight: 1 }, green: { status: 'live' } } });
  t.match((await request(`${sy.url}/`)).body, 'green-1', 'new requests go to green');

  // "wait": "drained" on a no-op switch returns at once; a real drain waits for the held request.
  blue.release();
  const done = await slow;
  t.equal(done.status, 200, 'the in-flight request on blue completed');
  t.equal(done.body, 'blue-1');
  await waitFor(async () => ((await sy.api('GET', '/api/v1/state')).json as { pools: { blue: { status: string } } }).pools.blue.status === 'idle');
});

t.test('switch with wait=drained answers only after the old pool drained', async (t) => {
  const blue = await startUpstream('blue-1');
  const green = await startUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] }, green: { servers: [green.address] } });
  const slow = request(`${sy.url}/hold`);
  await blue.held();
  let answered = false;
  const sw = sy.api('POST', '/api/v1/switch', { to: 'green', wait: 'drained' }).then((r) => {
    answered = true;
    return r;
  });
  await waitFor(() => sy.app.router.current.state.live === 'green');
  t.equal((await request(`${sy.url}/`)).body, 'green-1', 'green live while the switch call waits');
  t.notOk(answered, 'switch call still waiting for blue to drain');
  blue.release();
  const res = await sw;
  t.equal(res.status, 200);
  t.match(res.json, { to: 'green', drained: true });
  t.equal((await slow).body, 'blue-1');
});

t.test('rollback switches back to the previous pool, and 409 when there is none', async (t) => {
  const blue = await startUpstream('blue-1');
  const green = await startUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] }, green: { servers: [green.address] } });
  const none = await sy.api('POST', '/api/v1/rollback');
  t.equal(none.status, 409);
  t.match(none.json, { error: 'SY_ERR_NO_PREVIOUS' });
  t.equal((await sy.api('POST', '/api/v1/switch', { to: 'green' })).status, 200);
  const rb = await sy.api('POST', '/api/v1/rollback');
  t.equal(rb.status, 200);
  t.match(rb.json, { from: 'green', to: 'blue', generation: 3 });
  t.equal((await request(`${sy.url}/`)).body, 'blue-1');
  const hist = await sy.api('GET', '/api/v1/history');
  t.match(hist.json, { history: [{ action: 'switch', from: 'blue', to: 'green', generation: 2 }, { action: 'rollback', from: 'green', to: 'blue', generation: 3 }] });
});

t.test('weights send traffic to several pools at once in proportion', async (t) => {
  const blue = await startUpstream('blue-1');
  const green = await startUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] }, green: { servers: [green.address] } });
  const res = await sy.api('PUT', '/api/v1/weights', { weights: { blue: 75, green: 25 } });
  t.equal(res.status, 200);
  t.match(res.json, { weights: { blue: 75, green: 25 } });
  const counts: Record<string, number> = {};
  for (let i = 0; i < 200; i++) {
    const body = (await request(`${sy.url}/`)).body;
    counts[body] = (counts[body] ?? 0) + 1;
  }
  t.same(counts, { 'blue-1': 150, 'green-1': 50 }, 'smooth weighted split is exact');
  const state = await sy.api('GET', '/api/v1/state');
  t.match(state.json, { live: 'blue', pools: { blue: { status: 'live' }, green: { status: 'live' } } });
  const zero = await sy.api('PUT', '/api/v1/weights', { weights: { blue: 0, green: 0 } });
  t.equal(zero.status, 400, 'all-zero weights are refused');
});

t.test('the pool header tells the upstream which pool served it, and a client cannot spoof it', async (t) => {
  const blue = await startUpstream('blue-1');
  const green = await startUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] }, green: { servers: [green.address] } });
  await request(`${sy.url}/x`, { headers: { 'x-switchyard-pool': 'green' } });
  t.equal(blue.lastHeaders?.['x-switchyard-pool'], 'blue');
});

t.test('the preview listener routes to the standby pool and follows a switch', async (t) => {
  const blue = await startUpstream('blue-1');
  const green = await startUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  const sy = await startSwitchyard(t, { blue: { servers: [blue.address] }, green: { servers: [green.address] } });
  t.equal((await request(`${sy.previewUrl}/`)).body, 'green-1', 'preview reaches idle green');
  t.equal(green.lastHeaders?.['x-switchyard-pool'], 'green');
  await sy.api('POST', '/api/v1/switch', { to: 'green' });
  t.equal((await request(`${sy.previewUrl}/`)).body, 'blue-1', 'after the switch preview reaches blue');
  await sy.api('PUT', '/api/v1/weights', { weights: { blue: 50, green: 50 } });
  const none = await request(`${sy.previewUrl}/`);
  t.equal(none.status, 503, 'no standby pool while both are live');
});
