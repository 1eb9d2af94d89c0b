/**
 * bench/workers — `npm run bench:workers`: multi-core mode against one
 * process, side by side in one run. Two Switchyards on the same upstreams,
 * one with `workers: 1` and one with `workers: 2`, none pinned (two workers
 * need both cores, and the load generator and the upstreams share them: on
 * this 2-core machine the comparison shows the cost of sharing as much as the
 * gain of a second core — say so when quoting it). For each:
 *
 *  - small GET at 64 keep-alive connections, interleaved rounds, medians:
 *    requests/s, p99, CPU per request summed over the process tree, RSS of
 *    the tree;
 *  - K switches under that load: failed requests (must be 0) and the admin
 *    call's latency p50/p99 (in multi-core the admin API runs on the
 *    primary, away from the proxying event loops).
 *
 * Loopback only, bounded: rounds × duration per target plus the switch runs
 * (each capped by MAX_FLIP_LOAD_S). Output: Markdown on stdout and in
 * bench/out/workers.md.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopAll } from './lib/children.js';
import { runLoad, type LoadGenerator } from './lib/load.js';
import { optionsOrExit, runBench, tempDirs } from './lib/main.js';
import { findBinary, startNative } from './lib/native.js';
import { nginxConfig } from './lib/nginx.js';
import { treeCpuSeconds, treeRssKiB } from './lib/procstat.js';
import { say } from './lib/say.js';
import { median, percentile } from './lib/stats.js';
import { AdminSwitcher, runFlipLoad } from './lib/switch-load.js';
import { ensureBuilt, freePort, startSwitchyard, type RunningSwitchyard } from './lib/switchyard.js';
import { startUpstreams } from './lib/upstreams.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);
const OUT = join(BENCH, 'out');
const LOGS = join(OUT, 'logs-workers');
const WRK = '/usr/bin/wrk';

interface Round {
  readonly rps: number;
  readonly p99Ms: number;
  readonly cpuUsPerReq: number | undefined;
  readonly rssMiB: number | undefined;
  readonly errors: number;
}

interface TargetResult {
  /** 0 for the nginx reference. */
  readonly workers: number;
  readonly label: string;
  readonly rounds: Round[];
  switchFailed: number;
  switchRequests: number;
  switchMs: number[];
}

const USAGE = `usage: npm run bench:workers -- [--rounds N] [--duration S] [--connections C] [--switches K] [--workers N]
  --rounds N       interleaved rounds (default 5)
  --duration S     seconds per measured load (default 3)
  --connections C  keep-alive connections (default 64)
  --switches K     switches under load per target, 0 to skip (default 50)
  --workers N      the multi-core target's workers (default 2)`;

function positiveInt(value: string | undefined, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = optionsOrExit(() => {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      options: { rounds: { type: 'string' }, duration: { type: 'string' }, connections: { type: 'string' }, switches: { type: 'string' }, workers: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help === true) throw new Error(USAGE);
    return {
      rounds: positiveInt(values.rounds, '--rounds', 5),
      durationS: positiveInt(values.duration, '--duration', 3),
      connections: positiveInt(values.connections, '--connections', 64),
      switches: positiveInt(values.switches, '--switches', 50, 0),
      workers: positiveInt(values.workers, '--workers', 2, 2),
    };
  }, USAGE);
  const t0 = Date.now();
  rmSync(LOGS, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  const useWrk = existsSync(WRK);
  const gen: LoadGenerator = { kind: useWrk ? 'wrk' : 'autocannon', wrkPath: WRK, cpus: undefined, benchDir: BENCH, logDir: LOGS };
  say(`dist/: ${ensureBuilt(ROOT, 'auto')}`);
  const tempDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-workers-'));
  tempDirs.push(tempDir);
  const nginx = findBinary('nginx', process.env.BENCH_NGINX);
  const upstreamKind = nginx === undefined ? 'node' : 'nginx';
  const ups = await startUpstreams({ kind: upstreamKind, root: ROOT, tempDir, logDir: LOGS, nginx });
  const targets: { url: string; pid: number; sy: RunningSwitchyard | undefined; result: TargetResult }[] = [];
  for (const workers of [1, o.workers]) {
    const sy = await startSwitchyard({ root: ROOT, dir: tempDir, bluePort: ups.blue.port, greenPort: ups.green.port, cpus: undefined, logDir: LOGS, workers, name: `switchyard-w${workers}` });
    targets.push({ url: sy.url, pid: sy.child.pid, sy, result: { workers, label: `Switchyard, workers: ${workers}`, rounds: [], switchFailed: 0, switchRequests: 0, switchMs: [] } });
  }
  // The reference, under the same (unpinned) conditions: nginx with one worker, keep-alive to the upstream.
  if (nginx !== undefined) {
    const port = await freePort();
    const dir = join(tempDir, 'peer-nginx');
    const child = await startNative({ name: 'nginx', kind: 'nginx', binary: nginx, dir, config: nginxConfig({ port, upstreamPort: ups.blue.port, dir, asRoot: process.getuid?.() === 0 }), port, cpus: undefined, logDir: LOGS });
    targets.push({ url: `http://127.0.0.1:${port}`, pid: child.pid, sy: undefined, result: { workers: 0, label: 'nginx, 1 worker', rounds: [], switchFailed: 0, switchRequests: 0, switchMs: [] } });
  }
  say(`upstreams: ${upstreamKind}; targets: ${targets.map((x) => x.result.label).join('; ')}; load: ${gen.kind}, ${o.connections} connections, unpinned`);
  // Warm-up, unmeasured: JIT, upstream connections, both workers' pools.
  for (const { url } of targets) await runLoad(gen, spec(url, o.connections, 2));
  for (let r = 0; r < o.rounds; r++) {
    // Rotated each round, so drift on this shared machine hits every target alike.
    const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
    for (const { url, pid, result } of order) {
      const cpu0 = treeCpuSeconds(pid);
      const { result: load } = await runLoad(gen, spec(url, o.connections, o.durationS));
      const cpu1 = treeCpuSeconds(pid);
      const rss = treeRssKiB(pid);
      result.rounds.push({
        rps: load.rps,
        p99Ms: load.p99Ms,
        cpuUsPerReq: cpu0 === undefined || cpu1 === undefined || load.requests === 0 ? undefined : ((cpu1 - cpu0) * 1e6) / load.requests,
        rssMiB: rss === undefined ? undefined : rss / 1024,
        errors: load.non2xx + load.socketErrors,
      });
      say(`round ${r + 1}: ${result.label}: ${Math.round(load.rps)} req/s`);
    }
  }
  if (o.switches > 0) {
    for (const { sy, result } of targets) {
      if (sy === undefined) continue;
      const switcher = new AdminSwitcher(sy.adminUrl);
      const run = await runFlipLoad(gen, switcher, { proxyUrl: sy.url, connections: o.connections, switches: o.switches, spacingMs: 25, durationS: o.durationS });
      await switcher.close();
      result.switchFailed = run.load.non2xx + run.load.socketErrors + run.calls.filter((c) => c.status !== 200).length;
      result.switchRequests = run.load.requests;
      result.switchMs = run.calls.map((c) => c.ms);
      say(`switch run: ${result.label}: ${run.calls.length} switches, ${result.switchFailed} failed, admin p99 ${percentile(result.switchMs, 99).toFixed(1)} ms`);
    }
  }
  for (const { sy } of targets) await sy?.child.stop(15_000);
  await stopAll();
  const md = report(targets.map((x) => x.result), o, { upstreamKind, loadgen: gen.kind, elapsedS: (Date.now() - t0) / 1000 });
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'workers.md'), `${md}\n`);
  process.stdout.write(`${md}\n`);
}

/** roundRatio — median over rounds of a's req/s ÷ b's in the same round. */
function roundRatio(a: TargetResult, b: TargetResult): number {
  const n = Math.min(a.rounds.length, b.rounds.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) ratios.push(a.rounds[i]!.rps / b.rounds[i]!.rps);
  return median(ratios);
}

function spec(url: string, connections: number, durationS: number): Parameters<typeof runLoad>[1] {
  return { url: `${url}/`, connections, durationS, method: 'GET', bodyBytes: 0, exactStatus: false, headers: [] };
}

function report(results: readonly TargetResult[], o: { rounds: number; durationS: number; connections: number; switches: number }, run: { upstreamKind: string; loadgen: string; elapsedS: number }): string {
  const med = (r: TargetResult, f: (x: Round) => number | undefined): number => median(r.rounds.map(f).filter((v): v is number => v !== undefined));
  const base = results[0];
  const lines = [
    `# Switchyard multi-core: workers 1 vs ${results[1]?.workers ?? '?'}${results.some((r) => r.workers === 0) ? ', nginx (1 worker) as reference' : ''}`,
    '',
    `- ${new Date().toISOString()}; ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}); Node ${process.version}; load average at end ${loadavg()[0]?.toFixed(2)}`,
    `- command: \`npm run bench:workers -- --rounds ${o.rounds} --duration ${o.durationS} --connections ${o.connections} --switches ${o.switches}\`; ${run.elapsedS.toFixed(0)} s`,
    `- small GET through each, ${o.connections} keep-alive connections, ${run.loadgen} (1 thread), upstreams ${run.upstreamKind}; nothing pinned: load generator, upstreams and every Switchyard process share all CPUs`,
    `- ${o.rounds} interleaved rounds of ${o.durationS} s, medians; CPU and RSS summed over the Switchyard process tree (primary + workers)`,
    '',
    '| target | req/s (median) | × workers 1 | × nginx (1 worker) | p99 ms | CPU µs/req (tree) | RSS MiB (tree) | errors |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const ref = results.find((r) => r.workers === 0);
  for (const r of results) {
    const rps = med(r, (x) => x.rps);
    const ratio = (other: TargetResult | undefined): string => (other === undefined ? '—' : roundRatio(r, other).toFixed(2));
    lines.push(
      `| ${r.label} | ${Math.round(rps)} | ${ratio(base)} | ${ratio(ref)} | ${med(r, (x) => x.p99Ms).toFixed(2)} | ${med(r, (x) => x.cpuUsPerReq).toFixed(1)} | ${med(r, (x) => x.rssMiB).toFixed(0)} | ${r.rounds.reduce((n, x) => n + x.errors, 0)} |`,
    );
  }
  lines.push('', 'Ratios are medians of per-round ratios (each round measures every target back to back).');
  if (o.switches > 0) {
    lines.push('', `Switch under load (${o.switches} switches 25 ms apart at ${o.connections} connections, exact status counting):`, '', '| target | requests | failed | switch call p50 ms | p99 ms | max ms |', '|---|---|---|---|---|---|');
    for (const r of results) {
      if (r.workers === 0) continue;
      lines.push(`| ${r.label} | ${r.switchRequests} | ${r.switchFailed} | ${percentile(r.switchMs, 50).toFixed(1)} | ${percentile(r.switchMs, 99).toFixed(1)} | ${Math.max(...r.switchMs).toFixed(1)} |`);
    }
  }
  return lines.join('\n');
}

runBench(main);
