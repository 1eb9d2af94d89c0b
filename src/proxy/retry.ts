/**
 * proxy/retry — when a failed attempt may go to another server of the same
 * pool. Only when it cannot duplicate a side effect:
 *  - the connection failed before any request byte was written (refused,
 *    unreachable, connect timeout) — safe for every method, since undici had not
 *    read the request body yet; or
 *  - the method is idempotent, the request has no body, and the connection was
 *    reset (a keep-alive socket the server had closed, say).
 * Never once response headers went downstream, never after a client abort,
 * and never beyond the configured attempts. A POST whose body may have reached
 * a server is therefore never sent twice.
 */
import type { ErrorCode } from '../errors.js';

/** AttemptFacts — what the retry decision looks at. */
export interface AttemptFacts {
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly requestSent: boolean;
  readonly responseStarted: boolean;
  readonly clientGone: boolean;
  readonly idempotent: boolean;
  readonly bodyless: boolean;
}

/** shouldRetry — true when another attempt is safe and allowed. */
export function shouldRetry(code: ErrorCode, f: AttemptFacts): boolean {
  if (f.attempts >= f.maxAttempts || f.responseStarted || f.clientGone) return false;
  const connectFailure = code === 'SY_ERR_UPSTREAM_CONNECT' || code === 'SY_ERR_UPSTREAM_CONNECT_TIMEOUT';
  if (connectFailure && !f.requestSent) return true;
  return f.idempotent && f.bodyless && (connectFailure || code === 'SY_ERR_UPSTREAM_RESET');
}
