import t from 'tap';
import type { Test } from 'tap';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startSwitchyard } from '../helpers/app.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

// Active health checks off: a probe delayed on a busy machine would flip a
// server and reset the balancer's sequence, and these counts are exact.
const QUIET = { health: { enabled: false } };

async function startUpstreams(t: Test, names: readonly string[]): Promise<TestUpstream[]> {
  const ups = await Promise.all(names.map((n) => startUpstream(n)));
  t.teardown(() => Promise.all(ups.map((u) => u.close())));
  return ups;
}

/** tally — send `n` sequential GETs (all must be 200) and count answers by upstream name. */
async function tally(t: Test, url: string, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let failures = 0;
  for (let i = 0; i < n; i++) {
    const res = await request(url, { headers });
    if (res.status !== 200) failures++;
    else counts[res.body] = (counts[res.body] ?? 0) + 1;
  }
  t.equal(failures, 0, `all ${n} requests answered 200`);
  return counts;
}

t.test('weights 3:1 in one pool split 400 sequential requests exactly 300/100, interleaved', async (t) => {
  const [heavy, light] = (await startUpstreams(t, ['blue-heavy', 'blue-light'])) as [TestUpstream, TestUpstream];
  const sy = await startSwitchyard(
    t,
    { blue: { servers: [{ address: heavy.address, weight: 3 }, { address: light.address, weight: 1 }] } },
    QUIET,
  );
  const order: string[] = [];
  for (let i = 0; i < 400; i++) order.push((await request(`${sy.url}/`)).body);
  const counts = { heavy: order.filter((b) => b === 'blue-heavy').length, light: order.filter((b) => b === 'blue-light').length };
  t.same(counts, { heavy: 300, light: 100 }, 'exactly proportional to the weights');
  // Smooth WRR: every window of 4 consecutive picks holds exactly one light pick (no bursts).
  for (let i = 0; i + 4 <= order.length; i += 4) {
    const window = order.slice(i, i + 4);
    if (window.filter((b) => b === 'blue-light').length !== 1) {
      t.fail(`window ${i}..${i + 3} is not smooth: ${window.join(',')}`);
      return;
    }
  }
  t.pass('the light server is spread evenly, one pick in every 4');
});

t.test('an admin weight change takes effect on the next requests', async (t) => {
  const [a, b] = (await startUpstreams(t, ['blue-a', 'blue-b'])) as [TestUpstream, TestUpstream];
  const sy = await startSwitchyard(t, { blue: { servers: [a.address, b.address] } }, QUIET);
  t.same(await tally(t, `${sy.url}/`, 20), { 'blue-a': 10, 'blue-b': 10 }, 'equal weights split evenly');
  const res = await sy.api('PUT', `/api/v1/pools/blue/servers/${b.address}/weight`, { weight: 4 });
  t.equal(res.status, 200);
  t.same(await tally(t, `${sy.url}/`, 50), { 'blue-a': 10, 'blue-b': 40 }, '1:4 after the change');
});

t.test('least-conn sends new requests to the other server while one holds a request', async (t) => {
  const [a, b] = (await startUpstreams(t, ['blue-a', 'blue-b'])) as [TestUpstream, TestUpstream];
  const sy = await startSwitchyard(t, { blue: { servers: [a.address, b.address], balance: 'least-conn' } }, QUIET);
  const held = request(`${sy.url}/hold`, { timeoutMs: 20_000 });
  await Promise.race([a.held(), b.held()]);
  const [busy, idle] = (a.requestsByPath.get('/hold') === 1 ? [a, b] : [b, a]) as [TestUpstream, TestUpstream];
  t.same(await tally(t, `${sy.url}/`, 10), { [idle.name]: 10 }, `every request goes to ${idle.name} while ${busy.name} holds one`);
  t.equal(busy.requestsByPath.get('/') ?? 0, 0, 'the busy server got none');

  // Two held on the idle one now outweigh the one on the busy one.
  const moreHeld = [request(`${sy.url}/hold`, { timeoutMs: 20_000 }), request(`${sy.url}/hold`, { timeoutMs: 20_000 })];
  await waitFor(() => (a.requestsByPath.get('/hold') ?? 0) + (b.requestsByPath.get('/hold') ?? 0) === 3, { message: '3 held requests' });
  t.equal(idle.requestsByPath.get('/hold'), 1, 'the second hold went to the server with fewer in flight');
  t.equal(busy.requestsByPath.get('/hold'), 2, 'the third hold went back to the first (1 vs 1, rotating)');

  a.release();
  b.release();
  const answers = await Promise.all([held, ...moreHeld]);
  t.same(
    answers.map((r) => r.status),
    [200, 200, 200],
  );
  const after = await tally(t, `${sy.url}/`, 10);
  t.same(after, { 'blue-a': 5, 'blue-b': 5 }, 'with nothing in flight the servers take turns');
});

t.test('hash by header sends the same header value to the same server every time', async (t) => {
  const ups = await startUpstreams(t, ['blue-a', 'blue-b', 'blue-c']);
  // Fixed ids: the ring is built from ids, so placement is the same on every run.
  const sy = await startSwitchyard(
    t,
    { blue: { servers: ups.map((u, i) => ({ address: u.address, id: ['a', 'b', 'c'][i] as string })), balance: 'hash', hashKey: 'header:x-user' } },
    QUIET,
  );
  const home = new Map<string, string>();
  const wandering: string[] = [];
  for (let round = 0; round < 3; round++) {
    for (let u = 0; u < 30; u++) {
      const user = `user-${u}`;
      const res = await request(`${sy.url}/`, { headers: { 'X-User': user } });
      const prev = home.get(user);
      if (prev === undefined) home.set(user, res.body);
      else if (prev !== res.body) wandering.push(`${user}: ${prev} then ${res.body}`);
    }
  }
  t.same(wandering, [], 'no user moved between servers');
  const used = new Set(home.values());
  t.ok(used.size >= 2, `users are spread over several servers (${[...used].join(', ')})`);

  // Drain one server: only its users move; they come home when it is back.
  const drained = [...used][0] as string;
  const drainedId = ['a', 'b', 'c'][ups.findIndex((u) => u.name === drained)] as string;
  t.equal((await sy.api('POST', `/api/v1/pools/blue/servers/${drainedId}/state`, { state: 'drain' })).status, 200);
  const moved: string[] = [];
  const stayed: string[] = [];
  for (const [user, server] of home) {
    const body = (await request(`${sy.url}/`, { headers: { 'X-User': user } })).body;
    if (server === drained) {
      t.not(body, drained, `${user} leaves the drained server`);
      moved.push(user);
    } else if (body === server) {
      stayed.push(user);
    }
  }
  t.equal(stayed.length, home.size - moved.length, 'users of the other servers did not move');
  t.equal((await sy.api('POST', `/api/v1/pools/blue/servers/${drainedId}/state`, { state: 'ready' })).status, 200);
  for (const user of moved) {
    t.equal((await request(`${sy.url}/`, { headers: { 'X-User': user } })).body, drained, `${user} comes home`);
  }
});
