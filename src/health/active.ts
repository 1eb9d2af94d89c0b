/**
 * health/active — one probe loop per server with active checks enabled.
 *
 * Each loop probes at once (so boot does not wait a full interval to find a dead
 * server), then every health.intervalMs ±10% (jitter keeps servers that booted
 * together from being probed in lock-step forever), and feeds every verdict to a
 * rise/fall state machine. Side effects — setHealthy, the info log, the
 * diagnostics_channel event — happen only on a transition. Each loop has its own
 * AbortController (one shared signal would collect an abort listener per server
 * and trip Node's MaxListenersExceededWarning past ten servers), and stop()
 * aborts them all, cancelling in-flight probes and pending timers alike.
 */
import { publishHealthFlip } from './events.js';
import { probeHttp } from './probe-http.js';
import type { Probe, ProbeResult } from './probe-http.js';
import { HealthStateMachine } from './state.js';
import type { HealthStatus } from './state.js';
import type { HealthTarget } from './types.js';

/** HealthLogger — the part of a pino logger the checker uses, `(obj, msg)` order. */
export interface HealthLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  isLevelEnabled?(level: string): boolean;
}

/** ActiveHealthCheckerOptions — logger (a pino child with component 'health') and the probe to use. */
export interface ActiveHealthCheckerOptions {
  readonly logger?: HealthLogger;
  /** Injectable so tests can count or script probes; defaults to probeHttp. */
  readonly probe?: Probe;
}

interface Entry {
  readonly target: HealthTarget;
  readonly machine: HealthStateMachine;
}

const silentLogger: HealthLogger = { info() {}, warn() {}, debug() {} };

/** ±10% around the interval. */
function jittered(intervalMs: number): number {
  return intervalMs * (0.9 + Math.random() * 0.2);
}

/** Resolves (never rejects) after ms or on abort; unref'd so checks alone never hold the process open. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    timer.unref();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** ActiveHealthChecker — runs the probe loops and reports flips through HealthTarget.setHealthy. */
export class ActiveHealthChecker {
  readonly #entries: readonly Entry[];
  readonly #byPool = new Map<string, Map<string, Entry>>();
  readonly #logger: HealthLogger;
  readonly #probe: Probe;
  /** One per running loop; undefined while stopped. */
  #controllers: AbortController[] | undefined;
  #loops: Promise<void>[] = [];
  #stopping: Promise<void> | undefined;
  #unprobed: number;
  readonly #ready: Promise<void>;
  #resolveReady: () => void = () => {};

  constructor(targets: readonly HealthTarget[], options: ActiveHealthCheckerOptions = {}) {
    this.#logger = options.logger ?? silentLogger;
    this.#probe = options.probe ?? probeHttp;
    const entries: Entry[] = [];
    for (const target of targets) {
      if (!target.health.enabled) continue;
      const entry: Entry = { target, machine: new HealthStateMachine(target.health.rise, target.health.fall) };
      entries.push(entry);
      let pool = this.#byPool.get(target.pool);
      if (pool === undefined) {
        pool = new Map();
        this.#byPool.set(target.pool, pool);
      }
      // Ids are unique per pool (config validation); a duplicate would only shadow status().
      pool.set(target.id, entry);
    }
    this.#entries = entries;
    this.#unprobed = entries.length;
    this.#ready = new Promise<void>((resolve) => {
      this.#resolveReady = resolve;
    });
    if (this.#unprobed === 0) this.#resolveReady();
  }

  /** start — begins one loop per enabled target; a no-op while already running. */
  start(): void {
    if (this.#controllers !== undefined) return;
    const controllers: AbortController[] = [];
    this.#controllers = controllers;
    this.#stopping = undefined;
    this.#loops = this.#entries.map((entry) => {
      const controller = new AbortController();
      controllers.push(controller);
      return this.#run(entry, controller.signal);
    });
  }

  /** stop — aborts in-flight probes and timers; resolves once every loop has ended. */
  stop(): Promise<void> {
    const controllers = this.#controllers;
    if (controllers === undefined) return this.#stopping ?? Promise.resolve();
    this.#controllers = undefined;
    for (const controller of controllers) controller.abort();
    const loops = this.#loops;
    this.#loops = [];
    // Loops do not reject (probe and setHealthy errors are caught, sleep never rejects),
    // so Promise.all waits for every loop rather than short-circuiting.
    this.#stopping = Promise.all(loops).then(() => {
      // Nothing will probe any more: release ready() waiters rather than leave them hanging.
      this.#resolveReady();
    });
    return this.#stopping;
  }

  /** status — the state machine's view of one server; 'unknown' before its first probe or when it is not actively checked. */
  status(pool: string, id: string): HealthStatus {
    return this.#byPool.get(pool)?.get(id)?.machine.status ?? 'unknown';
  }

  /** isReady — true once every enabled target has had its first probe (the synchronous form for /readyz). */
  get isReady(): boolean {
    return this.#unprobed === 0;
  }

  /** ready — resolves once every enabled target has had its first probe (or the checker stopped). */
  ready(): Promise<void> {
    return this.#ready;
  }

  async #run(entry: Entry, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const result = await this.#probeSafely(entry.target, signal);
      // A probe cut short by stop() says nothing about the server.
      if (signal.aborted) return;
      this.#record(entry, result);
      await sleep(jittered(entry.target.health.intervalMs), signal);
    }
  }

  async #probeSafely(target: HealthTarget, signal: AbortSignal): Promise<ProbeResult> {
    try {
      return await this.#probe(target, signal);
    } catch (err) {
      // The Probe contract says never reject; if one does anyway it is a failed
      // observation, not a dead loop.
      this.#logger.warn({ pool: target.pool, server: target.id, err }, 'health probe threw; counted as a failure');
      return { ok: false, reason: `probe error: ${err instanceof Error ? err.message : String(err)}`, durationMs: 0 };
    }
  }

  #record(entry: Entry, result: ProbeResult): void {
    const { target, machine } = entry;
    const first = machine.status === 'unknown';
    const flipped = machine.observe(result.ok);

    if (first) {
      this.#unprobed -= 1;
      if (this.#unprobed === 0) this.#resolveReady();
    }

    // unknown → up is not a flip of `healthy`, but it is the first verdict, which
    // HealthTarget.setHealthy promises to deliver (the server can then show 'up'
    // rather than 'unknown').
    if (!flipped && !first) {
      if (!result.ok && (this.#logger.isLevelEnabled?.('debug') ?? true)) {
        this.#logger.debug(
          { pool: target.pool, server: target.id, reason: result.reason, statusCode: result.statusCode, status: machine.status },
          'health probe failed',
        );
      }
      return;
    }

    const healthy = machine.healthy;
    const threshold = result.ok ? target.health.rise : target.health.fall;
    const reason = first
      ? `first probe: ${result.reason}`
      : `${result.reason} (${threshold} consecutive ${result.ok ? 'successes' : 'failures'})`;

    this.#logger.info(
      {
        pool: target.pool,
        server: target.id,
        status: machine.status,
        reason,
        statusCode: result.statusCode,
        durationMs: Math.round(result.durationMs),
      },
      healthy ? 'server is up' : 'server is down',
    );
    try {
      target.setHealthy(healthy, reason);
    } catch (err) {
      // A throwing StatusSetter must not end the loop; the state machine already moved.
      this.#logger.warn({ pool: target.pool, server: target.id, err }, 'setHealthy threw');
    }
    // After setHealthy, so a subscriber reading the server sees the new state.
    publishHealthFlip({ pool: target.pool, id: target.id, healthy, status: healthy ? 'up' : 'down', source: 'active', reason });
  }
}
