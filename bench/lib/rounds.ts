/**
 * bench/lib/rounds — one scenario: warm every target up, then interleaved
 * rounds with the target order rotated, each load measured with the CPU its
 * process spent, the upstream connections it opened, and how much CPU
 * processes outside the bench took meanwhile (other engineers' test runs
 * share this machine, and a round they disturbed should be visible as such).
 */
import { availableParallelism } from 'node:os';
import { runLoad, type LoadGenerator } from './load.js';
import { SCENARIOS, type BenchOptions, type Scenario } from './options.js';
import { readCpuSeconds, readMachineBusySeconds } from './procstat.js';
import type { Sample } from './stats.js';
import { countsDelta, upstreamCounts, type Started, type Target } from './targets.js';
import { say } from './say.js';

/** rotate — round r starts at target r: no target always runs first (after a pause) or last. */
function rotate<T>(list: readonly T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** ourCpuSeconds — CPU used so far by every long-lived bench process and the orchestrator itself. */
function ourCpuSeconds(started: Started): number {
  const self = process.cpuUsage();
  return started.pids.reduce((sum, pid) => sum + (readCpuSeconds(pid) ?? 0), (self.user + self.system) / 1e6);
}

/** measure — one load against one target, and what it cost whom. */
async function measure(gen: LoadGenerator, o: BenchOptions, scenario: Scenario, t: Target, round: number, durationS: number, started: Started): Promise<Sample> {
  const sc = SCENARIOS[scenario];
  const countsBefore = await upstreamCounts(started.blue.port);
  const [cpuBefore, oursBefore, busyBefore, wallBefore] = [readCpuSeconds(t.pid), ourCpuSeconds(started), readMachineBusySeconds(), performance.now()];
  const { result: load, clientCpuS } = await runLoad(gen, { url: `${t.origin}${sc.path}`, connections: o.connections, durationS, method: sc.method, bodyBytes: sc.bodyBytes, exactStatus: false });
  const [cpuAfter, oursAfter, busyAfter, wallAfter] = [readCpuSeconds(t.pid), ourCpuSeconds(started), readMachineBusySeconds(), performance.now()];
  const counts = countsDelta(countsBefore, await upstreamCounts(started.blue.port));
  const cpuUsPerReq = cpuBefore === undefined || cpuAfter === undefined || load.requests === 0 ? undefined : ((cpuAfter - cpuBefore) * 1e6) / load.requests;
  let otherCpuPct: number | undefined;
  if (busyBefore !== undefined && busyAfter !== undefined && clientCpuS !== undefined) {
    const other = busyAfter - busyBefore - (oursAfter - oursBefore) - clientCpuS;
    otherCpuPct = Math.max(0, (100 * other) / ((wallAfter - wallBefore) / 1000) / availableParallelism());
  }
  // −1: the /__stats read itself may have opened one.
  const upstreamConnections = counts === undefined ? undefined : Math.max(0, counts.connections - 1);
  return { scenario, target: t.id, round, load, cpuUsPerReq, upstreamConnections, otherCpuPct };
}

/** runScenario — warm every target up, then `rounds` interleaved rounds. */
export async function runScenario(gen: LoadGenerator, o: BenchOptions, scenario: Scenario, started: Started, afterRound: (round: number) => Promise<void>): Promise<Sample[]> {
  const targets = started.targets.filter((t) => o.targets.includes(t.id));
  if (o.warmupS > 0) {
    for (const t of targets) await measure(gen, o, scenario, t, -1, o.warmupS, started);
  }
  const samples: Sample[] = [];
  for (let round = 0; round < o.rounds; round++) {
    for (const t of rotate(targets, round)) {
      const s = await measure(gen, o, scenario, t, round, o.durationS, started);
      samples.push(s);
      const errs = s.load.non2xx + s.load.socketErrors;
      const other = s.otherCpuPct === undefined ? '' : `, other processes ${Math.round(s.otherCpuPct)}% CPU`;
      say(`${scenario} round ${round + 1}/${o.rounds} ${t.id}: ${Math.round(s.load.rps)} req/s, p99 ${s.load.p99Ms.toFixed(2)} ms${errs > 0 ? `, ${errs} errors` : ''}${other}`);
    }
    await afterRound(round);
  }
  return samples;
}

