/**
 * bench/lib/goals — issue 4 §2's targets, judged from one run's own numbers:
 * each says what was asked, what was measured, met or missed, and by how
 * much. Ratios come from the same interleaved rounds (per-round ratios, then
 * their median), because on this shared machine only side-by-side figures
 * mean anything. A target whose reference was not measured (a peer missing,
 * a scenario not selected) says so instead of passing.
 */
import { percentile, type Summary } from './stats.js';
import type { SwitchReport } from './report.js';
import type { Scenario, TargetId } from './options.js';

/** Goal — one target's verdict. */
export interface Goal {
  readonly name: string;
  readonly wanted: string;
  readonly measured: string;
  /** undefined: not measured in this run. */
  readonly met: boolean | undefined;
  readonly margin: string;
}

/** GoalInput — what the judgement needs: each scenario's summaries, and the switch run. */
export interface GoalInput {
  readonly scenarios: readonly { readonly scenario: Scenario; readonly connections: number; readonly summaries: readonly Summary[] }[];
  readonly switchRun: SwitchReport | undefined;
}

const MB_PER_MIB = 1.048576;
const pct = (v: number): string => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(0)} %`;

function find(input: GoalInput, scenario: Scenario, connections: number, target: TargetId): Summary | undefined {
  return input.scenarios.find((s) => s.scenario === scenario && s.connections === connections)?.summaries.find((s) => s.target === target);
}

/** atLeast — a "measured ≥ wanted" goal on a ratio; the margin is how far above or below, and the req/s change that would meet it. */
function atLeast(name: string, wanted: number, measured: number | undefined, what: string): Goal {
  if (measured === undefined) return { name, wanted: `≥ ${wanted.toFixed(2)}×`, measured: 'not measured', met: undefined, margin: `${what} not in this run` };
  const met = measured >= wanted;
  return {
    name,
    wanted: `≥ ${wanted.toFixed(2)}×`,
    measured: `${measured.toFixed(2)}×`,
    met,
    margin: met ? `${(measured - wanted).toFixed(2)} above (${pct(measured / wanted - 1)})` : `${(wanted - measured).toFixed(2)} short: needs ${pct(wanted / measured - 1)} req/s`,
  };
}

/** atMost — a "measured ≤ wanted" goal (strict when `strict`). */
function atMost(name: string, wanted: number, measured: number | undefined, unit: string, strict: boolean, what: string): Goal {
  const w = `${strict ? '<' : '≤'} ${wanted}${unit}`;
  if (measured === undefined) return { name, wanted: w, measured: 'not measured', met: undefined, margin: `${what} not in this run` };
  const met = strict ? measured < wanted : measured <= wanted;
  const d = Math.abs(wanted - measured);
  return { name, wanted: w, measured: `${measured.toFixed(2)}${unit}`, met, margin: `${d.toFixed(2)}${unit} ${met ? 'under' : 'over'} (${pct(measured / wanted - 1)})` };
}

/** judge — every §2 target this bench can measure, in the issue's order. */
export function judge(input: GoalInput, baseConnections: number): Goal[] {
  const sy64 = find(input, 'get', 64, 'switchyard');
  const sy256 = find(input, 'get256', 256, 'switchyard');
  const nginx64 = find(input, 'get', 64, 'nginx');
  const goals: Goal[] = [
    atLeast('small GET, 64 conns: req/s vs nginx (1 worker)', 0.45, nginx64 === undefined ? undefined : sy64?.vsNginx, baseConnections === 64 ? 'nginx or the get scenario' : 'get at 64 connections'),
    atLeast('small GET, 64 conns: req/s vs the in-tree forwarder (floor)', 1, sy64?.vsForwarder, 'forwarder or the get scenario'),
    atLeast('small GET, 256 conns: req/s vs HAProxy (1 thread)', 0.45, find(input, 'get256', 256, 'haproxy') === undefined ? undefined : sy256?.vsHaproxy, 'HAProxy or the get256 scenario'),
    atMost('small GET, 64 conns: p99 latency vs nginx', 3, nginx64 === undefined ? undefined : sy64?.p99VsNginx, '×', false, 'nginx or the get scenario'),
    atMost('RSS under the 64-conn small GET load (highest sample, MB = 10^6 B)', 130, sy64?.rssMaxMiB === undefined ? undefined : sy64.rssMaxMiB * MB_PER_MIB, ' MB', false, 'the get scenario'),
  ];
  const sw = input.switchRun;
  if (sw === undefined) {
    goals.push({ name: 'switch under load: failed requests', wanted: '0', measured: 'not measured', met: undefined, margin: 'switch run skipped (--switches 0)' });
    goals.push({ name: 'switch under load: admin call p99', wanted: '< 5 ms', measured: 'not measured', met: undefined, margin: 'switch run skipped' });
    return goals;
  }
  const l = sw.flipping.run.load;
  const failed = l.non2xx + l.socketErrors;
  const bad = sw.flipping.run.calls.filter((c) => c.status !== 200 || c.changed !== true).length + sw.flipping.run.skipped;
  goals.push({
    name: `switch under load: failed requests over ${sw.flipping.run.calls.length} switches`,
    wanted: '0',
    measured: `${failed} (${l.non2xx} non-2xx, ${l.socketErrors} socket errors)${bad > 0 ? `; ${bad} switch call(s) failed or not made` : ''}`,
    met: failed === 0 && bad === 0,
    margin: failed === 0 ? `0 of ${Math.round(l.requests).toLocaleString('en-US')} requests` : `${failed} too many`,
  });
  const times = sw.flipping.run.calls.map((c) => c.ms);
  goals.push(atMost('switch under load: admin call p99', 5, times.length === 0 ? undefined : percentile(times, 99), ' ms', true, 'switch calls'));
  return goals;
}
