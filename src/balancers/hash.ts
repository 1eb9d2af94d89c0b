/**
 * balancers/hash — consistent hashing (ketama ring) for session affinity.
 *
 * The ring is built once from the pool's FULL server list, not from the
 * available ones: availability changes then only remap the keys of servers
 * that left (their arcs fall through to the next server clockwise), and those
 * keys come home when the server returns. Each server gets 160 × weight
 * points (nginx's `hash … consistent` count), placed from its id alone with MD5,
 * four points per digest as libketama does: the spread does not depend on a weak
 * hash, and the ring does not depend on the order servers are listed in.
 * Per pick the key is hashed with FNV-1a plus murmur3's finaliser: cheap, no
 * allocation, stable across processes and restarts.
 */
import { createHash } from 'node:crypto';
import type { HashKey } from '../config/types.js';
import type { Balancer, Pickable, PickContext } from './types.js';

/** POINTS_PER_WEIGHT — ring points per unit of weight (libketama's 40 digests × 4). */
export const POINTS_PER_WEIGHT = 160;

/** ConsistentHash — maps a request key to a server on a weighted ring of the full pool. */
export class ConsistentHash<T extends Pickable> implements Balancer<T> {
  readonly #hashKey: HashKey;
  /** Sorted ring positions. */
  readonly #points: Uint32Array;
  /** Server id owning the point at the same index. */
  readonly #owners: readonly string[];
  /** The candidates array `#byId` belongs to (compared by identity). */
  #list: readonly T[] | undefined = undefined;
  /** Candidates by id, so a ring owner is tested and resolved in one lookup. */
  readonly #byId = new Map<string, T>();

  constructor(servers: readonly T[], hashKey: HashKey) {
    this.#hashKey = hashKey;
    const ring = buildRing(servers);
    this.#points = ring.points;
    this.#owners = ring.owners;
  }

  pick(candidates: readonly T[], ctx: PickContext): T | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (candidates !== this.#list) {
      this.#byId.clear();
      for (const c of candidates) this.#byId.set(c.id, c);
      this.#list = candidates;
    }

    const h = keyHash(ctx, this.#hashKey);
    const points = this.#points;
    const size = points.length;
    if (size > 0) {
      let i = lowerBound(points, h);
      // Walk clockwise to the first point whose owner is available. Points of
      // one server are spread around the ring, so the walk is short unless
      // almost the whole pool is down; it is bounded by the ring size.
      for (let step = 0; step < size; step++, i++) {
        if (i === size) i = 0;
        const found = this.#byId.get(this.#owners[i] as string);
        if (found !== undefined) return found;
      }
    }
    // No candidate is on the ring (weights changed after the ring was built, or
    // a server unknown at construction): stay deterministic rather than fail.
    // TODO: the pool should rebuild this balancer when weights change, or keys
    // land here and lose the minimal-remap property.
    return candidates[h % n];
  }
}

/** hashKeyOf — the request's affinity key: the header/cookie value, else the client address ('' if none). */
export function hashKeyOf(ctx: PickContext, hashKey: HashKey): string {
  if (hashKey.kind === 'header') {
    const value = headerValue(ctx, hashKey.name);
    if (value !== undefined) return value;
  } else if (hashKey.kind === 'cookie') {
    const cookie = ctx.headers.cookie;
    if (cookie !== undefined) {
      const start = cookieValueStart(cookie, hashKey.name);
      if (start >= 0) {
        const end = cookieValueEnd(cookie, start);
        if (end > start) return cookie.slice(start, end);
      }
    }
  }
  return ctx.remoteAddress ?? '';
}

/** hashString — FNV-1a over UTF-16 code units of s[start, end), then murmur3's fmix32 for avalanche. */
export function hashString(s: string, start = 0, end = s.length): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Plain FNV-1a barely mixes the last characters into the high bits, and IPs
  // differ mostly at the end; the finaliser spreads them over the whole ring.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Same key as hashKeyOf, hashed in place: a cookie value is hashed without slicing it out. */
function keyHash(ctx: PickContext, hashKey: HashKey): number {
  if (hashKey.kind === 'header') {
    const value = headerValue(ctx, hashKey.name);
    if (value !== undefined) return hashString(value);
  } else if (hashKey.kind === 'cookie') {
    const cookie = ctx.headers.cookie;
    if (cookie !== undefined) {
      const start = cookieValueStart(cookie, hashKey.name);
      if (start >= 0) {
        const end = cookieValueEnd(cookie, start);
        if (end > start) return hashString(cookie, start, end);
      }
    }
  }
  return hashString(ctx.remoteAddress ?? '');
}

/** A non-empty header value; the first one when the header was repeated. */
function headerValue(ctx: PickContext, name: string): string | undefined {
  const raw = ctx.headers[name];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Index just after `name=` in a Cookie header (RFC 6265 §5.4: pairs separated
 * by "; "; Node joins repeated Cookie headers with "; " too), or -1. Names are
 * case-sensitive and must match a whole name: "sid" does not match "xsid=".
 */
function cookieValueStart(cookie: string, name: string): number {
  const len = cookie.length;
  let i = 0;
  while (i < len) {
    // Skip the separator and optional whitespace before a pair.
    let c = cookie.charCodeAt(i);
    while (c === 0x20 || c === 0x09 || c === 0x3b) {
      if (++i >= len) return -1;
      c = cookie.charCodeAt(i);
    }
    if (cookie.startsWith(name, i) && cookie.charCodeAt(i + name.length) === 0x3d) {
      return i + name.length + 1;
    }
    const semi = cookie.indexOf(';', i);
    if (semi < 0) return -1;
    i = semi + 1;
  }
  return -1;
}

/** End of the cookie value starting at `start`: the next ';' with trailing whitespace dropped. */
function cookieValueEnd(cookie: string, start: number): number {
  const semi = cookie.indexOf(';', start);
  let end = semi < 0 ? cookie.length : semi;
  while (end > start) {
    const c = cookie.charCodeAt(end - 1);
    if (c !== 0x20 && c !== 0x09) break;
    end--;
  }
  return end;
}

/** First index whose point is ≥ h (== points.length when h is past the last point). */
function lowerBound(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] as number) < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface Ring {
  readonly points: Uint32Array;
  readonly owners: readonly string[];
}

/** Ketama placement: point k of server s comes from MD5(`${id}-${k >> 2}`), 4 bytes per point. */
function buildRing(servers: readonly Pickable[]): Ring {
  const entries: { point: number; owner: string }[] = [];
  for (const server of servers) {
    // Weight 0 (or a bad weight) means no points: the server is never a hash target.
    const count = server.weight > 0 ? Math.round(POINTS_PER_WEIGHT * server.weight) : 0;
    for (let group = 0; group * 4 < count; group++) {
      const digest = createHash('md5').update(`${server.id}-${group}`).digest();
      for (let k = 0; k < 4 && group * 4 + k < count; k++) {
        entries.push({ point: digest.readUInt32LE(k * 4), owner: server.id });
      }
    }
  }
  // Ties between servers (a 32-bit collision) are ordered by id so the ring does
  // not depend on the order servers are listed in.
  entries.sort((a, b) => a.point - b.point || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
  const points = new Uint32Array(entries.length);
  const owners: string[] = new Array<string>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as { point: number; owner: string };
    points[i] = e.point;
    owners[i] = e.owner;
  }
  return { points, owners };
}
