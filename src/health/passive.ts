/**
 * health/passive — outlier ejection from real traffic, one ejector per server.
 *
 * N consecutive proxied failures eject the server for a while; repeated
 * ejections back off exponentially so a flapping server spends more and more
 * time out of rotation, and good behaviour earns the back-off back (after
 * Envoy's outlier detection: base_ejection_time × multiplier, capped at
 * max_ejection_time, multiplier decremented while the host stays healthy —
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier).
 *
 * Back-off rule: ejection k of a streak lasts min(base × 2^(k-1), max). The
 * level k drops by one for every full baseEjectionMs the server spends admitted
 * without being ejected, computed lazily at the next ejection (no decay timer).
 * The level stops growing once the cap is reached, so a long flapping streak
 * does not need an equally long clean run to decay.
 */
import type { PassiveConfig } from '../config/types.js';

/** PassiveEjector — counts consecutive failures of one server and ejects it with exponential back-off. */
export class PassiveEjector {
  readonly #threshold: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  /** First level whose duration reaches maxEjectionMs; the level never goes above it. */
  readonly #maxLevel: number;
  readonly #onChange: (ejected: boolean, reason: string) => void;
  readonly #now: () => number;

  #failures = 0;
  /** Back-off level of the latest ejection (before decay). */
  #level = 0;
  /** When the server was last admitted (construction or re-admission), on the #now clock. */
  #admittedAt: number;
  #ejected = false;
  #ejectedUntil = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    config: PassiveConfig,
    onChange: (ejected: boolean, reason: string) => void,
    now: () => number = Date.now,
  ) {
    this.#threshold = config.consecutiveFailures;
    this.#baseMs = Math.max(0, config.baseEjectionMs);
    this.#maxMs = Math.max(0, config.maxEjectionMs);
    this.#onChange = onChange;
    this.#now = now;
    this.#admittedAt = now();
    let level = 1;
    // Bounded at 64 so an infinite max (or a zero base) cannot loop forever.
    while (level < 64 && this.#baseMs > 0 && this.#baseMs * 2 ** (level - 1) < this.#maxMs) level += 1;
    this.#maxLevel = level;
  }

  /** ejected — true from the ejection until the re-admission timer fires. */
  get ejected(): boolean {
    return this.#ejected;
  }

  /** ejectedUntil — when the current ejection ends, on the injected clock; 0 while admitted. */
  get ejectedUntil(): number {
    return this.#ejectedUntil;
  }

  /** ejections — the current back-off level (ejections in this streak after decay), not a lifetime total. */
  get ejections(): number {
    return this.#decayedLevel(this.#now());
  }

  /** recordSuccess — hot path (every proxied response): one field write, no allocation. */
  recordSuccess(): void {
    this.#failures = 0;
  }

  /**
   * recordFailure — counts a failure; the Nth consecutive one ejects the server.
   * Failures while ejected are ignored: they come from requests that started
   * before the ejection and say nothing new.
   */
  recordFailure(reason: string): void {
    if (this.#threshold <= 0 || this.#ejected || this.#closed) return;
    this.#failures += 1;
    if (this.#failures >= this.#threshold) this.#eject(reason);
  }

  /** close — clears the re-admission timer; no onChange call happens afterwards. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #decayedLevel(now: number): number {
    if (this.#ejected || this.#level === 0) return this.#level;
    const periods = this.#baseMs > 0 ? Math.floor((now - this.#admittedAt) / this.#baseMs) : Infinity;
    return Math.max(0, this.#level - periods);
  }

  #eject(reason: string): void {
    const now = this.#now();
    const level = Math.min(this.#decayedLevel(now) + 1, this.#maxLevel);
    const durationMs = Math.min(this.#baseMs * 2 ** (level - 1), this.#maxMs);
    this.#level = level;
    this.#failures = 0;
    this.#ejected = true;
    this.#ejectedUntil = now + durationMs;
    // Unref'd: a pending re-admission must not keep a stopping process alive.
    this.#timer = setTimeout(() => this.#readmit(durationMs), durationMs);
    this.#timer.unref();
    // State is fully updated before the callback, so a throwing or re-entrant
    // onChange sees a consistent ejector.
    this.#onChange(true, reason);
  }

  #readmit(durationMs: number): void {
    this.#timer = undefined;
    this.#ejected = false;
    this.#ejectedUntil = 0;
    this.#failures = 0;
    this.#admittedAt = this.#now();
    this.#onChange(false, `re-admitted after ${durationMs}ms`);
  }
}
