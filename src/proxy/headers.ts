/**
 * proxy/headers — pure functions building the header lists sent upstream and
 * downstream. Hop-by-hop headers are removed per RFC 9110 §7.6.1 (Connection,
 * Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade, and every
 * header the Connection header names). Lists are flat `[name, value, …]`
 * arrays, the form undici and `writeHead` both accept without conversion.
 *
 * Hot path: every header name is first screened by its length (a table
 * lookup) and only lower-cased when its length matches a name we act on, so a
 * typical request lower-cases a handful of names instead of all of them.
 */

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
  'trailer',
  // Node answered any `Expect: 100-continue` itself; undici refuses to send it.
  'expect',
  'http2-settings',
]);

const FORWARDED = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'host'] as const;

/** lengthTable — a lookup of which name lengths are worth lower-casing. */
function lengthTable(names: Iterable<string>): Uint8Array {
  const table = new Uint8Array(64);
  for (const n of names) table[n.length] = 1;
  return table;
}

const HOP_LENGTHS = lengthTable(HOP_BY_HOP);
const UPSTREAM_LENGTHS = lengthTable([...HOP_BY_HOP, ...FORWARDED]);

/** ForwardContext — what the upstream headers depend on besides the client's. */
export interface ForwardContext {
  readonly clientIp: string;
  readonly proto: 'http' | 'https';
  /** Lowercase header naming the pool ('' = none). */
  readonly poolHeader: string;
  readonly pool: string;
  /** Keep incoming X-Forwarded-Proto/-Host (a trusted proxy sits in front). */
  readonly trustForwarded: boolean;
}

/** addConnectionTokens — add the lowercase header names a Connection value lists (except close/keep-alive). */
function addConnectionTokens(value: string, into: Set<string> | undefined): Set<string> | undefined {
  // Nearly every Connection header is exactly one of these two, naming no header: no split, no Set.
  const len = value.length;
  if (len === 10 || len === 5) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return into;
  }
  for (const t of value.split(',')) {
    const v = t.trim().toLowerCase();
    if (v !== '' && v !== 'close' && v !== 'keep-alive') (into ??= new Set()).add(v);
  }
  return into;
}

/**
 * upstreamHeaders — the request headers for the upstream: the client's minus
 * hop-by-hop, with X-Forwarded-For appended, X-Forwarded-Proto/-Host set, Host
 * kept, and the pool header (any client-sent copy is dropped: it must not be
 * spoofable).
 */
export function upstreamHeaders(raw: readonly string[], ctx: ForwardContext): string[] {
  const poolHeader = ctx.poolHeader;
  const poolLen = poolHeader.length;
  const out: string[] = [];
  let named: Set<string> | undefined;
  let xff: string | undefined;
  let host: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const len = name.length;
    const value = raw[i + 1]!;
    if (len < 64 && UPSTREAM_LENGTHS[len] === 1) {
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'connection') named = addConnectionTokens(value, named);
        continue;
      }
      if (lower === 'x-forwarded-for') {
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      }
      if (lower === 'x-forwarded-proto') {
        xfProto ??= value;
        continue;
      }
      if (lower === 'x-forwarded-host') {
        xfHost ??= value;
        continue;
      }
      if (lower === 'host') host = value;
    }
    if (len === poolLen && name.toLowerCase() === poolHeader) continue;
    out.push(name, value);
  }
  // Rare: `Connection: x-foo` names extra hop-by-hop headers; drop them now (wherever they appeared).
  if (named !== undefined) {
    removeNamed(out, named);
    if (named.has('x-forwarded-for')) xff = undefined;
    if (named.has('x-forwarded-proto')) xfProto = undefined;
    if (named.has('x-forwarded-host')) xfHost = undefined;
  }
  out.push('x-forwarded-for', xff === undefined ? ctx.clientIp : `${xff}, ${ctx.clientIp}`);
  out.push('x-forwarded-proto', ctx.trustForwarded && xfProto !== undefined ? xfProto : ctx.proto);
  const fwdHost = ctx.trustForwarded && xfHost !== undefined ? xfHost : host;
  if (fwdHost !== undefined) out.push('x-forwarded-host', fwdHost);
  if (poolLen !== 0) out.push(poolHeader, ctx.pool);
  return out;
}

/**
 * h2RequestHeaders — an HTTP/2 request's raw headers in HTTP/1.1 form: the
 * pseudo-headers (`:method`, `:path`, `:scheme`, `:authority`) are not headers
 * and must not be forwarded, and `:authority` becomes `Host` when the client
 * sent none (RFC 9113 §8.3.1: h2 clients send :authority instead of Host).
 * Called only for h2 requests, so HTTP/1.1 pays nothing for it.
 */
export function h2RequestHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  let authority: string | undefined;
  let hasHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':authority') authority = raw[i + 1]!;
      continue;
    }
    if (name.length === 4 && name === 'host') hasHost = true; // h2 header names are lowercase
    out.push(name, raw[i + 1]!);
  }
  if (!hasHost && authority !== undefined) out.unshift('host', authority);
  return out;
}

/**
 * downstreamHeaders — the upstream's response headers for the client, minus
 * hop-by-hop. undici hands raw headers as Buffers; they become latin1 strings
 * (header bytes are opaque octets; latin1 round-trips them unchanged).
 */
export function downstreamHeaders(raw: readonly (Buffer | string)[]): string[] {
  const out: string[] = [];
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const len = name.length;
    if (len < 64 && HOP_LENGTHS[len] === 1) {
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'connection') named = addConnectionTokens(raw[i + 1]!.toString('latin1'), named);
        continue;
      }
    }
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  if (named !== undefined) removeNamed(out, named);
  return out;
}

/** removeNamed — drop, in place, every header whose lowercase name is in `named`. */
function removeNamed(list: string[], named: ReadonlySet<string>): void {
  let w = 0;
  for (let i = 0; i < list.length; i += 2) {
    if (named.has(list[i]!.toLowerCase())) continue;
    list[w++] = list[i]!;
    list[w++] = list[i + 1]!;
  }
  list.length = w;
}

/** IDEMPOTENT_METHODS — RFC 9110 §9.2.2: safe to repeat. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
