/**
 * bench/lib/stats — medians across interleaved rounds. Medians, not means:
 * on a shared 2-core machine one round can be hit by a neighbour, and a
 * median of three ignores one bad round where a mean would not.
 */
import type { LoadResult } from './load.js';
import type { Scenario, TargetId } from './options.js';

/** Sample — one measured load against one target in one round. */
export interface Sample {
  readonly scenario: Scenario;
  readonly target: TargetId;
  readonly round: number;
  readonly load: LoadResult;
  /** CPU of the process that answered the load generator (the proxy; the upstream for direct), µs per request. */
  readonly cpuUsPerReq: number | undefined;
  /** TCP connections the (blue) upstream accepted during the load: shows whether the proxy reuses them. */
  readonly upstreamConnections: number | undefined;
  /** CPU used by processes outside the bench during the load, % of all CPUs (noise indicator). */
  readonly otherCpuPct: number | undefined;
  /** Highest resident set of the target's process tree seen during the load (sampled every 200 ms), MiB. */
  readonly rssMiB: number | undefined;
}

/** Summary — one target's medians in one scenario, with ratios to the references measured in the same rounds. */
export interface Summary {
  readonly target: TargetId;
  readonly rounds: number;
  readonly rps: number;
  readonly rpsMin: number;
  readonly rpsMax: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly vsDirect: number | undefined;
  readonly vsForwarder: number | undefined;
  readonly vsNginx: number | undefined;
  readonly vsHaproxy: number | undefined;
  /** p99 latency ÷ nginx's p99, median over rounds (issue 4 §2: Switchyard ≤ 3× at 64 connections). */
  readonly p99VsNginx: number | undefined;
  /** Median over rounds of the highest RSS seen during each load, MiB. */
  readonly rssMiB: number | undefined;
  /** Highest RSS seen in any round, MiB. */
  readonly rssMaxMiB: number | undefined;
  readonly cpuUsPerReq: number | undefined;
  readonly upstreamConnections: number | undefined;
  /** Highest otherCpuPct over this target's rounds: how disturbed its worst round was. */
  readonly otherCpuPctMax: number | undefined;
  readonly errors: number;
}

/** median — of a non-empty list (mean of the middle two for even lengths). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** percentile — nearest-rank percentile (p in 0..100) of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

/**
 * roundRatio — median over rounds of (target req/s ÷ reference req/s in that
 * same round). Interleaving makes each round's pair share the machine's state
 * of the moment, so the per-round ratio cancels drift that a ratio of two
 * medians would keep.
 */
function roundRatio(samples: readonly Sample[], target: TargetId, reference: TargetId, value: (s: Sample) => number = (s) => s.load.rps): number | undefined {
  if (target === reference) return samples.some((s) => s.target === target) ? 1 : undefined;
  const ratios: number[] = [];
  for (const s of samples) {
    if (s.target !== target) continue;
    const ref = samples.find((r) => r.target === reference && r.round === s.round);
    if (ref !== undefined && value(ref) > 0) ratios.push(value(s) / value(ref));
  }
  return ratios.length === 0 ? undefined : median(ratios);
}

/** summarise — one Summary per target, in `order`, for one scenario's samples. */
export function summarise(samples: readonly Sample[], order: readonly TargetId[]): Summary[] {
  const out: Summary[] = [];
  for (const target of order) {
    const mine = samples.filter((s) => s.target === target);
    if (mine.length === 0) continue;
    const rps = mine.map((s) => s.load.rps);
    const cpu = mine.map((s) => s.cpuUsPerReq).filter((c): c is number => c !== undefined);
    const conns = mine.map((s) => s.upstreamConnections).filter((c): c is number => c !== undefined);
    const other = mine.map((s) => s.otherCpuPct).filter((c): c is number => c !== undefined);
    const rss = mine.map((s) => s.rssMiB).filter((c): c is number => c !== undefined);
    out.push({
      target,
      rounds: mine.length,
      rps: median(rps),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      p50Ms: median(mine.map((s) => s.load.p50Ms)),
      p99Ms: median(mine.map((s) => s.load.p99Ms)),
      vsDirect: roundRatio(samples, target, 'direct'),
      vsForwarder: roundRatio(samples, target, 'forwarder'),
      vsNginx: roundRatio(samples, target, 'nginx'),
      vsHaproxy: roundRatio(samples, target, 'haproxy'),
      p99VsNginx: roundRatio(samples, target, 'nginx', (s) => s.load.p99Ms),
      rssMiB: rss.length === 0 ? undefined : median(rss),
      rssMaxMiB: rss.length === 0 ? undefined : Math.max(...rss),
      cpuUsPerReq: cpu.length === 0 ? undefined : median(cpu),
      upstreamConnections: conns.length === 0 ? undefined : median(conns),
      otherCpuPctMax: other.length === 0 ? undefined : Math.max(...other),
      errors: mine.reduce((n, s) => n + s.load.non2xx + s.load.socketErrors, 0),
    });
  }
  return out;
}
