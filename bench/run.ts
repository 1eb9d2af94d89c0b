/**
 * bench/run — `npm run bench` (or `npm run bench -- --compare`): how much does
 * Switchyard cost on the hot path, side by side with nginx, HAProxy and the
 * Node proxies, and does a blue/green switch under load lose anything?
 *
 * Every target runs in its own process: two upstreams (nginx, or
 * bench/upstream.ts in Node), the featureless undici forwarder
 * (bench/forwarder.ts), Switchyard itself from dist/cli.js, and, when
 * installed, nginx and HAProxy (generated configs, started in the foreground
 * from a temp dir) and http-proxy and @fastify/http-proxy. For each scenario
 * every target is loaded for `--duration` seconds per round, rounds
 * interleaved with the order rotated, so machine drift (this is a shared
 * 2-core box) hits all targets alike; medians and per-round ratios are
 * reported. Then a switch-under-load run flips blue↔green K times through the
 * admin API at the run's highest load while every failed request is counted.
 *
 * Output: a Markdown report on stdout and in bench/out/latest.md, raw samples
 * in bench/out/latest.json, each child's output in bench/out/logs/. Every
 * child process (and nginx's workers) is ended on exit, on error and on
 * SIGINT/SIGTERM; the temp dir with every generated file is removed.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllNow, stopAll } from './lib/children.js';
import { judge } from './lib/goals.js';
import type { LoadGenerator } from './lib/load.js';
import { describeMachine } from './lib/machine.js';
import { findBinary } from './lib/native.js';
import { parseOptions, scenarioConnections, TARGETS, USAGE, type BenchOptions } from './lib/options.js';
import { readMemory } from './lib/procstat.js';
import { renderReport, type MemoryPoint, type RunRecord, type ScenarioResult, type SwitchReport } from './lib/report.js';
import { runScenario, warmUp } from './lib/rounds.js';
import { summarise } from './lib/stats.js';
import { switchRunEstimateS } from './lib/switch-load.js';
import { runSwitch } from './lib/switch-run.js';
import { countWarnings, ensureBuilt, scrapeMetrics } from './lib/switchyard.js';
import { checkTarget, startAll, type Started } from './lib/targets.js';
import { say } from './lib/say.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);
const OUT = join(BENCH, 'out');
const LOGS = join(OUT, 'logs');
const WRK = '/usr/bin/wrk';
const TASKSET = '/usr/bin/taskset';

/**
 * memoryPoint — Switchyard's RSS from /proc plus, from its own /metrics, V8
 * heap in use and active handles: RSS alone rises as V8 grows its heap and
 * rarely falls, so a leak shows better as heap or handles that keep climbing.
 */
async function memoryPoint(when: string, started: Started): Promise<MemoryPoint> {
  const m = await scrapeMetrics(started.switchyard.adminUrl);
  const heap = m.get('nodejs_heap_size_used_bytes');
  return { when, memory: readMemory(started.switchyard.child.pid), heapUsedMiB: heap === undefined ? undefined : heap / 2 ** 20, activeHandles: m.get('nodejs_active_handles') };
}

function commandLine(argv: readonly string[]): string {
  const args = argv.join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args === '' ? '' : ` -- ${args}`}`;
  return `node --import tsx bench/run.ts${args === '' ? '' : ` ${args}`}`;
}

async function main(argv: readonly string[]): Promise<void> {
  let o: BenchOptions;
  try {
    o = parseOptions(argv, process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message === USAGE ? '' : `bench: ${(err as Error).message}\n\n`}${USAGE}\n`);
    process.exit(2);
  }
  const t0 = Date.now();
  rmSync(LOGS, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  const useWrk = o.loadgen === 'wrk' || (o.loadgen === 'auto' && existsSync(WRK));
  if (useWrk && !existsSync(WRK)) throw new Error(`--loadgen wrk: ${WRK} not found`);
  const pin = o.pin && existsSync(TASKSET) && availableParallelism() >= 2;
  const bin = { nginx: findBinary('nginx', process.env.BENCH_NGINX), haproxy: findBinary('haproxy', process.env.BENCH_HAPROXY) };
  const upstream = o.upstream === 'auto' ? (bin.nginx === undefined ? 'node' : 'nginx') : o.upstream;
  const machine = describeMachine(ROOT, useWrk ? WRK : undefined, bin);
  const gen: LoadGenerator = { kind: useWrk ? 'wrk' : 'autocannon', wrkPath: WRK, cpus: pin ? '0' : undefined, benchDir: BENCH, logDir: LOGS };

  say('building dist/ if stale …');
  const build = ensureBuilt(ROOT, o.build);
  say(`dist/: ${build}; git ${machine.git}; starting ${upstream} upstreams and proxies`);
  const tempDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  tempDirs.push(tempDir);
  const started = await startAll({ root: ROOT, tempDir, logDir: LOGS, proxyCpus: pin ? '1' : undefined, peers: o.peers ? o.targets : [], upstream, bin });
  for (const t of started.targets) await checkTarget(t, o.scenarios);
  say(`every target answered every request shape: ${started.targets.map((t) => t.id).join(', ')}${started.missingPeers.length > 0 ? `; skipped (not installed): ${started.missingPeers.join(', ')}` : ''}`);
  const memory: MemoryPoint[] = [await memoryPoint('after start (idle)', started)];

  // The switch run's time is reserved out of the budget before the rounds start.
  const switchReserveMs = o.switches > 0 ? (2 * switchRunEstimateS(o.switches, o.switchSpacingMs) + 5) * 1000 : 0;
  const deadline = t0 + o.budgetS * 1000 - switchReserveMs;
  const first = o.scenarios[0];
  if (first !== undefined) await warmUp(gen, o, first, started);
  const scenarios: ScenarioResult[] = [];
  for (const scenario of o.scenarios) {
    // RSS after every round, not only at the end: growth from round to round is what would betray a leak.
    const run = await runScenario(gen, o, scenario, started, deadline, async (round) => {
      memory.push(await memoryPoint(`after ${scenario} round ${round + 1}`, started));
    });
    scenarios.push({ scenario, connections: scenarioConnections(o, scenario), samples: run.samples, summaries: summarise(run.samples, TARGETS), roundsSkipped: run.roundsSkipped });
  }
  let switchRun: SwitchReport | undefined;
  if (o.switches > 0) {
    switchRun = await runSwitch(gen, o, started);
    memory.push(await memoryPoint('after switch under load', started));
  }
  // Stop Switchyard first and gracefully: its logs are buffered (pino minLength) until it flushes on stop.
  await started.switchyard.child.stop(15_000);
  await stopAll();

  const notes: string[] = [];
  if (started.missingPeers.length > 0) notes.push(`peers not installed, skipped: ${started.missingPeers.join(', ')}`);
  if (!o.peers) notes.push('peers skipped (--no-peers)');
  const cut = scenarios.filter((s) => s.roundsSkipped > 0);
  if (cut.length > 0) notes.push(`time budget (${o.budgetS} s) reached: rounds skipped in ${cut.map((s) => `${s.scenario} (${s.roundsSkipped})`).join(', ')}`);
  const record: RunRecord = {
    startedAt: new Date(t0).toISOString(),
    command: commandLine(argv),
    machine,
    options: o,
    loadgen: useWrk ? `${machine.wrk ?? 'wrk'}, 1 thread` : 'autocannon 8 (child process)',
    pinning: pin ? 'taskset — load generator on CPU 0, every proxy on CPU 1, upstreams unpinned (share both CPUs)' : 'not used (no taskset, fewer than 2 CPUs, or --no-pin): all processes share all CPUs',
    upstream:
      upstream === 'nginx'
        ? 'nginx, 1 worker each (blue, green), 100-byte `return 200` / 1 MiB static file, unpinned'
        : 'bench/upstream.ts (node:http), one process each (blue, green), unpinned',
    build,
    scenarios,
    goals: judge({ scenarios, switchRun }, o.connections),
    memory,
    switchRun,
    warnings: [...countWarnings(started.switchyard.child.lines)],
    loadAvgAtEnd: loadavg()[0] ?? 0,
    elapsedS: (Date.now() - t0) / 1000,
    notes,
  };
  const md = renderReport(record);
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'latest.md'), `${md}\n`);
  writeFileSync(join(OUT, 'latest.json'), `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`${md}\n`);
  say(`written bench/out/latest.md and latest.json (${Math.round(record.elapsedS)} s)`);
}

/** Temp dirs this run made (Switchyard's config and state file), removed whatever way the process ends. */
const tempDirs: string[] = [];

let interrupted = false;
const onSignal = (signal: NodeJS.Signals): void => {
  if (interrupted) return;
  interrupted = true;
  say(`${signal}: stopping every child process`);
  void stopAll(2_000).finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// Last resort: whatever path ends the process, no child outlives it and no temp dir stays behind.
process.on('exit', () => {
  killAllNow();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

main(process.argv.slice(2)).catch(async (err: unknown) => {
  if (interrupted) return; // children killed under it: the error is the interruption's echo, and onSignal exits
  say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await stopAll(2_000);
  process.exit(1);
});
