/**
 * metrics/collected — a metric whose values are computed at scrape time from
 * plain counters the hot path keeps (pools/stats.ts). It implements the
 * collector shape prom-client's Registry reads (`name`, `help`, `type`,
 * `aggregator`, `get()`), so it renders, lints and aggregates like any
 * prom-client metric without a prom-client call per request.
 */
import type { Registry } from 'prom-client';
import { STATUS_CLASSES, type HotHistogram } from '../pools/stats.js';

/** MetricValue — one sample line: optional suffixed name, labels, value. */
export interface MetricValue {
  readonly metricName?: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

/** CollectedMetric — a registry entry whose samples come from `collect()` at scrape time. */
export class CollectedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum' as const;
  readonly #collect: () => MetricValue[];

  constructor(registry: Registry, name: string, help: string, type: 'counter' | 'histogram', collect: () => MetricValue[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#collect = collect;
    // Registry#registerMetric only needs this shape; the cast names the prom-client type it stands in for.
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.#collect() };
  }

  /** reset — nothing to reset: the cells belong to the pools (Registry#resetMetrics calls this). */
  reset(): void {}
}

/** statusClassValues — samples of one cell array, labelled by status class. */
export function statusClassValues(labels: Record<string, string>, cells: Float64Array, out: MetricValue[]): void {
  for (let i = 0; i < STATUS_CLASSES.length; i++) {
    const v = cells[i]!;
    if (v > 0) out.push({ labels: { ...labels, code_class: STATUS_CLASSES[i]! }, value: v });
  }
}

/** histogramValues — cumulative `_bucket` samples (with le), `_sum` and `_count`. */
export function histogramValues(name: string, labels: Record<string, string>, h: HotHistogram, out: MetricValue[]): void {
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: h.bounds[i]! }, value: cumulative });
  }
  cumulative += h.counts[h.bounds.length]!;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
}
