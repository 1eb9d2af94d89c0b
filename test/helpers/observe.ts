/**
 * test/helpers/observe — read what a running Switchyard says about itself
 * (GET /api/v1/state, /metrics) in a typed form, so end-to-end tests assert on
 * the product's own view instead of reaching into its objects.
 */
import type { SwitchyardUnderTest } from './app.js';

/** ServerView — one server in GET /api/v1/state. */
export interface ServerView {
  readonly id: string;
  readonly address: string;
  readonly weight: number;
  readonly state: string;
  readonly healthy: boolean;
  readonly ejected: boolean;
  readonly usable: boolean;
  readonly inflight: number;
}

/** PoolView — one pool in GET /api/v1/state. */
export interface PoolView {
  readonly status: 'live' | 'draining' | 'idle';
  readonly weight: number;
  readonly inflight: number;
  readonly usableServers: number;
  readonly servers: readonly ServerView[];
}

/** StateView — the body of GET /api/v1/state. */
export interface StateView {
  readonly generation: number;
  readonly live: string;
  readonly previous: string | null;
  readonly weights: Record<string, number>;
  readonly maintenance: boolean;
  readonly pools: Record<string, PoolView>;
}

/** getState — GET /api/v1/state, failing loudly on a non-200. */
export async function getState(sy: SwitchyardUnderTest): Promise<StateView> {
  const res = await sy.api('GET', '/api/v1/state');
  if (res.status !== 200) throw new Error(`GET /api/v1/state → ${res.status}: ${res.body}`);
  return res.json as StateView;
}

/** serverView — one server of one pool from a state view (throws if absent). */
export function serverView(state: StateView, pool: string, id: string): ServerView {
  const s = state.pools[pool]?.servers.find((x) => x.id === id);
  if (s === undefined) throw new Error(`no server ${pool}/${id} in state`);
  return s;
}

/**
 * metric — the value of one sample in the Prometheus text of /metrics, or 0 when
 * no sample with exactly those labels exists (a counter never incremented).
 * `labels` must name every label of the sample.
 */
export async function metric(sy: SwitchyardUnderTest, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await sy.api('GET', '/metrics');
  if (res.status !== 200) throw new Error(`GET /metrics → ${res.status}`);
  return sampleValue(res.body, name, labels);
}

/** sampleValue — parse one sample out of Prometheus exposition text (0 when absent). */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = (m[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter((p) => p !== '')
      .sort((a, b) => a.localeCompare(b))
      .join(',');
    if (got === want) return Number(m[3]);
  }
  return 0;
}
