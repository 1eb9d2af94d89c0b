/**
 * bench/lib/autocannon-worker — runs one autocannon load in its own process
 * (so it can be pinned like wrk) and prints the same `LOADJSON {…}` line as
 * bench/lib/wrk-report.lua. Used when wrk is not installed, or with
 * `--loadgen autocannon`. autocannon counts every non-2xx itself, so
 * `exactStatus` costs nothing here. SIGINT ends the load early and still
 * prints the result so far, as wrk does (the switch run stops its load once
 * the flips are done).
 */
import autocannon, { type AutocannonResult } from 'autocannon';
import type { LoadResult, LoadSpec } from './load.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const opts = {
  url: spec.url,
  connections: spec.connections,
  duration: spec.durationS,
  method: spec.method,
  timeout: 10,
  headers: Object.fromEntries([...spec.headers, ...(spec.method === 'POST' && spec.bodyBytes > 0 ? [['content-type', 'application/octet-stream'] as const] : [])]),
  ...(spec.method === 'POST' && spec.bodyBytes > 0 ? { body: 'x'.repeat(spec.bodyBytes) } : {}),
};
const r = await new Promise<AutocannonResult>((resolve, reject) => {
  const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
  process.once('SIGINT', () => instance.stop());
});
const result: LoadResult = {
  requests: r.requests.total,
  durationS: r.duration,
  rps: r.requests.total / r.duration,
  p50Ms: r.latency.p50,
  p90Ms: r.latency.p90,
  p99Ms: r.latency.p99,
  maxMs: r.latency.max,
  non2xx: r.non2xx,
  socketErrors: r.errors,
  bytes: r.throughput.total,
};
process.stdout.write(`LOADJSON ${JSON.stringify(result)}\n`);
