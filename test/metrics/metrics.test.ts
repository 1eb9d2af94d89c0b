import t from 'tap';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { createApp } from '../../src/app.js';
import { resolveConfig } from '../../src/config/load.js';
import { startSwitchyard, type SwitchyardUnderTest } from '../helpers/app.js';
import { freePort, request, tempDir } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { promtoolCheck } from '../helpers/promtool.js';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** parseExposition — the samples of a Prometheus text exposition (comments skipped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (m === null) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

/** value — the sample named `name` whose labels include `labels`; undefined when absent (throws if ambiguous). */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = parseExposition(text).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

async function scrape(sy: SwitchyardUnderTest): Promise<string> {
  const res = await sy.api('GET', '/metrics');
  if (res.status !== 200) throw new Error(`GET /metrics → ${res.status}`);
  return res.body;
}

/** scrapeUntil — scrapes until `ready(text)` holds (deadline: waitFor's), returns that exposition. */
async function scrapeUntil(sy: SwitchyardUnderTest, ready: (text: string) => boolean, message: string): Promise<string> {
  let text = '';
  await waitFor(
    async () => {
      text = await scrape(sy);
      return ready(text);
    },
    { message },
  );
  return text;
}

t.test('/metrics shows traffic, errors, in-flight requests, a switch, health and a drain, and passes promtool', async (t) => {
  const [blue1, green1] = (await Promise.all(['blue-1', 'green-1'].map((n) => startUpstream(n)))) as [TestUpstream, TestUpstream];
  t.teardown(() => Promise.all([blue1.close(), green1.close()]));
  // A server nobody listens on: every attempt on it is refused, then retried on blue-1.
  const dead = `127.0.0.1:${await freePort()}`;
  const sy = await startSwitchyard(
    t,
    {
      // No active checks on blue, so the dead server stays in rotation and its refusals are seen.
      blue: { servers: [blue1.address, dead] },
      green: { servers: [green1.address], health: { enabled: true, intervalMs: 200, timeoutMs: 200, rise: 1, fall: 1 } },
    },
    { health: { enabled: false } },
  );

  for (let i = 0; i < 6; i++) {
    const res = await request(`${sy.url}/`);
    t.equal(res.body, 'blue-1', 'refused attempts are retried on blue-1');
  }
  t.equal((await request(`${sy.url}/status/404`)).status, 404);

  let text = await scrape(sy);
  t.equal(value(text, 'switchyard_requests_total', { pool: 'blue', server: blue1.address, code_class: '2xx' }), 6);
  t.equal(value(text, 'switchyard_requests_total', { pool: 'blue', server: blue1.address, code_class: '4xx' }), 1);
  const refused = value(text, 'switchyard_upstream_errors_total', { pool: 'blue', server: dead, kind: 'connect' }) ?? 0;
  t.ok(refused >= 1, `refused connections are counted as connect errors (${refused})`);
  t.equal(value(text, 'switchyard_retries_total', { pool: 'blue' }), refused, 'each refusal was retried');
  t.match(text, /^# TYPE switchyard_request_duration_seconds histogram$/m);
  t.equal(value(text, 'switchyard_request_duration_seconds_count', { pool: 'blue' }), 7);
  t.equal(value(text, 'switchyard_request_duration_seconds_bucket', { pool: 'blue', le: '+Inf' }), 7);
  t.ok((value(text, 'switchyard_request_duration_seconds_sum', { pool: 'blue' }) ?? 0) > 0);
  t.equal(value(text, 'switchyard_pool_live', { pool: 'blue' }), 1);
  t.equal(value(text, 'switchyard_pool_live', { pool: 'green' }), 0);
  t.equal(value(text, 'switchyard_inflight_requests', { pool: 'blue' }), 0);
  t.equal(value(text, 'switchyard_routing_generation'), 1);
  t.ok(value(text, 'switchyard_server_healthy', { pool: 'green', server: green1.address }) !== undefined, 'server_healthy has a series per server');

  // A request held on blue-1 shows in flight, and keeps blue draining after the switch.
  const held = request(`${sy.url}/hold`);
  await blue1.held();
  text = await scrape(sy);
  t.equal(value(text, 'switchyard_inflight_requests', { pool: 'blue' }), 1);
  t.equal(value(text, 'switchyard_server_inflight_requests', { pool: 'blue', server: blue1.address }), 1);

  t.equal((await sy.api('POST', '/api/v1/switch', { to: 'green' })).status, 200);
  t.equal((await request(`${sy.url}/`)).body, 'green-1');
  text = await scrape(sy);
  t.equal(value(text, 'switchyard_pool_live', { pool: 'green' }), 1);
  t.equal(value(text, 'switchyard_pool_live', { pool: 'blue' }), 0);
  t.equal(value(text, 'switchyard_pool_weight', { pool: 'green' }), 100);
  t.equal(value(text, 'switchyard_switches_total', { action: 'switch' }), 1);
  t.equal(value(text, 'switchyard_routing_generation'), 2);
  t.equal(value(text, 'switchyard_requests_total', { pool: 'green', server: green1.address, code_class: '2xx' }), 1);
  t.equal(value(text, 'switchyard_drain_duration_seconds_count', { pool: 'blue', complete: 'true' }), undefined, 'blue is still draining');

  blue1.release();
  t.equal((await held).status, 200);
  text = await scrapeUntil(sy, (x) => value(x, 'switchyard_drain_duration_seconds_count', { pool: 'blue', complete: 'true' }) === 1, 'the drain of blue observed');
  t.match(text, /^# TYPE switchyard_drain_duration_seconds histogram$/m);
  t.equal(value(text, 'switchyard_inflight_requests', { pool: 'blue' }), 0);

  // A first probe that timed out on a loaded machine may already have flipped green-1 once: count from here.
  text = await scrapeUntil(sy, (x) => value(x, 'switchyard_server_healthy', { pool: 'green', server: green1.address }) === 1, 'green-1 healthy');
  const downsBefore = value(text, 'switchyard_health_transitions_total', { pool: 'green', server: green1.address, to: 'down' }) ?? 0;
  green1.health = 503;
  text = await scrapeUntil(sy, (x) => value(x, 'switchyard_server_healthy', { pool: 'green', server: green1.address }) === 0, 'green-1 reported unhealthy');
  t.equal(value(text, 'switchyard_health_transitions_total', { pool: 'green', server: green1.address, to: 'down' }), downsBefore + 1, 'the flip is counted once');
  t.equal(value(text, 'switchyard_pool_usable_servers', { pool: 'green' }), 0);
  t.equal(value(text, 'switchyard_server_usable', { pool: 'green', server: green1.address }), 0);
  t.equal((await request(`${sy.url}/`)).status, 503, 'no usable server');
  text = await scrape(sy);
  t.equal(value(text, 'switchyard_requests_total', { pool: 'green', server: '', code_class: '5xx' }), 1, 'a local 503 has an empty server label');

  await promtoolCheck(t, text, 'the exposition after traffic, errors, a switch, a drain and a health flip');
});

t.test('maintenance answers are counted without a pool, and the maintenance gauge follows', async (t) => {
  const blue1 = await startUpstream('blue-1');
  t.teardown(() => blue1.close());
  const sy = await startSwitchyard(t, { blue: { servers: [blue1.address] } });
  t.equal((await sy.api('POST', '/api/v1/maintenance', { enabled: true })).status, 200);
  t.equal((await request(`${sy.url}/`)).status, 503);
  const text = await scrape(sy);
  t.equal(value(text, 'switchyard_maintenance'), 1);
  t.equal(value(text, 'switchyard_requests_total', { pool: '', server: '', code_class: '5xx' }), 1);
  t.equal(value(text, 'switchyard_switches_total', { action: 'switch' }), undefined, 'maintenance is not a switch');
  await promtoolCheck(t, text, 'the exposition in maintenance');
});

t.test('with default process metrics on, the exposition has them and still passes promtool', async (t) => {
  const blue1 = await startUpstream('blue-1');
  t.teardown(() => blue1.close());
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = resolveConfig(
    {
      listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
      admin: { openMetrics: true },
      live: 'blue',
      pools: { blue: { servers: [{ address: blue1.address }] } },
      log: { level: 'silent' },
    },
    join(dir, 'switchyard.yaml'),
    {},
  );
  const app = await createApp(config, { log: pino({ level: 'silent' }) });
  await app.start();
  t.teardown(() => app.stop());
  t.equal((await request(`http://${app.addresses.http}/`)).body, 'blue-1');
  const res = await request(`http://${app.addresses.admin}/metrics`);
  t.equal(res.status, 200);
  t.ok(value(res.body, 'process_cpu_user_seconds_total') !== undefined, 'process metrics present');
  t.ok(value(res.body, 'nodejs_heap_size_used_bytes') !== undefined, 'node heap metrics present');
  t.equal(value(res.body, 'switchyard_requests_total', { pool: 'blue', server: blue1.address, code_class: '2xx' }), 1);
  await promtoolCheck(t, res.body, 'the exposition with default metrics');
});

t.test('raw TCP listener metrics are exported and pass promtool', async (t) => {
  const { startTcpSwitchyard, startTcpUpstream, tcpConnect, readAll } = await import('../helpers/tcp.js');
  const up = await startTcpUpstream(t, 'blue-1');
  const { sy, address } = await startTcpSwitchyard(t, { pools: { blue: { servers: [up] }, green: { servers: [{ address: `127.0.0.1:${await freePort()}`, id: 'g' }] } } });
  const c = await tcpConnect(address, { allowHalfOpen: true });
  c.end('abc');
  await readAll(c);
  const res = await sy.api('GET', '/metrics');
  t.match(res.body, /switchyard_tcp_connections_total\{listener="db",pool="blue",server="blue-1"\} 1/);
  t.match(res.body, /# TYPE switchyard_tcp_connections_active gauge/);
  t.match(res.body, /switchyard_tcp_bytes_total\{listener="db",pool="blue",direction="in"\} 3/);
  t.match(res.body, /switchyard_tcp_connect_errors_total\{listener="db",pool="green",server="g"\} 0/);
  await promtoolCheck(t, res.body, 'the exposition with a TCP listener');
});
