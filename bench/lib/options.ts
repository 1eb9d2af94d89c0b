/**
 * bench/lib/options — flags, each also settable by environment (BENCH_*) so CI
 * or a wrapper script can configure a run without editing argv. Flags win over
 * the environment; `--quick` wins over both for rounds and duration.
 */
import { parseArgs } from 'node:util';

/** Scenario — one request shape measured against every target. */
export type Scenario = 'get' | '1m' | 'post';

/** SCENARIOS — request shapes; `get` is the default because per-request overhead shows most on small bodies. */
export const SCENARIOS: Readonly<Record<Scenario, { readonly label: string; readonly path: string; readonly method: 'GET' | 'POST'; readonly bodyBytes: number }>> = {
  get: { label: 'small GET (100-byte body)', path: '/', method: 'GET', bodyBytes: 0 },
  '1m': { label: 'GET 1 MiB body', path: '/1m', method: 'GET', bodyBytes: 0 },
  post: { label: 'POST 16 KiB body, 100-byte answer', path: '/upload', method: 'POST', bodyBytes: 16 * 1024 },
};

/** TARGETS — every target the bench knows, in report order. */
export const TARGETS = ['direct', 'forwarder', 'switchyard', 'http-proxy', 'fastify-http-proxy'] as const;
/** TargetId — what the load generator talks to. */
export type TargetId = (typeof TARGETS)[number];

/** BenchOptions — one run's settings. */
export interface BenchOptions {
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
  readonly switches: number;
  readonly switchSpacingMs: number;
  readonly scenarios: readonly Scenario[];
  /** Targets to measure (Switchyard is always started: the switch run needs it). */
  readonly targets: readonly TargetId[];
  readonly peers: boolean;
  readonly pin: boolean;
  readonly loadgen: 'auto' | 'wrk' | 'autocannon';
  readonly build: 'auto' | 'always' | 'never';
  readonly quick: boolean;
}

/** USAGE — printed for --help and on a bad flag. */
export const USAGE = `usage: npm run bench -- [options]
  --rounds N          interleaved rounds per scenario (BENCH_ROUNDS, default 3)
  --duration S        seconds per measured load (BENCH_DURATION, default 5)
  --warmup S          seconds of unmeasured load per target first (BENCH_WARMUP, default 2)
  --connections C     keep-alive connections (BENCH_CONNECTIONS, default 64)
  --switches K        flips in the switch-under-load run, 0 to skip (BENCH_SWITCHES, default 50)
  --spacing MS        pause between flips (BENCH_SWITCH_SPACING_MS, default 50)
  --scenarios LIST    comma list of get,1m,post (BENCH_SCENARIOS, default get)
  --targets LIST      comma list of ${TARGETS.join(',')} (BENCH_TARGETS, default all)
  --quick             smoke check: 1 round of 3 s, 1 s warm-up
  --no-peers          skip http-proxy and @fastify/http-proxy even when installed
  --no-pin            do not use taskset even when available
  --loadgen KIND      auto | wrk | autocannon (BENCH_LOADGEN, default auto: wrk if installed)
  --build / --no-build  always rebuild dist/ / never (default: when dist/ is older than src/)`;

function int(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** parseOptions — argv (without node and script) plus environment → options; throws on bad input. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      switches: { type: 'string' },
      spacing: { type: 'string' },
      scenarios: { type: 'string' },
      targets: { type: 'string' },
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
  const scenarioList = (values.scenarios ?? env.BENCH_SCENARIOS ?? 'get').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of scenarioList) {
    if (!(s in SCENARIOS)) throw new Error(`unknown scenario "${s}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
  }
  const targetList = (values.targets ?? env.BENCH_TARGETS ?? TARGETS.join(',')).split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const t of targetList) {
    if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`unknown target "${t}" (known: ${TARGETS.join(', ')})`);
  }
  const loadgen = values.loadgen ?? env.BENCH_LOADGEN ?? 'auto';
  if (loadgen !== 'auto' && loadgen !== 'wrk' && loadgen !== 'autocannon') throw new Error(`--loadgen must be auto, wrk or autocannon, got "${loadgen}"`);
  return {
    rounds: quick ? 1 : int(values.rounds, '--rounds', 1) ?? int(env.BENCH_ROUNDS, 'BENCH_ROUNDS', 1) ?? 3,
    durationS: quick ? 3 : int(values.duration, '--duration', 1) ?? int(env.BENCH_DURATION, 'BENCH_DURATION', 1) ?? 5,
    warmupS: quick ? 1 : int(values.warmup, '--warmup', 0) ?? int(env.BENCH_WARMUP, 'BENCH_WARMUP', 0) ?? 2,
    connections: int(values.connections, '--connections', 1) ?? int(env.BENCH_CONNECTIONS, 'BENCH_CONNECTIONS', 1) ?? 64,
    switches: int(values.switches, '--switches', 0) ?? int(env.BENCH_SWITCHES, 'BENCH_SWITCHES', 0) ?? 50,
    switchSpacingMs: int(values.spacing, '--spacing', 0) ?? int(env.BENCH_SWITCH_SPACING_MS, 'BENCH_SWITCH_SPACING_MS', 0) ?? 50,
    scenarios: scenarioList as Scenario[],
    targets: TARGETS.filter((t) => targetList.includes(t)),
    peers: values['no-peers'] !== true,
    pin: values['no-pin'] !== true,
    loadgen,
    build: values['no-build'] === true ? 'never' : values.build === true ? 'always' : 'auto',
    quick,
  };
}
