/**
 * test/helpers/wait — synchronisation for tests without sleeps: poll a
 * condition until a deadline, or wait for an event.
 */
import { setTimeout as delay } from 'node:timers/promises';

/** once — node:events' once, re-exported so tests import their waiting tools from one place. */
export { once } from 'node:events';

/** WaitOptions — how long and how often waitFor polls, and what its timeout error says. */
export interface WaitOptions {
  /** Deadline in ms (default 5000). */
  readonly timeoutMs?: number;
  /** Pause between polls in ms (default 10). */
  readonly intervalMs?: number;
  /** What was being waited for, for the timeout error. */
  readonly message?: string;
}

/** waitFor — polls `fn` until it returns a truthy value (returned) or the deadline passes (throws, naming the wait and fn's last error). */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let last: T | undefined;
  for (;;) {
    try {
      last = await fn();
      lastError = undefined;
      if (last) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await delay(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  const what = opts.message ?? 'condition';
  const why =
    lastError !== undefined
      ? `; last attempt threw: ${lastError instanceof Error ? lastError.message : String(lastError)}`
      : `; last value: ${String(last)}`;
  throw new Error(`waitFor: timed out after ${timeoutMs} ms waiting for ${what}${why}`, { cause: lastError });
}
