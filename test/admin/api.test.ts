import t, { type Test } from 'tap';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startSwitchyard, TOKEN, type PoolSpec, type SwitchyardUnderTest } from '../helpers/app.js';
import { request, tempDir } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Health probes generous enough not to flap on a loaded CI machine (two slow
 * probes in a row to mark a server down), yet quick to notice an upstream
 * turned unhealthy (about a second).
 */
const HEALTH = { health: { intervalMs: 500, timeoutMs: 500, rise: 1, fall: 2 } };

type Json = Record<string, unknown>;

interface StateView {
  generation: number;
  live: string;
  weights: Record<string, number>;
  maintenance: boolean;
  pools: Record<string, { status: string; inflight: number; servers: { id: string; state: string; weight: number; healthy: boolean; inflight: number }[] }>;
}

interface Setup {
  readonly sy: SwitchyardUnderTest;
  readonly blue1: TestUpstream;
  readonly blue2: TestUpstream;
  readonly green1: TestUpstream;
}

/** setup — blue (two servers) live, green (one) standby, real upstreams. */
async function setup(t: Test, extra: Json = {}, options: { dir?: string } = {}): Promise<Setup> {
  const [blue1, blue2, green1] = await Promise.all(['blue-1', 'blue-2', 'green-1'].map((n) => startUpstream(n))) as [TestUpstream, TestUpstream, TestUpstream];
  t.teardown(() => Promise.all([blue1.close(), blue2.close(), green1.close()]));
  const pools: PoolSpec = { blue: { servers: [blue1.address, blue2.address] }, green: { servers: [green1.address] } };
  const sy = await startSwitchyard(t, pools, { ...HEALTH, ...extra }, options);
  // The first probe decides alone; if one was slow at boot, wait for the next so every test starts from "all usable".
  await waitFor(async () => Object.values((await state(sy)).pools).every((p) => p.servers.every((x) => x.healthy)), { message: 'every server healthy' });
  return { sy, blue1, blue2, green1 };
}

async function state(sy: SwitchyardUnderTest): Promise<StateView> {
  const res = await sy.api('GET', '/api/v1/state');
  if (res.status !== 200) throw new Error(`GET /api/v1/state → ${res.status} ${res.body}`);
  return res.json as StateView;
}

/** observable — everything a refused call must leave alone: the state view, the history and the state file's bytes. */
async function observable(sy: SwitchyardUnderTest): Promise<{ state: unknown; history: unknown; file: string | null }> {
  const file = await readFile(sy.stateFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  return { state: (await sy.api('GET', '/api/v1/state')).json, history: (await sy.api('GET', '/api/v1/history')).json, file };
}

/** expectRefused — the call answers `status` with a JSON {error: code, message} body and changes nothing observable. */
async function expectRefused(
  t: Test,
  sy: SwitchyardUnderTest,
  what: string,
  call: () => Promise<{ status: number; headers: Record<string, unknown>; json: unknown }>,
  status: number,
  code: string,
): Promise<Json> {
  const before = await observable(sy);
  const res = await call();
  t.equal(res.status, status, `${what}: status ${status}`);
  t.match(res.headers['content-type'], /^application\/json/, `${what}: JSON body`);
  const body = res.json as Json;
  t.same(Object.keys(body ?? {}).sort(), ['error', 'message'], `${what}: body is exactly {error, message}`);
  t.equal(body?.error, code, `${what}: error ${code}`);
  t.type(body?.message, 'string');
  t.ok(String(body?.message).length > 0, `${what}: message says why`);
  t.same(await observable(sy), before, `${what}: state, history and state file unchanged`);
  return body;
}

function serverPath(pool: string, id: string, leaf: 'state' | 'weight'): string {
  return `/api/v1/pools/${encodeURIComponent(pool)}/servers/${encodeURIComponent(id)}/${leaf}`;
}

/** bodies — `n` proxied GETs, answered bodies in order. */
async function bodies(url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await request(`${url}/`)).body);
  return out;
}

function count(list: readonly string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const x of list) c[x] = (c[x] ?? 0) + 1;
  return c;
}

t.test('every /api/ route refuses a missing or wrong token with 401, www-authenticate, and changes nothing', async (t) => {
  const { sy, blue1 } = await setup(t);
  // Make the state file exist, so "unchanged" covers its bytes.
  t.equal((await sy.api('POST', '/api/v1/maintenance', { enabled: false })).status, 200);
  t.equal((await sy.api('PUT', '/api/v1/weights', { weights: { blue: 90 } })).status, 200);
  const routes: [method: string, pattern: string, path: string, body: unknown][] = [
    ['GET', '/api/v1/state', '/api/v1/state', undefined],
    ['GET', '/api/v1/history', '/api/v1/history', undefined],
    ['POST', '/api/v1/switch', '/api/v1/switch', { to: 'green' }],
    ['POST', '/api/v1/rollback', '/api/v1/rollback', {}],
    ['PUT', '/api/v1/weights', '/api/v1/weights', { weights: { green: 100 } }],
    ['POST', '/api/v1/maintenance', '/api/v1/maintenance', { enabled: true }],
    ['POST', '/api/v1/pools/:pool/servers/:id/state', serverPath('blue', blue1.address, 'state'), { state: 'drain' }],
    ['PUT', '/api/v1/pools/:pool/servers/:id/weight', serverPath('blue', blue1.address, 'weight'), { weight: 7 }],
  ];
  const credentials: [string, string | null, Record<string, string>][] = [
    ['no token', null, {}],
    ['a wrong token', 'wrong-token', {}],
    ['the token with a suffix', `${TOKEN}x`, {}],
    ['a Basic header', null, { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` }],
    ['a bare token without Bearer', null, { authorization: TOKEN }],
  ];
  for (const [method, pattern, path, body] of routes) {
    t.ok(sy.app.admin?.hasRoute({ method: method as 'GET', url: pattern }), `${method} ${pattern} exists`);
    for (const [label, token, headers] of credentials) {
      const what = `${method} ${pattern} with ${label}`;
      let seen: Record<string, unknown> = {};
      await expectRefused(t, sy, what, async () => {
        const res = await sy.api(method, path, body, headers, token);
        seen = res.headers;
        return res;
      }, 401, 'SY_ERR_UNAUTHORIZED');
      t.equal(seen['www-authenticate'], 'Bearer realm="switchyard"', `${what}: www-authenticate`);
    }
  }
});

t.test('a percent-encoded path cannot bypass the token check', async (t) => {
  const { sy } = await setup(t);
  for (const path of ['/%61pi/v1/switch', '/%61%70%69/v1/switch', '/api/v1/%73witch']) {
    await expectRefused(t, sy, `POST ${path}`, () => sy.api('POST', path, { to: 'green', force: true }, {}, null), 401, 'SY_ERR_UNAUTHORIZED');
  }
  await expectRefused(t, sy, 'GET /%61pi/v1/state', () => sy.api('GET', '/%61pi/v1/state', undefined, {}, null), 401, 'SY_ERR_UNAUTHORIZED');
  await expectRefused(t, sy, 'GET /%6detrics', () => sy.api('GET', '/%6detrics', undefined, {}, null), 401, 'SY_ERR_UNAUTHORIZED');
  t.equal((await state(sy)).live, 'blue');
});

t.test('the token is accepted with any case of "Bearer" and surrounding blanks', async (t) => {
  const { sy } = await setup(t);
  for (const auth of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER\t${TOKEN} `]) {
    const res = await sy.api('GET', '/api/v1/state', undefined, { authorization: auth }, null);
    t.equal(res.status, 200, JSON.stringify(auth));
  }
});

t.test('/metrics needs the token unless admin.openMetrics is true', async (t) => {
  const closed = (await setup(t)).sy;
  const refused = await closed.api('GET', '/metrics', undefined, {}, null);
  t.equal(refused.status, 401);
  t.equal(refused.headers['www-authenticate'], 'Bearer realm="switchyard"');
  t.same(refused.json, { error: 'SY_ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' });
  const allowed = await closed.api('GET', '/metrics');
  t.equal(allowed.status, 200);
  t.match(allowed.body, /^# HELP switchyard_/m);

  const open = (await setup(t, { admin: { token: TOKEN, openMetrics: true } })).sy;
  const scraped = await open.api('GET', '/metrics', undefined, {}, null);
  t.equal(scraped.status, 200, 'open without a token');
  t.match(scraped.headers['content-type'], /^text\/plain/);
  t.match(scraped.body, /^switchyard_pool_live\{pool="blue"\} 1$/m);
  t.equal((await open.api('GET', '/api/v1/state', undefined, {}, null)).status, 401, 'the API still needs the token');
});

t.test('/healthz and /readyz answer without a token', async (t) => {
  const { sy } = await setup(t);
  const health = await sy.api('GET', '/healthz', undefined, {}, null);
  t.equal(health.status, 200);
  t.same(health.json, { status: 'ok' });
  const ready = await waitFor(async () => {
    const r = await sy.api('GET', '/readyz', undefined, {}, null);
    return r.status === 200 ? r : undefined;
  });
  t.same(ready?.json, { status: 'ready', generation: 1 });
});

t.test('/readyz is 503 until every server had its first health probe', async (t) => {
  const up = await startUpstream('slow-health');
  t.teardown(() => up.close());
  // The health probe goes to /hold: it stays unanswered until release().
  const sy = await startSwitchyard(t, { blue: { servers: [up.address] } }, { health: { path: '/hold', intervalMs: 5000, timeoutMs: 5000 } });
  await up.held();
  const early = await sy.api('GET', '/readyz', undefined, {}, null);
  t.equal(early.status, 503);
  t.same(Object.keys(early.json as Json).sort(), ['error', 'message']);
  t.equal((early.json as Json).error, 'SY_ERR_NOT_READY');
  up.release();
  const ready = await waitFor(async () => (await sy.api('GET', '/readyz', undefined, {}, null)).status === 200);
  t.ok(ready);
});

t.test('malformed bodies are refused with 400 (415 for an unsupported type) and change nothing', async (t) => {
  const { sy, blue1 } = await setup(t);
  t.equal((await sy.api('POST', '/api/v1/maintenance', { enabled: false })).status, 200, 'a first change writes the state file');
  const id = blue1.address;
  const cases: [string, string, string, unknown, number, Record<string, string>?][] = [
    ['malformed JSON', 'POST', '/api/v1/switch', '{"to": "green"', 400],
    ['an empty JSON body', 'POST', '/api/v1/switch', '', 400],
    ['a JSON array', 'POST', '/api/v1/switch', ['green'], 400],
    ['missing `to`', 'POST', '/api/v1/switch', {}, 400],
    ['`to` of the wrong type', 'POST', '/api/v1/switch', { to: 5 }, 400],
    ['an empty `to`', 'POST', '/api/v1/switch', { to: '' }, 400],
    ['`force` of the wrong type', 'POST', '/api/v1/switch', { to: 'green', force: 'yes' }, 400],
    ['an unknown `wait`', 'POST', '/api/v1/switch', { to: 'green', wait: 'forever' }, 400],
    ['an unknown body key', 'POST', '/api/v1/switch', { to: 'green', colour: 'green' }, 400],
    ['an unknown rollback key', 'POST', '/api/v1/rollback', { to: 'green' }, 400],
    ['weights not an object', 'PUT', '/api/v1/weights', { weights: 100 }, 400],
    ['an empty weights object', 'PUT', '/api/v1/weights', { weights: {} }, 400],
    ['a weight as a string', 'PUT', '/api/v1/weights', { weights: { green: '50' } }, 400],
    ['a negative weight', 'PUT', '/api/v1/weights', { weights: { green: -1 } }, 400],
    ['a fractional weight', 'PUT', '/api/v1/weights', { weights: { green: 0.5 } }, 400],
    ['maintenance without enabled', 'POST', '/api/v1/maintenance', {}, 400],
    ['maintenance as a string', 'POST', '/api/v1/maintenance', { enabled: 'on' }, 400],
    ['an unknown server state', 'POST', serverPath('blue', id, 'state'), { state: 'down' }, 400],
    ['a server weight above 1000', 'PUT', serverPath('blue', id, 'weight'), { weight: 1001 }, 400],
    ['an unknown server weight key', 'PUT', serverPath('blue', id, 'weight'), { weight: 2, why: 'x' }, 400],
    ['a text/plain body', 'POST', '/api/v1/switch', '{"to":"green"}', 400, { 'content-type': 'text/plain' }],
    ['an unsupported content type', 'POST', '/api/v1/switch', '<to>green</to>', 415, { 'content-type': 'application/xml' }],
  ];
  for (const [what, method, path, body, status, headers] of cases) {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    await expectRefused(t, sy, what, () => sy.api(method, path, raw, headers ?? {}), status, 'SY_ERR_BAD_REQUEST');
  }
});

t.test('unknown pools, servers and routes answer 404 and change nothing', async (t) => {
  const { sy, blue1 } = await setup(t);
  await sy.api('POST', '/api/v1/maintenance', { enabled: false });
  const pool = await expectRefused(t, sy, 'switch to an unknown pool', () => sy.api('POST', '/api/v1/switch', { to: 'purple' }), 404, 'SY_ERR_UNKNOWN_POOL');
  t.match(pool.message, /unknown pool "purple" \(pools: blue, green\)/);
  await expectRefused(t, sy, 'forced switch to an unknown pool', () => sy.api('POST', '/api/v1/switch', { to: 'purple', force: true }), 404, 'SY_ERR_UNKNOWN_POOL');
  await expectRefused(t, sy, 'weights naming an unknown pool', () => sy.api('PUT', '/api/v1/weights', { weights: { blue: 50, purple: 50 } }), 404, 'SY_ERR_UNKNOWN_POOL');
  await expectRefused(t, sy, 'server state in an unknown pool', () => sy.api('POST', serverPath('purple', blue1.address, 'state'), { state: 'drain' }), 404, 'SY_ERR_UNKNOWN_POOL');
  await expectRefused(t, sy, 'server weight in an unknown pool', () => sy.api('PUT', serverPath('purple', blue1.address, 'weight'), { weight: 2 }), 404, 'SY_ERR_UNKNOWN_POOL');
  const server = await expectRefused(t, sy, 'an unknown server', () => sy.api('POST', serverPath('blue', '10.0.0.1:80', 'state'), { state: 'drain' }), 404, 'SY_ERR_UNKNOWN_SERVER');
  t.match(server.message, /pool "blue" has no server "10\.0\.0\.1:80"/);
  await expectRefused(t, sy, 'a server of another pool', () => sy.api('PUT', serverPath('green', blue1.address, 'weight'), { weight: 2 }), 404, 'SY_ERR_UNKNOWN_SERVER');
  await expectRefused(t, sy, 'an unknown route', () => sy.api('GET', '/api/v2/state'), 404, 'SY_ERR_NOT_FOUND');
  await expectRefused(t, sy, 'a known path with the wrong method', () => sy.api('DELETE', '/api/v1/state'), 404, 'SY_ERR_NOT_FOUND');
});

t.test('a switch to a pool whose servers are all down is refused with 409, and "force": true overrides it', async (t) => {
  const { sy, green1 } = await setup(t);
  await sy.api('POST', '/api/v1/maintenance', { enabled: false });
  green1.health = 503;
  await waitFor(async () => (await state(sy)).pools.green?.servers.every((s) => !s.healthy), { message: 'green marked unhealthy' });
  const body = await expectRefused(t, sy, 'switch to unhealthy green', () => sy.api('POST', '/api/v1/switch', { to: 'green' }), 409, 'SY_ERR_POOL_UNHEALTHY');
  t.match(body.message, /"force": true/);
  await expectRefused(t, sy, 'weights onto unhealthy green', () => sy.api('PUT', '/api/v1/weights', { weights: { green: 10 } }), 409, 'SY_ERR_POOL_UNHEALTHY');
  t.equal((await request(`${sy.url}/`)).status, 200, 'blue still serves');

  const before = await state(sy);
  const forced = await sy.api('POST', '/api/v1/switch', { to: 'green', force: true });
  t.equal(forced.status, 200);
  t.match(forced.json, { from: 'blue', to: 'green', generation: before.generation + 1, changed: true });
  const after = await state(sy);
  t.equal(after.live, 'green');
  t.same(after.weights, { blue: 0, green: 100 });
  t.equal((await request(`${sy.url}/`)).status, 503, 'forced onto a pool with no usable server: 503, as asked');
});

t.test('a rollback with no previous pool is refused with 409 and changes nothing', async (t) => {
  const { sy } = await setup(t);
  await expectRefused(t, sy, 'rollback', () => sy.api('POST', '/api/v1/rollback'), 409, 'SY_ERR_NO_PREVIOUS');
});

t.test('If-Match: a stale generation gets 412, garbage 400, the current generation (or the ETag) 200', async (t) => {
  const { sy } = await setup(t);
  const first = await sy.api('GET', '/api/v1/state');
  t.equal(first.headers.etag, '"1"', 'GET state carries the generation as ETag');
  t.equal((await sy.api('POST', '/api/v1/maintenance', { enabled: true }, { 'if-match': '1' })).status, 200);
  t.equal((await state(sy)).generation, 2);

  const stale = await expectRefused(t, sy, 'stale If-Match', () => sy.api('POST', '/api/v1/switch', { to: 'green' }, { 'if-match': '"1"' }), 412, 'SY_ERR_STALE_GENERATION');
  t.match(stale.message, /generation 1 is stale; the current generation is 2/);
  for (const garbage of ['abc', '-1', 'generation 2']) {
    await expectRefused(t, sy, `If-Match ${garbage}`, () => sy.api('POST', '/api/v1/switch', { to: 'green' }, { 'if-match': garbage }), 400, 'SY_ERR_BAD_REQUEST');
  }
  await expectRefused(t, sy, 'stale If-Match on a server route', () => sy.api('PUT', serverPath('green', (sy.app.router.pool('green')?.servers[0]?.id) ?? '', 'weight'), { weight: 3 }, { 'if-match': '1' }), 412, 'SY_ERR_STALE_GENERATION');

  const etag = (await sy.api('GET', '/api/v1/state')).headers.etag as string;
  t.equal(etag, '"2"');
  const ok = await sy.api('POST', '/api/v1/switch', { to: 'green' }, { 'if-match': etag });
  t.equal(ok.status, 200, 'the ETag of the current state is accepted');
  t.match(ok.json, { generation: 3 });
  const weak = await sy.api('POST', '/api/v1/maintenance', { enabled: false }, { 'if-match': 'W/"3"' });
  t.equal(weak.status, 200, 'a weak ETag form is accepted too');
});

t.test('GET /api/v1/state describes generation, live pool, weights, maintenance and every pool and server', async (t) => {
  const { sy, blue1, blue2, green1 } = await setup(t);
  const s = (await sy.api('GET', '/api/v1/state')).json as Json;
  t.match(s, {
    generation: 1,
    live: 'blue',
    previous: null,
    standby: 'green',
    weights: { blue: 100, green: 0 },
    maintenance: false,
  });
  t.same(Object.keys(s.pools as Json), ['blue', 'green'], 'pools in config order');
  const server = (up: TestUpstream): Json => ({ id: up.address, address: up.address, weight: 1, state: 'ready', healthy: true, inflight: 0, usable: true, ejected: false });
  t.match(s.pools, {
    blue: { status: 'live', weight: 100, inflight: 0, usableServers: 2, drainingForMs: null, servers: [server(blue1), server(blue2)] },
    green: { status: 'idle', weight: 0, inflight: 0, usableServers: 1, drainingForMs: null, servers: [server(green1)] },
  });

  const held = request(`${sy.url}/hold`);
  await waitFor(async () => (await state(sy)).pools.blue?.inflight === 1, { message: 'blue shows the held request in flight' });
  const during = await state(sy);
  t.equal(during.pools.blue?.servers.reduce((n, x) => n + x.inflight, 0), 1, 'one server carries it');
  blue1.release();
  blue2.release();
  t.equal((await held).status, 200);
});

t.test('switching to the already-live pool is idempotent: changed false, same generation, nothing written', async (t) => {
  const { sy } = await setup(t);
  const before = await observable(sy);
  const res = await sy.api('POST', '/api/v1/switch', { to: 'blue' });
  t.equal(res.status, 200);
  t.match(res.json, { from: 'blue', to: 'blue', generation: 1, changed: false, warnings: [] });
  t.same(await observable(sy), before, 'state, history and file unchanged');
  const again = await sy.api('POST', '/api/v1/maintenance', { enabled: false });
  t.match(again.json, { maintenance: false, generation: 1, changed: false });
});

t.test('maintenance on answers every proxied request with 503, Retry-After and the page; off lets traffic flow again', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const page = '<!doctype html><title>down</title><p>Back at noon.</p>\n';
  await writeFile(join(dir, 'down.html'), page);
  const { sy, blue1, blue2 } = await setup(t, { maintenance: { page: 'down.html', retryAfterSeconds: 42 } }, { dir });
  t.equal((await request(`${sy.url}/`)).status, 200, 'traffic flows before');

  const on = await sy.api('POST', '/api/v1/maintenance', { enabled: true });
  t.equal(on.status, 200);
  t.same(on.json, { maintenance: true, generation: 2, changed: true });
  const arrived = blue1.requests + blue2.requests;
  for (const path of ['/', '/some/page?x=1']) {
    const res = await request(`${sy.url}${path}`);
    t.equal(res.status, 503, path);
    t.equal(res.headers['retry-after'], '42');
    t.match(res.headers['content-type'], /^text\/html/);
    t.equal(res.body, page, 'the configured page');
  }
  const post = await request(`${sy.url}/upload`, { method: 'POST', body: 'data' });
  t.equal(post.status, 503, 'a POST too');
  t.equal(blue1.requests + blue2.requests, arrived, 'no request reached an upstream');
  t.equal((await state(sy)).maintenance, true);

  const off = await sy.api('POST', '/api/v1/maintenance', { enabled: false });
  t.same(off.json, { maintenance: false, generation: 3, changed: true });
  const res = await request(`${sy.url}/`);
  t.equal(res.status, 200);
  t.match(res.body, /^blue-[12]$/);
});

t.test('draining a server stops its new requests while the other serves; ready brings it back', async (t) => {
  const { sy, blue1 } = await setup(t);
  const drain = await sy.api('POST', serverPath('blue', blue1.address, 'state'), { state: 'drain' });
  t.equal(drain.status, 200);
  t.match(drain.json, { pool: 'blue', id: blue1.address, state: 'drain', usable: false, generation: 2, changed: true });
  const b1 = blue1.requests;
  t.same(count(await bodies(sy.url, 10)), { 'blue-2': 10 }, 'only blue-2 serves');
  t.equal(blue1.requests, b1, 'blue-1 got nothing new');
  t.match((await state(sy)).pools.blue?.servers[0], { state: 'drain' });

  const maint = await sy.api('POST', serverPath('blue', blue1.address, 'state'), { state: 'maint' });
  t.match(maint.json, { state: 'maint', generation: 3 });
  t.same(count(await bodies(sy.url, 4)), { 'blue-2': 4 }, 'maint keeps it out too');

  const ready = await sy.api('POST', serverPath('blue', blue1.address, 'state'), { state: 'ready' });
  t.match(ready.json, { state: 'ready', usable: true, generation: 4, changed: true });
  t.same(count(await bodies(sy.url, 10)), { 'blue-1': 5, 'blue-2': 5 }, 'both serve again');
});

t.test('PUT server weight changes its share of new requests, and 0 stops them', async (t) => {
  const { sy, blue1 } = await setup(t);
  const res = await sy.api('PUT', serverPath('blue', blue1.address, 'weight'), { weight: 3 });
  t.equal(res.status, 200);
  t.match(res.json, { pool: 'blue', id: blue1.address, weight: 3, generation: 2, changed: true });
  t.match((await state(sy)).pools.blue?.servers, [{ weight: 3 }, { weight: 1 }]);
  t.same(count(await bodies(sy.url, 40)), { 'blue-1': 30, 'blue-2': 10 }, 'a 3:1 split');

  const same = await sy.api('PUT', serverPath('blue', blue1.address, 'weight'), { weight: 3 });
  t.match(same.json, { generation: 2, changed: false }, 'the same weight again is a no-op');

  await sy.api('PUT', serverPath('blue', blue1.address, 'weight'), { weight: 0 });
  t.same(count(await bodies(sy.url, 6)), { 'blue-2': 6 }, 'weight 0: no new traffic');
  const saved = JSON.parse(await readFile(sy.stateFile, 'utf8')) as { servers: Record<string, Record<string, { weight?: number }>> };
  t.equal(saved.servers.blue?.[blue1.address]?.weight, 0, 'the override is persisted');
});

t.test('history records each traffic move with who asked and its generation', async (t) => {
  const { sy } = await setup(t);
  t.equal((await sy.api('POST', '/api/v1/switch', { to: 'green' }, { 'x-switchyard-actor': 'alice' })).status, 200);
  t.equal((await sy.api('POST', '/api/v1/maintenance', { enabled: true }, { 'x-switchyard-actor': 'carol' })).status, 200);
  t.equal((await sy.api('POST', '/api/v1/rollback', {}, { 'x-switchyard-actor': 'bob', 'user-agent': 'curl/8' })).status, 200);
  t.equal((await sy.api('PUT', '/api/v1/weights', { weights: { green: 10 } }, { 'user-agent': 'deploy-bot/1.0' })).status, 200);
  const { history } = (await sy.api('GET', '/api/v1/history')).json as { history: Json[] };
  t.match(history, [
    { action: 'switch', from: 'blue', to: 'green', generation: 2, who: 'alice (127.0.0.1)' },
    { action: 'rollback', from: 'green', to: 'blue', generation: 4, who: 'bob (127.0.0.1)' },
    { action: 'weights', from: 'blue', to: 'blue', generation: 5, who: 'deploy-bot/1.0 (127.0.0.1)' },
  ]);
  t.equal(history.length, 3, 'maintenance is not a traffic move');
  for (const h of history) t.ok(!Number.isNaN(Date.parse(String(h.at))), 'at is a time');
  const saved = JSON.parse(await readFile(sy.stateFile, 'utf8')) as { history: Json[] };
  t.same(saved.history, history, 'the history is persisted');
});

t.test('a state file that cannot be written answers 500 SY_ERR_STATE_WRITE and routing stays as it was', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The state file's parent is a regular file: every write fails with ENOTDIR, even as root.
  await writeFile(join(dir, 'not-a-dir'), 'x');
  const { sy, green1 } = await setup(t, { state: { file: join(dir, 'not-a-dir', 'state.json') } });
  const before = await state(sy);
  const greenBefore = green1.requests;

  const res = await sy.api('POST', '/api/v1/switch', { to: 'green' });
  t.equal(res.status, 500);
  t.same(Object.keys(res.json as Json).sort(), ['error', 'message']);
  t.equal((res.json as Json).error, 'SY_ERR_STATE_WRITE');
  t.match((res.json as Json).message, /change not applied/);
  const m = await sy.api('POST', '/api/v1/maintenance', { enabled: true });
  t.equal(m.status, 500);
  t.equal((m.json as Json).error, 'SY_ERR_STATE_WRITE');

  t.same(await state(sy), before, 'state unchanged');
  t.same(((await sy.api('GET', '/api/v1/history')).json as Json).history, []);
  t.match((await bodies(sy.url, 4)).join(','), /^blue-[12],blue-[12],blue-[12],blue-[12]$/, 'traffic still goes to blue');
  t.equal(green1.requests, greenBefore, 'green got nothing');
});
