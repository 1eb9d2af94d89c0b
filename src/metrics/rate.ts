/**
 * metrics/rate — the recent request rate, for the capacity warning. The hot
 * path only increments a plain number (`count++`); a 5 s unref'd sampler keeps
 * a short window of samples, and `perSecond()` compares now with the oldest
 * sample (so the rate covers roughly the last 5–30 s).
 */

const SAMPLE_MS = 5_000;
const WINDOW = 6;

/** RequestRate — a cheap counter with a windowed per-second rate. */
export class RequestRate {
  /** Incremented once per proxied request by the listeners. */
  count = 0;
  readonly #samples: { t: number; n: number }[] = [];
  readonly #timer: NodeJS.Timeout;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#samples.push({ t: now(), n: 0 });
    this.#timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.#timer.unref();
  }

  /** sample — record the counter now (the timer calls it; tests may too). */
  sample(): void {
    this.#samples.push({ t: this.#now(), n: this.count });
    if (this.#samples.length > WINDOW) this.#samples.shift();
  }

  /** perSecond — requests per second since the oldest sample in the window (0 when too recent). */
  perSecond(): number {
    const oldest = this.#samples[0]!;
    const seconds = (this.#now() - oldest.t) / 1000;
    return seconds < 1 ? 0 : (this.count - oldest.n) / seconds;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
