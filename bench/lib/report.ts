/**
 * bench/lib/report — the Markdown printed at the end and written to
 * bench/out/latest.md. Everything a reader needs to judge a figure sits next
 * to it: machine, versions, pinning, load generator, rounds, and how busy the
 * machine was, because a ratio without its conditions invites a wrong reading.
 */
import type { Machine } from './machine.js';
import type { BenchOptions, Scenario, TargetId } from './options.js';
import { SCENARIOS } from './options.js';
import type { Memory } from './procstat.js';
import { percentile, type Sample, type Summary } from './stats.js';
import type { FlipRun, SwitchCall } from './switch-load.js';
import type { UpstreamCounts } from './targets.js';

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
}

/** SwitchReport — switch calls with no load, the control run, the flipping run, and Switchyard's counters. */
export interface SwitchReport {
  readonly idleCalls: readonly SwitchCall[];
  readonly control: SwitchPhase;
  readonly flipping: SwitchPhase;
}

/** RunRecord — everything one bench run measured. */
export interface RunRecord {
  readonly startedAt: string;
  readonly command: string;
  readonly machine: Machine;
  readonly options: BenchOptions;
  readonly loadgen: string;
  readonly pinning: string;
  readonly build: string;
  readonly scenarios: readonly { readonly scenario: Scenario; readonly summaries: readonly Summary[]; readonly samples: readonly Sample[] }[];
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
  'http-proxy': 'http-proxy',
  'fastify-http-proxy': '@fastify/http-proxy',
};

const n0 = (v: number): string => Math.round(v).toLocaleString('en-US');
const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const ratio = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(2));
const mib = (kib: number): string => (kib / 1024).toFixed(1);

function scenarioTable(summaries: readonly Summary[]): string[] {
  const lines = [
    '| target | req/s (median) | range over rounds | p50 ms | p99 ms | vs direct | vs forwarder | CPU µs/req | upstream conns | other load | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of summaries) {
    lines.push(
      `| ${LABELS[s.target]} | ${n0(s.rps)} | ${n0(s.rpsMin)}–${n0(s.rpsMax)} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${ratio(s.vsDirect)} | ${ratio(s.vsForwarder)} | ${s.cpuUsPerReq === undefined ? 'n/a' : s.cpuUsPerReq.toFixed(1)} | ${s.upstreamConnections ?? 'n/a'} | ${s.otherCpuPctMax === undefined ? 'n/a' : `≤ ${Math.round(s.otherCpuPctMax)}%`} | ${s.errors} |`,
    );
  }
  return lines;
}

const callTimes = (calls: readonly SwitchCall[]): string => {
  const t = calls.map((c) => c.ms);
  return t.length === 0 ? 'n/a' : `${ms(percentile(t, 50))} / ${ms(percentile(t, 99))} / ${ms(Math.max(...t))}`;
};
const seen = (c: UpstreamCounts | undefined, key: keyof UpstreamCounts): string => (c === undefined ? 'n/a' : n0(c[key]));

function switchSection(sw: SwitchReport, o: BenchOptions): string[] {
  const c = sw.control;
  const f = sw.flipping;
  const { load, calls, skipped, durationS } = f.run;
  const ok = calls.filter((x) => x.status === 200);
  const changed = ok.filter((x) => x.changed === true).length;
  const lost = load.non2xx + load.socketErrors;
  const row = (name: string, get: (p: SwitchPhase) => string): string => `| ${name} | ${get(c)} | ${get(f)} |`;
  const lines = [
    '## Switch under load',
    '',
    `${o.connections} keep-alive connections sending \`GET /\` through Switchyard for ${durationS} s, every response's status checked. ` +
      `Control: the same load with no switch. Then the same load while the bench flipped the live pool blue↔green ${o.switches} times through \`POST /api/v1/switch\`, ${o.switchSpacingMs} ms apart (after a 1 s lead-in).`,
    '',
    `| measure | control (no switch) | with ${o.switches} switches |`,
    '| --- | ---: | ---: |',
    row('requests answered', (p) => n0(p.run.load.requests)),
    row('req/s', (p) => n0(p.run.load.rps)),
    row('**non-2xx responses**', (p) => `**${p.run.load.non2xx}**`),
    row('**socket errors** (connect/read/write/timeout)', (p) => `**${p.run.load.socketErrors}**`),
    row('client latency p50 / p99 / max (ms)', (p) => `${ms(p.run.load.p50Ms)} / ${ms(p.run.load.p99Ms)} / ${ms(p.run.load.maxMs)}`),
    row('requests seen by blue / green upstream', (p) => `${seen(p.blue, 'requests')} / ${seen(p.green, 'requests')}`),
    row('TCP connections opened to blue / green', (p) => `${seen(p.blue, 'connections')} / ${seen(p.green, 'connections')}`),
    '',
    '| switch calls | made (200, changed) | p50 / p99 / max ms |',
    '| --- | ---: | ---: |',
    `| with no load | ${sw.idleCalls.filter((x) => x.status === 200 && x.changed === true).length} / ${sw.idleCalls.length} | ${callTimes(sw.idleCalls)} |`,
    `| under load | ${changed} / ${o.switches}${skipped > 0 ? ` (${skipped} not made: load ended first)` : ''} | ${callTimes(calls)} |`,
    '',
    '| Switchyard counter, change during the run | control (no switch) | with switches |',
    '| --- | ---: | ---: |',
    ...[...new Set([...Object.keys(c.counters), ...Object.keys(f.counters)])].map((name) => `| \`${name}\` | ${c.counters[name] ?? 0} | ${f.counters[name] ?? 0} |`),
    '',
    'Client aborts are requests in flight when the load generator stops at the end of its duration and closes its sockets; they happen in either run.',
    '',
    lost === 0 && ok.length === calls.length && changed === calls.length
      ? '**Result: PASS** — no request lost across the switches, every switch call answered 200.'
      : `**Result: FAIL** — ${lost} request(s) lost, ${calls.length - ok.length} switch call(s) not 200, ${ok.length - changed} answered "changed: false".`,
  ];
  const failed = calls.filter((x) => x.status !== 200);
  if (failed.length > 0) lines.push('', `Failed switch calls: ${failed.slice(0, 10).map((x) => `to ${x.to} → ${x.status}`).join(', ')}`);
  return lines;
}

/** renderReport — the whole Markdown document. */
export function renderReport(r: RunRecord): string {
  const m = r.machine;
  const o = r.options;
  const out: string[] = [
    `# Switchyard bench — ${r.startedAt}`,
    '',
    `- machine: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, Linux ${m.kernel}`,
    `- Node ${m.node}, undici ${m.undici}, Switchyard ${m.switchyard} (dist/: ${r.build})`,
    `- load generator: ${r.loadgen}`,
    `- CPU pinning: ${r.pinning}`,
    `- rounds: ${o.rounds} × ${o.durationS} s per target per scenario, interleaved (target order rotated each round), ${o.warmupS} s unmeasured warm-up per target`,
    `- 1-min load average: ${m.loadAvgAtStart.toFixed(2)} at start, ${r.loadAvgAtEnd.toFixed(2)} at end; total ${Math.round(r.elapsedS)} s`,
    `- command: \`${r.command}\``,
    '',
  ];
  for (const s of r.scenarios) {
    out.push(`## ${SCENARIOS[s.scenario].label}, ${o.connections} connections — medians of ${o.rounds} round(s)`, '', ...scenarioTable(s.summaries), '');
  }
  out.push(
    'Ratios are medians of per-round ratios (each round measures every target back to back). ' +
      'CPU µs/req is the user+system CPU of the process the load generator talked to (the proxy; the upstream for "direct"), divided by the requests it answered. ' +
      'Upstream conns = TCP connections the blue upstream accepted during one measured run (median), including Switchyard\'s health probes (about one a second, a new connection each): ' +
      '"direct" shows the load generator\'s own connections; a proxy that reuses its upstream connections adds next to nothing. ' +
      'Other load = CPU taken by processes outside the bench during this target\'s worst round, % of all CPUs (the machine is shared; ≈, since the load generator\'s last 200 ms are not sampled). ' +
      'Errors = non-2xx (wrk: ≥ 400) + socket errors summed over rounds.',
    '',
  );
  if (r.memory.length > 0) {
    out.push('## Switchyard memory', '', '| when | RSS MiB | peak RSS (VmHWM) MiB | V8 heap used MiB | active handles |', '| --- | ---: | ---: | ---: | ---: |');
    for (const p of r.memory) {
      out.push(
        `| ${p.when} | ${p.memory === undefined ? 'n/a' : mib(p.memory.rssKiB)} | ${p.memory === undefined ? 'n/a' : mib(p.memory.hwmKiB)} | ${p.heapUsedMiB === undefined ? 'n/a' : p.heapUsedMiB.toFixed(1)} | ${p.activeHandles ?? 'n/a'} |`,
      );
    }
    out.push('');
  }
  if (r.switchRun !== undefined) out.push(...switchSection(r.switchRun, o), '');
  out.push('## Switchyard warnings and errors logged', '');
  if (r.warnings.length === 0) out.push('none', '');
  else out.push(...r.warnings.map(([msg, count]) => `- ${count} × ${msg}`), '');
  if (r.notes.length > 0) out.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
