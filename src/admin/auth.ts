/**
 * admin/auth — bearer-token check in constant time. Both sides are hashed
 * first so the comparison never leaks the token's length either.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** TokenChecker — compares `Authorization: Bearer <token>` headers against the configured token. */
export class TokenChecker {
  readonly #expected: Buffer | undefined;

  /** With no token configured (loopback-only admin), every request is allowed. */
  constructor(token: string | undefined) {
    this.#expected = token === undefined ? undefined : digest(token);
  }

  get required(): boolean {
    return this.#expected !== undefined;
  }

  /** allows — true when the header carries the right token (or none is required). */
  allows(authorization: string | undefined): boolean {
    if (this.#expected === undefined) return true;
    if (authorization === undefined) return false;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (m === null) return false;
    return timingSafeEqual(digest(m[1] as string), this.#expected);
  }
}
