/**
 * bench/lib/report — the Markdown printed at the end and written to
 * bench/out/latest.md. Everything a reader needs to judge a figure sits next
 * to it: machine, versions, commit, pinning, load generator, rounds, and how
 * busy the machine was, because a ratio without its conditions invites a
 * wrong reading. The issue's targets are judged at the top from the same run.
 */
import type { Goal } from './goals.js';
import type { Machine } from './machine.js';
import type { BenchOptions, Scenario, TargetId } from './options.js';
import { SCENARIOS } from './options.js';
import type { Memory } from './procstat.js';
import { switchSection } from './report-switch.js';
import type { Sample, Summary } from './stats.js';
import type { FlipRun, SwitchCall } from './switch-load.js';
import type { UpstreamCounts } from './upstreams.js';

/** MemoryPoint — Switchyard's memory at one moment of the run. */
export interface MemoryPoint {
  readonly when: string;
  readonly memory: Memory | undefined;
  /** V8 heap in use (nodejs_heap_size_used_bytes from Switchyard's /metrics), MiB. */
  readonly heapUsedMiB: number | undefined;
  /** libuv handles alive (sockets, servers, …): nodejs_active_handles summed over its types. */
  readonly activeHandles: number | undefined;
}

/** SwitchPhase — one load run of the switch test and what each upstream saw during it. */
export interface SwitchPhase {
  readonly run: FlipRun;
  readonly blue: UpstreamCounts | undefined;
  readonly green: UpstreamCounts | undefined;
  /** Switchyard counters (summed over labels) during the phase: name → change. */
  readonly counters: Readonly<Record<string, number>>;
  /**
   * Switchyard's event-loop delay during the phase (prom-client's
   * monitorEventLoopDelay, which resets at every scrape: the phase starts and
   * ends with one), ms: p50, p99, max. An admin call shares that loop, so
   * under load it waits about one such delay per asynchronous step.
   */
  readonly loopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number } | undefined;
}

/** SwitchReport — switch calls with no load, the control run, the flipping run, and Switchyard's counters. */
export interface SwitchReport {
  readonly idleCalls: readonly SwitchCall[];
  readonly control: SwitchPhase;
  readonly flipping: SwitchPhase;
}

/** ScenarioResult — one scenario's samples and summaries. */
export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly connections: number;
  readonly summaries: readonly Summary[];
  readonly samples: readonly Sample[];
  readonly roundsSkipped: number;
}

/** RunRecord — everything one bench run measured. */
export interface RunRecord {
  readonly startedAt: string;
  readonly command: string;
  readonly machine: Machine;
  readonly options: BenchOptions;
  readonly loadgen: string;
  readonly pinning: string;
  readonly upstream: string;
  readonly build: string;
  readonly scenarios: readonly ScenarioResult[];
  readonly goals: readonly Goal[];
  readonly memory: readonly MemoryPoint[];
  readonly switchRun: SwitchReport | undefined;
  /** Switchyard log lines at warn or above over the whole run, by message. */
  readonly warnings: readonly (readonly [string, number])[];
  readonly loadAvgAtEnd: number;
  readonly elapsedS: number;
  readonly notes: readonly string[];
}

const LABELS: Readonly<Record<TargetId, string>> = {
  direct: 'direct (no proxy)',
  forwarder: 'forwarder (baseline)',
  switchyard: '**Switchyard**',
  nginx: 'nginx (1 worker)',
  haproxy: 'HAProxy (1 thread)',
  'http-proxy': 'http-proxy',
  'fastify-http-proxy': '@fastify/http-proxy',
};

const n0 = (v: number): string => Math.round(v).toLocaleString('en-US');
const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const ratio = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(2));
const mib = (kib: number): string => (kib / 1024).toFixed(1);
const opt = (v: number | undefined, f: (x: number) => string): string => (v === undefined ? 'n/a' : f(v));
const heading = (s: ScenarioResult): string => `${SCENARIOS[s.scenario].label}, ${s.connections} connections (\`${s.scenario}\`)`;

function scenarioTable(summaries: readonly Summary[]): string[] {
  const lines = [
    '| target | req/s (median) | range over rounds | p50 ms | p99 ms | × nginx | × HAProxy | × direct | × forwarder | CPU µs/req | RSS MiB | upstream conns | other load | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of summaries) {
    lines.push(
      `| ${LABELS[s.target]} | ${n0(s.rps)} | ${n0(s.rpsMin)}–${n0(s.rpsMax)} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${ratio(s.vsNginx)} | ${ratio(s.vsHaproxy)} | ${ratio(s.vsDirect)} | ${ratio(s.vsForwarder)} | ${opt(s.cpuUsPerReq, (v) => v.toFixed(1))} | ${opt(s.rssMiB, (v) => v.toFixed(0))} | ${s.upstreamConnections ?? 'n/a'} | ${opt(s.otherCpuPctMax, (v) => `≤ ${Math.round(v)}%`)} | ${s.errors} |`,
    );
  }
  return lines;
}

/** overview — every target × every scenario in one table: req/s and the ratio to nginx. */
function overview(r: RunRecord): string[] {
  if (r.scenarios.length === 0) return [];
  const targets = [...new Set(r.scenarios.flatMap((s) => s.summaries.map((x) => x.target)))];
  const cols = r.scenarios.map((s) => `${s.scenario} (${s.connections} c)`);
  const lines = ['## Overview — req/s (× nginx), medians', '', `| target | ${cols.join(' | ')} |`, `| --- |${cols.map(() => ' ---: |').join('')}`];
  for (const t of targets) {
    const cells = r.scenarios.map((s) => {
      const x = s.summaries.find((y) => y.target === t);
      return x === undefined ? '—' : `${n0(x.rps)} (${ratio(x.vsNginx)})`;
    });
    lines.push(`| ${LABELS[t]} | ${cells.join(' | ')} |`);
  }
  return [...lines, ''];
}

/** NOISY_PCT — other processes' CPU share above which a small-GET round is called disturbed. */
const NOISY_PCT = 10;

function goalsSection(goals: readonly Goal[], scenarios: readonly ScenarioResult[]): string[] {
  const verdict = (g: Goal): string => (g.met === undefined ? 'not measured' : g.met ? '**met**' : '**missed**');
  // The targets are set on the small-GET scenarios; say so when other processes disturbed them.
  const small = scenarios.filter((s) => s.scenario === 'get' || s.scenario === 'get256').flatMap((s) => s.samples);
  const noisy = small.filter((x) => (x.otherCpuPct ?? 0) > NOISY_PCT);
  const warning =
    noisy.length === 0
      ? []
      : [
          `**Disturbed run:** in ${noisy.length} of ${small.length} small-GET loads, processes outside the bench took more than ${NOISY_PCT} % of the machine (up to ${Math.round(Math.max(...noisy.map((x) => x.otherCpuPct ?? 0)))} %). ` +
            'They do not hit every target alike, so the ratios below may be off by more than the usual round-to-round spread; prefer a run where this line is absent.',
          '',
        ];
  return [
    '## Issue 4 §2 targets, judged on this run',
    '',
    ...warning,
    '| target | wanted | measured | verdict | margin |',
    '| --- | ---: | ---: | --- | --- |',
    ...goals.map((g) => `| ${g.name} | ${g.wanted} | ${g.measured} | ${verdict(g)} | ${g.margin} |`),
    '',
  ];
}

function memorySection(points: readonly MemoryPoint[]): string[] {
  if (points.length === 0) return [];
  const out = ['## Switchyard memory over the run', '', '| when | RSS MiB | peak RSS (VmHWM) MiB | V8 heap used MiB | active handles |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const p of points) {
    out.push(`| ${p.when} | ${p.memory === undefined ? 'n/a' : mib(p.memory.rssKiB)} | ${p.memory === undefined ? 'n/a' : mib(p.memory.hwmKiB)} | ${opt(p.heapUsedMiB, (v) => v.toFixed(1))} | ${p.activeHandles ?? 'n/a'} |`);
  }
  return [...out, ''];
}

/** renderReport — the whole Markdown document. */
export function renderReport(r: RunRecord): string {
  const m = r.machine;
  const o = r.options;
  const out: string[] = [
    `# Switchyard bench — ${r.startedAt}`,
    '',
    `- machine: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, Linux ${m.kernel}`,
    `- Node ${m.node}, undici ${m.undici}, Switchyard ${m.switchyard} (dist/: ${r.build}); git ${m.git}`,
    `- peers: ${m.nginx ?? 'nginx not installed'}; ${m.haproxy ?? 'HAProxy not installed'}; http-proxy ${m.httpProxy}; @fastify/http-proxy ${m.fastifyHttpProxy}`,
    `- upstreams: ${r.upstream}`,
    `- load generator: ${r.loadgen}`,
    `- CPU pinning: ${r.pinning}`,
    `- rounds: ${o.rounds} × ${o.durationS} s per target per scenario, interleaved (target order rotated each round); ${o.warmupS} s unmeasured warm-up per target before the first scenario`,
    `- 1-min load average: ${m.loadAvgAtStart.toFixed(2)} at start, ${r.loadAvgAtEnd.toFixed(2)} at end; total ${Math.round(r.elapsedS)} s`,
    `- command: \`${r.command}\``,
    '',
    ...goalsSection(r.goals, r.scenarios),
    ...overview(r),
  ];
  for (const s of r.scenarios) {
    const cut = s.roundsSkipped > 0 ? ` (${s.roundsSkipped} round(s) cut by the time budget)` : '';
    out.push(`## ${heading(s)} — medians of ${o.rounds - s.roundsSkipped} round(s)${cut}`, '', ...scenarioTable(s.summaries), '');
  }
  out.push(
    'Ratios (× …) are medians of per-round ratios (each round measures every target back to back). ' +
      'CPU µs/req is the user+system CPU of the process tree the load generator talked to (the proxy — nginx: master + worker; the upstream for "direct"), divided by the requests it answered. ' +
      'RSS = highest resident set of that process tree sampled every 200 ms during a load, median over rounds. ' +
      'Upstream conns = TCP connections the blue upstream accepted during one measured run (median), including Switchyard\'s health probes (about one a second, a new connection each): ' +
      '"direct" shows the load generator\'s own connections; a proxy that reuses its upstream connections adds next to nothing. ' +
      'Other load = CPU taken by processes outside the bench during this target\'s worst round, % of all CPUs (the machine is shared; ≈, since the load generator\'s last 200 ms are not sampled). ' +
      'Errors = non-2xx (wrk: ≥ 400) + socket errors summed over rounds.',
    '',
    ...memorySection(r.memory),
  );
  if (r.switchRun !== undefined) out.push(...switchSection(r.switchRun, o), '');
  out.push('## Switchyard warnings and errors logged', '');
  if (r.warnings.length === 0) out.push('none', '');
  else out.push(...r.warnings.map(([msg, count]) => `- ${count} × ${msg}`), '');
  if (r.notes.length > 0) out.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
