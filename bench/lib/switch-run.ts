/**
 * bench/lib/switch-run — the switch-under-load test as the report shows it:
 * switch calls timed with no load, a control load with no switch, the same
 * load with K switches, what each upstream saw in each phase, and how
 * Switchyard's own counters moved while switching.
 */
import type { LoadGenerator } from './load.js';
import type { BenchOptions } from './options.js';
import type { SwitchPhase, SwitchReport } from './report.js';
import { AdminSwitcher, runFlipLoad, type FlipRun } from './switch-load.js';
import { scrapeMetrics } from './switchyard.js';
import type { Started } from './targets.js';
import { countsDelta } from './upstreams.js';
import { say } from './say.js';

/** Switch calls timed with no load first: the reference for the same calls under load. */
const IDLE_SWITCHES = 10;
/** Failure counters, listed even at 0 (prom-client prints no line for a labelled counter never incremented). */
const WATCHED_COUNTERS: readonly string[] = ['switchyard_upstream_errors_total', 'switchyard_retries_total', 'switchyard_client_aborts_total', 'switchyard_ejections_total'];

/** counterDeltas — watched counters (even at 0) and any other switchyard_*_total that moved. */
function counterDeltas(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const deltas: Record<string, number> = {};
  for (const name of WATCHED_COUNTERS) deltas[name] = (after.get(name) ?? 0) - (before.get(name) ?? 0);
  for (const [name, value] of after) {
    const d = value - (before.get(name) ?? 0);
    if (d !== 0 && /^switchyard_.*_total$/.test(name)) deltas[name] = d;
  }
  return deltas;
}

/** phase — one switch-run phase with what each upstream saw and how Switchyard's counters moved during it. */
async function phase(started: Started, run: () => Promise<FlipRun>): Promise<SwitchPhase> {
  const adminUrl = started.switchyard.adminUrl;
  const [blue0, green0, metrics0] = [await started.blue.counts(), await started.green.counts(), await scrapeMetrics(adminUrl)];
  const result = await run();
  const [blue1, green1, metrics1] = [await started.blue.counts(), await started.green.counts(), await scrapeMetrics(adminUrl)];
  const [p50, p99, max] = ['nodejs_eventloop_lag_p50_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds'].map((n) => metrics1.get(n));
  const loopDelayMs = p50 === undefined || p99 === undefined || max === undefined ? undefined : { p50: p50 * 1000, p99: p99 * 1000, max: max * 1000 };
  return { run: result, blue: countsDelta(blue0, blue1), green: countsDelta(green0, green1), counters: counterDeltas(metrics0, metrics1), loopDelayMs };
}

/** runSwitch — idle switch calls, then the load with K switches, then the same load without (the control). */
export async function runSwitch(gen: LoadGenerator, o: BenchOptions, started: Started): Promise<SwitchReport> {
  const sy = started.switchyard;
  const switcher = new AdminSwitcher(sy.adminUrl);
  try {
    say(`switch calls with no load: ${IDLE_SWITCHES}`);
    const idle = await switcher.flipMany(IDLE_SWITCHES, o.switchSpacingMs);
    await switcher.restoreBlue();
    const spec = { proxyUrl: sy.url, connections: o.switchConnections, switches: o.switches, spacingMs: o.switchSpacingMs, durationS: 0 };
    say(`switch under load: ${o.switches} flips, ${o.switchSpacingMs} ms apart, ${o.switchConnections} connections`);
    const flipping = await phase(started, () => runFlipLoad(gen, switcher, spec));
    const l = flipping.run.load;
    say(`switch under load: ${l.non2xx} non-2xx, ${l.socketErrors} socket errors, ${flipping.run.calls.length} switches in ${l.durationS.toFixed(1)} s`);
    // The control runs as long as the flipping load did, so the two columns compare like for like.
    const durationS = Math.max(1, Math.round(l.durationS));
    say(`control: ${durationS} s through Switchyard with exact status counting, no switches`);
    const control = await phase(started, () => runFlipLoad(gen, switcher, { ...spec, switches: 0, durationS }));
    return { idleCalls: idle.calls, control, flipping };
  } finally {
    await switcher.close();
  }
}
