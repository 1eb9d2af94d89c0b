/**
 * bench/lib/load — one load run against one URL, by wrk when it is installed
 * (a C client: it costs the measured machine least CPU per request) else by
 * autocannon. Both run as a child process so they can be pinned to their own
 * core, and both report the same LoadResult.
 */
import { join } from 'node:path';
import { spawnChild } from './children.js';
import { readCpuSeconds } from './procstat.js';

/** LoadSpec — what to send. */
export interface LoadSpec {
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  readonly method: 'GET' | 'POST';
  /** Request body size for POST (bytes of 'x'). */
  readonly bodyBytes: number;
  /** Count every non-2xx exactly (wrk: a Lua response() hook, which slows wrk; use only where errors matter). */
  readonly exactStatus: boolean;
  /** Extra request headers, e.g. `Connection: close` for a new connection per request (wrk: `-H`). */
  readonly headers: readonly (readonly [string, string])[];
}

/** LoadResult — what came back; latencies in milliseconds. */
export interface LoadResult {
  readonly requests: number;
  readonly durationS: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Responses that were not 2xx (wrk without exactStatus: status >= 400 only). */
  readonly non2xx: number;
  /** Connect, read, write errors and timeouts. */
  readonly socketErrors: number;
  readonly bytes: number;
}

/** LoadRun — a result and the CPU the load generator itself burned (sampled every 200 ms while it ran). */
export interface LoadRun {
  readonly result: LoadResult;
  readonly clientCpuS: number | undefined;
}

/** LoadGenerator — which client runs, and where. */
export interface LoadGenerator {
  readonly kind: 'wrk' | 'autocannon';
  readonly wrkPath: string;
  readonly cpus: string | undefined;
  readonly benchDir: string;
  readonly logDir: string;
}

/**
 * runLoad — run one load and parse its result; bounded by the spec's duration
 * plus a grace period. When `stopEarly` resolves first, the client gets SIGINT
 * and reports what it measured so far (wrk does this itself; the autocannon
 * worker is written to) — for loads whose length is set by something else,
 * like the switch run's flips.
 */
export async function runLoad(gen: LoadGenerator, spec: LoadSpec, stopEarly?: Promise<void>): Promise<LoadRun> {
  const args =
    gen.kind === 'wrk'
      ? ['-t1', `-c${spec.connections}`, `-d${spec.durationS}s`, '--timeout', '10s', ...spec.headers.flatMap(([k, v]) => ['-H', `${k}: ${v}`]), '-s', join(gen.benchDir, 'lib', 'wrk-report.lua'), spec.url]
      : ['--import', 'tsx', join(gen.benchDir, 'lib', 'autocannon-worker.ts'), JSON.stringify(spec)];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WRK_METHOD: spec.method,
    WRK_BODY_BYTES: String(spec.bodyBytes),
    WRK_EXACT_STATUS: spec.exactStatus ? '1' : '0',
  };
  const child = spawnChild({
    name: gen.kind,
    command: gen.kind === 'wrk' ? gen.wrkPath : process.execPath,
    args,
    cpus: gen.cpus,
    logFile: join(gen.logDir, `${gen.kind}.log`),
    waitReady: false,
    env,
  });
  // Every load is bounded in time even if the client hangs: kill it well after its own deadline.
  const killer = setTimeout(() => void child.stop(1_000), (spec.durationS + 20) * 1000);
  // /proc/PID/stat vanishes when the child is reaped, so its CPU is sampled while it runs (the last ≤200 ms are lost).
  let clientCpuS: number | undefined;
  const sampler = setInterval(() => {
    clientCpuS = readCpuSeconds(child.pid) ?? clientCpuS;
  }, 200);
  void stopEarly?.then(() => {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGINT');
  });
  const code = await child.exited;
  clearTimeout(killer);
  clearInterval(sampler);
  const line = child.lines.find((l) => l.startsWith('LOADJSON '));
  if (line === undefined) throw new Error(`${gen.kind} exited with ${String(code)} and no result; see ${gen.logDir}/${gen.kind}.log`);
  return { result: JSON.parse(line.slice('LOADJSON '.length)) as LoadResult, clientCpuS };
}
