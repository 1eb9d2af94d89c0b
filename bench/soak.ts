/**
 * bench/soak — `npm run bench:soak`: does Switchyard's memory grow under a
 * steady load? One Switchyard (single process, pinned like the main bench)
 * in front of the nginx (or Node) upstreams, small GETs at 64 keep-alive
 * connections for `--seconds` (default 120), with RSS, V8 heap in use,
 * active handles and event-loop delay sampled every `--every` seconds from
 * /proc and Switchyard's own /metrics. A leak shows as heap or handles that
 * keep climbing after the warm-up, not as RSS alone (V8 grows its heap and
 * rarely returns it).
 *
 * Output: Markdown on stdout and in bench/out/soak.md. Loopback only,
 * bounded by `--seconds` (plus ~10 s of start and stop).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopAll } from './lib/children.js';
import { runLoad, type LoadGenerator } from './lib/load.js';
import { optionsOrExit, runBench, tempDirs } from './lib/main.js';
import { findBinary } from './lib/native.js';
import { readMemory } from './lib/procstat.js';
import { say } from './lib/say.js';
import { ensureBuilt, scrapeMetrics, startSwitchyard } from './lib/switchyard.js';
import { startUpstreams } from './lib/upstreams.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);
const OUT = join(BENCH, 'out');
const LOGS = join(OUT, 'logs-soak');
const WRK = '/usr/bin/wrk';
const TASKSET = '/usr/bin/taskset';

const USAGE = `usage: npm run bench:soak -- [--seconds S] [--every S] [--connections C]
  --seconds S      length of the load (default 120, at most 1800)
  --every S        sampling interval (default 10)
  --connections C  keep-alive connections (default 64)`;

interface Point {
  readonly t: number;
  readonly rssMiB: number | undefined;
  readonly heapMiB: number | undefined;
  readonly handles: number | undefined;
  readonly lagP99Ms: number | undefined;
}

function int(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = optionsOrExit(() => {
    const { values } = parseArgs({ args: [...argv], strict: true, options: { seconds: { type: 'string' }, every: { type: 'string' }, connections: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help === true) throw new Error(USAGE);
    return { seconds: int(values.seconds, '--seconds', 120, 10, 1800), every: int(values.every, '--every', 10, 1, 600), connections: int(values.connections, '--connections', 64, 1, 10_000) };
  }, USAGE);
  rmSync(LOGS, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  const pin = existsSync(TASKSET) && availableParallelism() >= 2;
  const gen: LoadGenerator = { kind: existsSync(WRK) ? 'wrk' : 'autocannon', wrkPath: WRK, cpus: pin ? '0' : undefined, benchDir: BENCH, logDir: LOGS };
  say(`dist/: ${ensureBuilt(ROOT, 'auto')}`);
  const tempDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-soak-'));
  tempDirs.push(tempDir);
  const nginx = findBinary('nginx', process.env.BENCH_NGINX);
  const upstream = nginx === undefined ? 'node' : 'nginx';
  const ups = await startUpstreams({ kind: upstream, root: ROOT, tempDir, logDir: LOGS, nginx });
  const sy = await startSwitchyard({ root: ROOT, dir: tempDir, bluePort: ups.blue.port, greenPort: ups.green.port, cpus: pin ? '1' : undefined, logDir: LOGS, name: 'switchyard-soak' });
  const points: Point[] = [];
  const sample = async (t: number): Promise<void> => {
    const m = await scrapeMetrics(sy.adminUrl);
    const heap = m.get('nodejs_heap_size_used_bytes');
    const lag = m.get('nodejs_eventloop_lag_p99_seconds');
    points.push({ t, rssMiB: (readMemory(sy.child.pid)?.rssKiB ?? Number.NaN) / 1024, heapMiB: heap === undefined ? undefined : heap / 2 ** 20, handles: m.get('nodejs_active_handles'), lagP99Ms: lag === undefined ? undefined : lag * 1000 });
  };
  await sample(0);
  say(`soak: ${o.seconds} s at ${o.connections} connections, sampling every ${o.every} s`);
  const started = performance.now();
  const load = runLoad(gen, { url: `${sy.url}/`, connections: o.connections, durationS: o.seconds, method: 'GET', bodyBytes: 0, exactStatus: false, headers: [] });
  let done = false;
  void load.finally(() => {
    done = true;
  });
  while (!done) {
    const next = started + (points.length * o.every * 1000);
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    if (!done) await sample(Math.round((performance.now() - started) / 1000));
  }
  const { result } = await load;
  await sample(Math.round((performance.now() - started) / 1000));
  await sy.child.stop(15_000);
  await stopAll();
  const md = report(points, result.rps, result.non2xx + result.socketErrors, o, pin, upstream);
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'soak.md'), `${md}\n`);
  process.stdout.write(`${md}\n`);
}

function report(points: readonly Point[], rps: number, errors: number, o: { seconds: number; every: number; connections: number }, pinned: boolean, upstream: string): string {
  const f = (v: number | undefined, d = 1): string => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));
  const lines = [
    `# Switchyard soak: ${o.seconds} s of small GETs at ${o.connections} connections`,
    '',
    `- ${new Date().toISOString()}; command \`npm run bench:soak -- --seconds ${o.seconds} --every ${o.every} --connections ${o.connections}\`; upstreams ${upstream}; ${pinned ? 'wrk on CPU 0, Switchyard on CPU 1' : 'not pinned'}`,
    `- ${Math.round(rps)} req/s over the run, ${errors} errors`,
    '',
    '| s | RSS MiB | V8 heap used MiB | active handles | event-loop delay p99 ms |',
    '|---:|---:|---:|---:|---:|',
    ...points.map((p) => `| ${p.t} | ${f(p.rssMiB)} | ${f(p.heapMiB)} | ${f(p.handles, 0)} | ${f(p.lagP99Ms)} |`),
  ];
  return lines.join('\n');
}

runBench(main);
