/**
 * bench/lib/options — flags, each also settable by environment (BENCH_*) so CI
 * or a wrapper script can configure a run without editing argv. Flags win over
 * the environment; `--quick` wins over both for rounds, duration and warm-up.
 */
import { parseArgs } from 'node:util';

/** Scenario — one request shape measured against every target. */
export type Scenario = 'get' | 'get256' | '1m' | 'post' | 'close';

/** ScenarioSpec — what the load generator sends in one scenario. */
export interface ScenarioSpec {
  readonly label: string;
  readonly path: string;
  readonly method: 'GET' | 'POST';
  readonly bodyBytes: number;
  /** Connections: a number, or 'base' for `--connections` (default 64). */
  readonly connections: number | 'base';
  /** Extra request headers (name, value). */
  readonly headers: readonly (readonly [string, string])[];
}

const MIB = 1024 * 1024;

/**
 * SCENARIOS — issue 4 §1's request shapes, in run order. Small GETs first and
 * twice (64 and 256 connections) because per-request overhead shows most on
 * small bodies and the targets are set there; `close` sends
 * `Connection: close` so every request pays a TCP handshake and teardown.
 */
export const SCENARIOS: Readonly<Record<Scenario, ScenarioSpec>> = {
  get: { label: 'small GET, keep-alive (100-byte body)', path: '/', method: 'GET', bodyBytes: 0, connections: 'base', headers: [] },
  get256: { label: 'small GET, keep-alive (100-byte body)', path: '/', method: 'GET', bodyBytes: 0, connections: 256, headers: [] },
  '1m': { label: 'GET 1 MiB response', path: '/1m', method: 'GET', bodyBytes: 0, connections: 'base', headers: [] },
  post: { label: 'POST 1 MiB body, 100-byte answer', path: '/upload', method: 'POST', bodyBytes: MIB, connections: 'base', headers: [] },
  close: { label: 'small GET, new connection per request (Connection: close)', path: '/', method: 'GET', bodyBytes: 0, connections: 'base', headers: [['Connection', 'close']] },
};
const SCENARIO_IDS = Object.keys(SCENARIOS) as Scenario[];

/** TARGETS — every target the bench knows, in report order. */
export const TARGETS = ['direct', 'forwarder', 'switchyard', 'nginx', 'haproxy', 'http-proxy', 'fastify-http-proxy'] as const;
/** TargetId — what the load generator talks to. */
export type TargetId = (typeof TARGETS)[number];
/** PEER_IDS — targets that are optional (skipped when not installed, or with --no-peers). */
export const PEER_IDS: readonly TargetId[] = ['nginx', 'haproxy', 'http-proxy', 'fastify-http-proxy'];

/** BenchOptions — one run's settings. */
export interface BenchOptions {
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  /** Connections of the scenarios marked 'base'. */
  readonly connections: number;
  readonly switches: number;
  readonly switchSpacingMs: number;
  /** Connections during the switch run: the highest load of the selected scenarios unless set. */
  readonly switchConnections: number;
  readonly scenarios: readonly Scenario[];
  /** Targets to measure (Switchyard is always started: the switch run needs it). */
  readonly targets: readonly TargetId[];
  readonly peers: boolean;
  readonly pin: boolean;
  readonly loadgen: 'auto' | 'wrk' | 'autocannon';
  readonly upstream: 'auto' | 'node' | 'nginx';
  readonly build: 'auto' | 'always' | 'never';
  /** Seconds the whole run may take; rounds after the first that would overrun it are skipped (and reported). */
  readonly budgetS: number;
  readonly quick: boolean;
  readonly compare: boolean;
}

/** USAGE — printed for --help and on a bad flag. */
export const USAGE = `usage: npm run bench -- [options]
  --compare           the all-peers comparison: every target, every scenario (the default;
                      the flag ignores BENCH_TARGETS and refuses --targets / --no-peers)
  --rounds N          interleaved rounds per scenario (BENCH_ROUNDS, default 3)
  --duration S        seconds per measured load (BENCH_DURATION, default 2)
  --warmup S          seconds of unmeasured load per target before the first scenario (BENCH_WARMUP, default 2)
  --connections C     connections of the 64-connection scenarios (BENCH_CONNECTIONS, default 64; get256 stays 256)
  --scenarios LIST    comma list of ${SCENARIO_IDS.join(',')} (BENCH_SCENARIOS, default all)
  --targets LIST      comma list of ${TARGETS.join(',')} (BENCH_TARGETS, default all)
  --switches K        flips in the switch-under-load run, 0 to skip (BENCH_SWITCHES, default 100)
  --spacing MS        pause between flips (BENCH_SWITCH_SPACING_MS, default 25)
  --switch-connections C  load during the switch run (default: the highest of the selected scenarios)
  --upstream KIND     auto | node | nginx: what serves blue and green (BENCH_UPSTREAM, default auto: nginx if installed)
  --budget S          time budget of the whole run in seconds (BENCH_BUDGET, default 290)
  --quick             smoke check: 1 round of 1 s, 1 s warm-up, 20 switches unless --switches
  --no-peers          skip nginx, HAProxy, http-proxy and @fastify/http-proxy even when installed
                      (BENCH_NGINX / BENCH_HAPROXY: another binary, or "none" to run as if not installed)
  --no-pin            do not use taskset even when available
  --loadgen KIND      auto | wrk | autocannon (BENCH_LOADGEN, default auto: wrk if installed)
  --build / --no-build  always rebuild dist/ / never (default: when dist/ is older than src/)`;

function int(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

function list<T extends string>(raw: string, known: readonly T[], what: string): T[] {
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of items) {
    if (!(known as readonly string[]).includes(s)) throw new Error(`unknown ${what} "${s}" (known: ${known.join(', ')})`);
  }
  return known.filter((k) => items.includes(k));
}

function oneOf<T extends string>(value: string, allowed: readonly T[], name: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

/** scenarioConnections — the connections a scenario runs with under these options. */
export function scenarioConnections(o: Pick<BenchOptions, 'connections'>, s: Scenario): number {
  const c = SCENARIOS[s].connections;
  return c === 'base' ? o.connections : c;
}

/** parseOptions — argv (without node and script) plus environment → options; throws on bad input. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      compare: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      switches: { type: 'string' },
      spacing: { type: 'string' },
      'switch-connections': { type: 'string' },
      scenarios: { type: 'string' },
      targets: { type: 'string' },
      upstream: { type: 'string' },
      budget: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-peers': { type: 'boolean', default: false },
      'no-pin': { type: 'boolean', default: false },
      loadgen: { type: 'string' },
      build: { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) throw new Error(USAGE);
  const quick = values.quick === true;
  const compare = values.compare === true;
  if (compare && (values.targets !== undefined || values['no-peers'] === true)) throw new Error('--compare measures every target: drop --targets / --no-peers');
  const scenarios = list(values.scenarios ?? (compare ? undefined : env.BENCH_SCENARIOS) ?? SCENARIO_IDS.join(','), SCENARIO_IDS, 'scenario');
  const targets = list(compare ? TARGETS.join(',') : (values.targets ?? env.BENCH_TARGETS ?? TARGETS.join(',')), TARGETS, 'target');
  const connections = int(values.connections, '--connections', 1) ?? int(env.BENCH_CONNECTIONS, 'BENCH_CONNECTIONS', 1) ?? 64;
  const highest = Math.max(0, ...scenarios.map((s) => scenarioConnections({ connections }, s)));
  return {
    rounds: quick ? 1 : (int(values.rounds, '--rounds', 1) ?? int(env.BENCH_ROUNDS, 'BENCH_ROUNDS', 1) ?? 3),
    durationS: quick ? 1 : (int(values.duration, '--duration', 1) ?? int(env.BENCH_DURATION, 'BENCH_DURATION', 1) ?? 2),
    warmupS: quick ? 1 : (int(values.warmup, '--warmup', 0) ?? int(env.BENCH_WARMUP, 'BENCH_WARMUP', 0) ?? 2),
    connections,
    switches: int(values.switches, '--switches', 0) ?? int(env.BENCH_SWITCHES, 'BENCH_SWITCHES', 0) ?? (quick ? 20 : 100),
    switchSpacingMs: int(values.spacing, '--spacing', 0) ?? int(env.BENCH_SWITCH_SPACING_MS, 'BENCH_SWITCH_SPACING_MS', 0) ?? 25,
    switchConnections: int(values['switch-connections'], '--switch-connections', 1) ?? (highest > 0 ? highest : connections),
    scenarios,
    targets,
    peers: values['no-peers'] !== true,
    pin: values['no-pin'] !== true,
    loadgen: oneOf(values.loadgen ?? env.BENCH_LOADGEN ?? 'auto', ['auto', 'wrk', 'autocannon'], '--loadgen'),
    upstream: oneOf(values.upstream ?? env.BENCH_UPSTREAM ?? 'auto', ['auto', 'node', 'nginx'], '--upstream'),
    build: values['no-build'] === true ? 'never' : values.build === true ? 'always' : 'auto',
    budgetS: int(values.budget, '--budget', 10) ?? int(env.BENCH_BUDGET, 'BENCH_BUDGET', 10) ?? 290,
    quick,
    compare,
  };
}
