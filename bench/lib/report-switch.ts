/**
 * bench/lib/report-switch — the switch-under-load section of the report:
 * the load with and without flips side by side, what each upstream saw, the
 * admin calls' latency with no load and under load, and Switchyard's own
 * failure counters, so a "0 failed" can be checked against every source.
 */
import type { BenchOptions } from './options.js';
import type { SwitchPhase, SwitchReport } from './report.js';
import { percentile } from './stats.js';
import type { SwitchCall } from './switch-load.js';
import type { UpstreamCounts } from './upstreams.js';

const n0 = (v: number): string => Math.round(v).toLocaleString('en-US');
const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

const callTimes = (calls: readonly SwitchCall[]): string => {
  const t = calls.map((c) => c.ms);
  return t.length === 0 ? 'n/a' : `${ms(percentile(t, 50))} / ${ms(percentile(t, 99))} / ${ms(Math.max(...t))}`;
};
const seen = (c: UpstreamCounts | undefined, key: keyof UpstreamCounts): string => (c === undefined ? 'n/a' : n0(c[key]));

/** switchSection — the Markdown lines of the switch-under-load result. */
export function switchSection(sw: SwitchReport, o: BenchOptions): string[] {
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
    `${o.switchConnections} keep-alive connections (the highest load of the run) sending \`GET /\` through Switchyard, every response's status checked (wrk Lua \`response()\` hook). ` +
      `The bench flipped the live pool blue↔green ${o.switches} times through \`POST /api/v1/switch\`, ${o.switchSpacingMs} ms apart, after a 1 s lead-in; the load ran until 1 s after the last flip (${durationS.toFixed(1)} s). ` +
      `Control: the same load for as long (rounded to the second), with no switch.`,
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
    row("Switchyard's event-loop delay p50 / p99 / max (ms, its /metrics)", (p) => (p.loopDelayMs === undefined ? 'n/a' : `${ms(p.loopDelayMs.p50)} / ${ms(p.loopDelayMs.p99)} / ${ms(p.loopDelayMs.max)}`)),
    '',
    '| switch calls | made (200, changed) | p50 / p99 / max ms |',
    '| --- | ---: | ---: |',
    `| with no load | ${sw.idleCalls.filter((x) => x.status === 200 && x.changed === true).length} / ${sw.idleCalls.length} | ${callTimes(sw.idleCalls)} |`,
    `| under load | ${changed} / ${o.switches}${skipped > 0 ? ` (${skipped} not made: load ended first)` : ''} | ${callTimes(calls)} |`,
    '',
    'Switch call times are wall-clock as an operator sees them: one keep-alive connection to the admin API, request sent → whole answer read.',
    '',
    '| Switchyard counter, change during the run | control (no switch) | with switches |',
    '| --- | ---: | ---: |',
    ...[...new Set([...Object.keys(c.counters), ...Object.keys(f.counters)])].map((name) => `| \`${name}\` | ${c.counters[name] ?? 0} | ${f.counters[name] ?? 0} |`),
    '',
    'Client aborts are requests in flight when the load generator stops at the end of its duration and closes its sockets; they happen in either run.',
    '',
    lost === 0 && ok.length === calls.length && changed === calls.length && skipped === 0
      ? `**Result: PASS** — no request lost across the ${calls.length} switches, every switch call answered 200.`
      : `**Result: FAIL** — ${lost} request(s) lost, ${calls.length - ok.length} switch call(s) not 200, ${ok.length - changed} answered "changed: false", ${skipped} not made.`,
  ];
  const failed = calls.filter((x) => x.status !== 200);
  if (failed.length > 0) lines.push('', `Failed switch calls: ${failed.slice(0, 10).map((x) => `to ${x.to} → ${x.status}`).join(', ')}`);
  return lines;
}

