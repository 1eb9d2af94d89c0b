/**
 * Multi-core mode (`workers: 2`), end to end: a real `switchyard start`
 * child process (the primary) with two forked proxy workers, real upstreams,
 * real clients on loopback.
 */
import t, { type Test } from 'tap';
import { Agent, request as undiciRequest } from 'undici';
import { spawnSwitchyard, writeChildConfig, type ChildSwitchyard } from '../helpers/child.js';
import { request, tempDir } from '../helpers/http.js';
import { sampleValue } from '../helpers/observe.js';
import { promtoolCheck } from '../helpers/promtool.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';

interface LogLine {
  readonly msg?: string;
  readonly pid?: number;
  readonly worker?: number;
  readonly generation?: number;
  readonly status?: number;
  readonly component?: string;
  readonly access?: boolean;
  readonly url?: string;
}

/** logLines — the child's pino JSON lines (other output skipped). */
function logLines(sy: ChildSwitchyard): LogLine[] {
  const out: LogLine[] = [];
  for (const line of sy.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line cut by the read boundary; the next read has it whole
    }
  }
  return out;
}

/** workerPids — pid of the current worker in each slot, from the 'worker listening' lines. */
function workerPids(sy: ChildSwitchyard): Map<number, number> {
  const pids = new Map<number, number>();
  for (const l of logLines(sy)) if (l.msg === 'worker listening' && l.worker !== undefined && l.pid !== undefined) pids.set(l.worker, l.pid);
  return pids;
}

/** servedBy — the worker slots whose access log shows a request for `url` (access log on). */
function servedBy(sy: ChildSwitchyard, url: string): number[] {
  const slots = new Set<number>();
  for (const l of logLines(sy)) if (l.access === true && l.url === url && l.worker !== undefined) slots.add(l.worker);
  return [...slots].sort();
}

async function twoPools(t: Test): Promise<{ blue: TestUpstream; green: TestUpstream }> {
  const blue = await startUpstream('blue-1');
  const green = await startUpstream('green-1');
  t.teardown(() => Promise.all([blue.close(), green.close()]));
  return { blue, green };
}

async function startCluster(t: Test, pools: { blue: TestUpstream; green: TestUpstream }, extra: Record<string, unknown> = {}): Promise<ChildSwitchyard> {
  const dir = await tempDir();
  const config = await writeChildConfig(dir, { blue: [pools.blue.address], green: [pools.green.address] }, { workers: 2, ...extra });
  const sy = await spawnSwitchyard(t, config);
  await waitFor(() => workerPids(sy).size === 2, { timeoutMs: 10_000, message: 'two workers listening' });
  return sy;
}

t.test('multi-core: switches under load with zero failed requests and no old-pool answer after the switch returns', async (t) => {
  const pools = await twoPools(t);
  // access log on: each line names the worker that served it, which shows both workers carried the load.
  const sy = await startCluster(t, pools, { log: { level: 'info', access: 'on' } });
  const agent = new Agent({ connections: 16 });
  t.teardown(() => agent.close());
  let total = 0;
  let failures = 0;
  let checked = 0;
  const late: string[] = [];
  let live = 'blue';
  // Odd while a switch call is out: a request overlapping a call may go either way; one that starts
  // after an answer and ends before the next call must be served by the pool that answer named.
  let epoch = 0;
  let stop = false;
  const deadline = Date.now() + 30_000;
  const loop = async (): Promise<void> => {
    while (!stop && Date.now() < deadline && total < 60_000) {
      const startEpoch = epoch;
      const expected = live;
      try {
        const res = await undiciRequest(`${sy.url}/`, { dispatcher: agent });
        const body = await res.body.text();
        total++;
        if (res.statusCode !== 200) failures++;
        else if (startEpoch % 2 === 0 && epoch === startEpoch) {
          checked++;
          if (!body.startsWith(`${expected}-`)) late.push(`${body} after switch to ${expected}`);
        }
      } catch {
        failures++;
      }
    }
  };
  const loops = Array.from({ length: 16 }, loop);
  await waitFor(() => total > 300, { timeoutMs: 15_000, message: 'load did not start' });
  for (let i = 0; i < 10; i++) {
    const to = i % 2 === 0 ? 'green' : 'blue';
    epoch++;
    const res = await sy.api('POST', '/api/v1/switch', { to });
    live = to;
    epoch++;
    t.equal(res.status, 200, `switch ${i + 1} to ${to} accepted`);
    const at = total;
    await waitFor(() => total > at + 200, { timeoutMs: 15_000, message: 'load stalled after a switch' });
  }
  stop = true;
  await Promise.all(loops);
  t.equal(failures, 0, `no failed request out of ${total}`);
  t.ok(checked > 1000, `${checked} requests fell between a switch answer and the next call`);
  t.same(late, [], 'no request started after a switch answered was served by the old pool');
  t.same(servedBy(sy, '/'), [0, 1], 'both workers served requests');
  const state = await sy.api('GET', '/api/v1/state');
  t.match(state.json, { generation: 11, live: 'blue' });
});

t.test('multi-core: a killed worker is replaced, gets the current generation before taking traffic, and the other worker fails nothing', async (t) => {
  const pools = await twoPools(t);
  const sy = await startCluster(t, pools, { log: { level: 'info', access: 'on' } });
  t.equal((await sy.api('POST', '/api/v1/switch', { to: 'green' })).status, 200);
  const before = workerPids(sy);
  const victim = before.get(0);
  if (victim === undefined) throw new Error('no worker 0');
  // Load on keep-alive connections while the worker dies: only requests around the kill may fail
  // (those in flight on the victim's connections, and reconnects the primary hands it before it
  // notices the death); none once the replacement listens.
  const agent = new Agent({ connections: 8 });
  t.teardown(() => agent.close());
  let stop = false;
  let total = 0;
  let failures = 0;
  let replaced = false;
  let failuresAfterReplacement = 0;
  const wrongPool: string[] = [];
  const deadline = Date.now() + 20_000;
  const loop = async (): Promise<void> => {
    while (!stop && Date.now() < deadline && total < 40_000) {
      try {
        const res = await undiciRequest(`${sy.url}/`, { dispatcher: agent });
        const body = await res.body.text();
        total++;
        if (res.statusCode !== 200) failures++;
        else if (!body.startsWith('green-')) wrongPool.push(body);
      } catch {
        failures++;
        if (replaced) failuresAfterReplacement++;
      }
    }
  };
  const loops = Array.from({ length: 8 }, loop);
  await waitFor(() => total > 200, { timeoutMs: 15_000, message: 'load did not start' });
  process.kill(victim, 'SIGKILL');
  await waitFor(() => workerPids(sy).get(0) !== victim, { timeoutMs: 15_000, message: 'worker 0 replaced' });
  const replacement = logLines(sy).find((l) => l.msg === 'replacement worker listening');
  t.equal(replacement?.generation, 2, 'the replacement routes by the current generation');
  replaced = true;
  const atReplace = total;
  await waitFor(() => total > atReplace + 300, { timeoutMs: 15_000, message: 'load stalled after the replacement' });
  stop = true;
  await Promise.all(loops);
  t.ok(failures <= 16, `only requests around the kill failed (${failures} of ${total})`);
  t.equal(failuresAfterReplacement, 0, 'no failure once the replacement listens');
  t.same(wrongPool, [], 'every answer came from green, the live pool, before and after the replacement');
  const survivor = logLines(sy).filter((l) => l.component === 'proxy' && l.worker === 1);
  t.ok(survivor.length > 0, 'the surviving worker served requests');
  t.same(survivor.filter((l) => (l.status ?? 0) >= 500), [], 'the surviving worker failed no request');
  // Fresh connections after the replacement: both workers take them, all on green.
  for (let i = 0; i < 20; i++) {
    const res = await request(`${sy.url}/`, { headers: { connection: 'close' } });
    t.equal(res.body, 'green-1');
  }
  const metrics = (await sy.api('GET', '/metrics')).body;
  t.equal(sampleValue(metrics, 'switchyard_workers'), 2, 'two workers listening again');
  t.equal(sampleValue(metrics, 'switchyard_worker_restarts_total'), 1, 'one restart counted');
  t.match((await sy.api('GET', '/readyz')).json, { status: 'ready', generation: 2 });
});

t.test('multi-core: /metrics sums the workers, and lints', async (t) => {
  const pools = await twoPools(t);
  const sy = await startCluster(t, pools, { log: { level: 'info', access: 'on' } });
  // New connection per request: the primary hands connections to the workers in turn, so both serve.
  const n = 40;
  for (let i = 0; i < n; i++) {
    const res = await request(`${sy.url}/`, { headers: { connection: 'close' } });
    t.equal(res.status, 200);
  }
  let text = '';
  await waitFor(
    async () => {
      text = (await sy.api('GET', '/metrics')).body;
      return sampleValue(text, 'switchyard_requests_total', { pool: 'blue', server: pools.blue.address, code_class: '2xx' }) === n;
    },
    { timeoutMs: 10_000, message: `requests_total reaches ${n}` },
  );
  t.same(servedBy(sy, '/'), [0, 1], 'both workers served some of them, so the total is a sum');
  t.equal(sampleValue(text, 'switchyard_request_duration_seconds_count', { pool: 'blue' }), n, 'histogram counts summed');
  t.equal(sampleValue(text, 'switchyard_workers'), 2);
  t.equal(sampleValue(text, 'switchyard_routing_generation'), 1, 'a control-plane gauge is the primary’s, not a sum');
  t.equal(sampleValue(text, 'switchyard_pool_live', { pool: 'blue' }), 1);
  t.equal(sampleValue(text, 'switchyard_inflight_requests', { pool: 'blue' }), 0);
  await promtoolCheck(t, text, 'the aggregated multi-core exposition');
});

t.test('multi-core: draining counts are summed over the workers; "wait": "drained" waits for every worker', async (t) => {
  const pools = await twoPools(t);
  const sy = await startCluster(t, pools, { log: { level: 'info', access: 'on' } });
  // Four held requests on separate connections: the primary spreads connections over both workers.
  const held = Array.from({ length: 4 }, () => request(`${sy.url}/hold`, { headers: { connection: 'close' } }));
  await pools.blue.held(4);
  await waitFor(
    async () => ((await sy.api('GET', '/api/v1/state')).json as { pools: { blue: { inflight: number } } }).pools.blue.inflight === 4,
    { timeoutMs: 5000, message: 'state shows the 4 requests in flight on blue' },
  );
  const switching = sy.api('POST', '/api/v1/switch', { to: 'green', wait: 'drained' });
  await waitFor(
    async () => ((await sy.api('GET', '/api/v1/state')).json as { live: string }).live === 'green',
    { timeoutMs: 5000, message: 'switch in force' },
  );
  const during = await sy.api('GET', '/api/v1/state');
  t.match(during.json, { pools: { blue: { status: 'draining', inflight: 4 } } }, 'blue drains 4 requests over two workers');
  t.equal((await request(`${sy.url}/`)).body, 'green-1', 'new requests go to green while blue drains');
  pools.blue.release();
  for (const r of await Promise.all(held)) t.equal(r.body, 'blue-1', 'a drained request completed');
  await waitFor(() => logLines(sy).filter((l) => l.access === true && l.url === '/hold').length === 4, { timeoutMs: 5000, message: 'access lines of the held requests' });
  t.same(servedBy(sy, '/hold'), [0, 1], 'the held requests were spread over both workers');
  const res = await switching;
  t.match(res.json, { to: 'green', drained: true }, 'the switch answered once every worker drained blue');
  t.match((await sy.api('GET', '/api/v1/state')).json, { pools: { blue: { status: 'idle', inflight: 0 } } });
});

t.test('multi-core: SIGTERM stops the workers gracefully (an in-flight request completes) and the primary exits 0', async (t) => {
  const pools = await twoPools(t);
  const sy = await startCluster(t, pools, { shutdown: { timeoutMs: 10_000 } });
  const slow = request(`${sy.url}/hold`);
  await pools.blue.held();
  const pids = [...workerPids(sy).values()];
  sy.proc.kill('SIGTERM');
  // Released only once both workers are draining: the request is finished during the shutdown, not before it.
  await waitFor(() => logLines(sy).filter((l) => l.msg === 'shutting down: finishing in-flight requests').length === 2, { timeoutMs: 5000, message: 'both workers shutting down' });
  pools.blue.release();
  const res = await slow;
  t.equal(res.status, 200, 'the in-flight request completed');
  const exit = await sy.exited;
  t.same(exit, { code: 0, signal: null }, 'primary exited 0');
  for (const pid of pids) t.throws(() => process.kill(pid, 0), 'worker process is gone');
  t.match(sy.output(), /"clean":true,"msg":"switchyard stopped"/);
});
