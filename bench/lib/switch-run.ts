/**
 * bench/lib/switch-run — the switch-under-load test as the report shows it:
 * switch calls timed with no load, a control load with no switch, the same
 * load with K switches, what each upstream saw in each phase, and how
 * Switchyard's own counters moved while switching.
 */
import type { LoadGenerator } from './load.js';
import type { BenchOptions } from './options.js';
import type { SwitchPhase, SwitchReport } from './report.js';
import { AdminSwitcher, runFlipLoad, switchLoadDuration, type FlipRun } from './switch-load.js';
import { scrapeMetrics } from './switchyard.js';
import { countsDelta, upstreamCounts, type Started } from './targets.js';
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
  const [blue0, green0, metrics0] = [await upstreamCounts(started.blue.port), await upstreamCounts(started.green.port), await scrapeMetrics(adminUrl)];
  const result = await run();
  const [blue1, green1, metrics1] = [await upstreamCounts(started.blue.port), await upstreamCounts(started.green.port), await scrapeMetrics(adminUrl)];
  return { run: result, blue: countsDelta(blue0, blue1), green: countsDelta(green0, green1), counters: counterDeltas(metrics0, metrics1) };
}

/** runSwitch — idle switch calls, then the same load without and with K switches. */
export async function runSwitch(gen: LoadGenerator, o: BenchOptions, started: Started): Promise<SwitchReport> {
  const sy = started.switchyard;
  const switcher = new AdminSwitcher(sy.adminUrl);
  try {
    say(`switch calls with no load: ${IDLE_SWITCHES}`);
    const idle = await switcher.flipMany(IDLE_SWITCHES, o.switchSpacingMs);
    await switcher.restoreBlue();
    const durationS = switchLoadDuration(o.switches, o.switchSpacingMs, o.durationS);
    const spec = { proxyUrl: sy.url, connections: o.connections, switches: 0, spacingMs: o.switchSpacingMs, durationS };
    say(`control: ${durationS} s through Switchyard with exact status counting, no switches`);
    const control = await phase(started, () => runFlipLoad(gen, switcher, spec));
    say(`switch under load: ${o.switches} flips, ${o.switchSpacingMs} ms apart, ${o.connections} connections, ${durationS} s`);
    const flipping = await phase(started, () => runFlipLoad(gen, switcher, { ...spec, switches: o.switches }));
    const l = flipping.run.load;
    say(`switch under load: ${l.non2xx} non-2xx, ${l.socketErrors} socket errors, ${flipping.run.calls.length} switches`);
    return { idleCalls: idle.calls, control, flipping };
  } finally {
    await switcher.close();
  }
}
