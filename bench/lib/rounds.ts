/**
 * bench/lib/rounds — one scenario in interleaved rounds, the target order
 * rotated each round, each load measured with the CPU its target's process
 * tree spent, its highest RSS, the upstream connections it opened, and how
 * much CPU processes outside the bench took meanwhile (other engineers' test
 * runs share this machine, and a round they disturbed should be visible as
 * such). Every loop here is bounded in count (rounds × targets) and in time
 * (each load by its duration, the rounds by the run's deadline).
 */
import { availableParallelism } from 'node:os';
import { runLoad, type LoadGenerator } from './load.js';
import { SCENARIOS, scenarioConnections, type BenchOptions, type Scenario } from './options.js';
import { readMachineBusySeconds, treeCpuSeconds, treeRssKiB } from './procstat.js';
import type { Sample } from './stats.js';
import type { Started, Target } from './targets.js';
import { countsDelta } from './upstreams.js';
import { say } from './say.js';

/** rotate — round r starts at target r: no target always runs first (after a pause) or last. */
function rotate<T>(list: readonly T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** ourCpuSeconds — CPU used so far by every long-lived bench process tree and the orchestrator itself. */
function ourCpuSeconds(started: Started): number {
  const self = process.cpuUsage();
  return started.pids.reduce((sum, pid) => sum + (treeCpuSeconds(pid) ?? 0), (self.user + self.system) / 1e6);
}

/** measure — one load against one target, and what it cost whom. */
async function measure(gen: LoadGenerator, o: BenchOptions, scenario: Scenario, t: Target, round: number, durationS: number, started: Started): Promise<Sample> {
  const sc = SCENARIOS[scenario];
  const countsBefore = await started.blue.counts();
  const [cpuBefore, oursBefore, busyBefore, wallBefore] = [treeCpuSeconds(t.pid), ourCpuSeconds(started), readMachineBusySeconds(), performance.now()];
  let rssKiB = treeRssKiB(t.pid);
  const rssSampler = setInterval(() => {
    rssKiB = Math.max(rssKiB ?? 0, treeRssKiB(t.pid) ?? 0);
  }, 200);
  const spec = { url: `${t.origin}${sc.path}`, connections: scenarioConnections(o, scenario), durationS, method: sc.method, bodyBytes: sc.bodyBytes, exactStatus: false, headers: sc.headers };
  const { result: load, clientCpuS } = await runLoad(gen, spec).finally(() => clearInterval(rssSampler));
  const [cpuAfter, oursAfter, busyAfter, wallAfter] = [treeCpuSeconds(t.pid), ourCpuSeconds(started), readMachineBusySeconds(), performance.now()];
  const counts = countsDelta(countsBefore, await started.blue.counts());
  const cpuUsPerReq = cpuBefore === undefined || cpuAfter === undefined || load.requests === 0 ? undefined : ((cpuAfter - cpuBefore) * 1e6) / load.requests;
  let otherCpuPct: number | undefined;
  if (busyBefore !== undefined && busyAfter !== undefined && clientCpuS !== undefined) {
    const other = busyAfter - busyBefore - (oursAfter - oursBefore) - clientCpuS;
    otherCpuPct = Math.max(0, (100 * other) / ((wallAfter - wallBefore) / 1000) / availableParallelism());
  }
  // −1: the counters' read itself may have opened one.
  const upstreamConnections = counts === undefined ? undefined : Math.max(0, counts.connections - 1);
  return { scenario, target: t.id, round, load, cpuUsPerReq, upstreamConnections, otherCpuPct, rssMiB: rssKiB === undefined ? undefined : rssKiB / 1024 };
}

/** measuredTargets — the started targets this run measures, in report order. */
function measuredTargets(o: BenchOptions, started: Started): Target[] {
  return started.targets.filter((t) => o.targets.includes(t.id));
}

/**
 * warmUp — `--warmup` seconds of unmeasured load per target, once, before the
 * first scenario: JIT compilation and connection pools settle before anything
 * counts. Later scenarios are not warmed separately (the time budget), so a
 * scenario's first round may run a little cold; medians over rounds absorb it.
 */
export async function warmUp(gen: LoadGenerator, o: BenchOptions, scenario: Scenario, started: Started): Promise<void> {
  if (o.warmupS <= 0) return;
  for (const t of measuredTargets(o, started)) await measure(gen, o, scenario, t, -1, o.warmupS, started);
}

/** ScenarioRun — the samples and how many rounds the time budget cut. */
export interface ScenarioRun {
  readonly samples: Sample[];
  readonly roundsSkipped: number;
}

/**
 * runScenario — up to `rounds` interleaved rounds. Round 1 always runs; a
 * later round is skipped when, at the pace of the rounds so far, it would end
 * after `deadline` (Date.now() ms), so the run stays within its time budget.
 */
export async function runScenario(gen: LoadGenerator, o: BenchOptions, scenario: Scenario, started: Started, deadline: number, afterRound: (round: number) => Promise<void>): Promise<ScenarioRun> {
  const targets = measuredTargets(o, started);
  const samples: Sample[] = [];
  const t0 = Date.now();
  for (let round = 0; round < o.rounds; round++) {
    if (round > 0 && Date.now() + (Date.now() - t0) / round > deadline) {
      say(`${scenario}: time budget reached, ${o.rounds - round} round(s) skipped`);
      return { samples, roundsSkipped: o.rounds - round };
    }
    for (const t of rotate(targets, round)) {
      const s = await measure(gen, o, scenario, t, round, o.durationS, started);
      samples.push(s);
      const errs = s.load.non2xx + s.load.socketErrors;
      const other = s.otherCpuPct === undefined ? '' : `, other processes ${Math.round(s.otherCpuPct)}% CPU`;
      say(`${scenario} round ${round + 1}/${o.rounds} ${t.id}: ${Math.round(s.load.rps)} req/s, p99 ${s.load.p99Ms.toFixed(2)} ms${errs > 0 ? `, ${errs} errors` : ''}${other}`);
    }
    await afterRound(round);
  }
  return { samples, roundsSkipped: 0 };
}
