/**
 * proxy/headers — pure functions building the header lists sent upstream and
 * downstream. Hop-by-hop headers are removed per RFC 9110 §7.6.1 (Connection,
 * Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade, and every
 * header the Connection header names). Lists are flat `[name, value, …]`
 * arrays, the form undici and `writeHead` both accept without conversion.
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

/** connectionTokens — lowercase header names listed in a Connection header value, or undefined. */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const t of raw[i + 1]!.split(',')) {
        const v = t.trim().toLowerCase();
        if (v !== '' && v !== 'close' && v !== 'keep-alive') (tokens ??= new Set()).add(v);
      }
    }
  }
  return tokens;
}

/**
 * upstreamHeaders — the request headers for the upstream: the client's minus
 * hop-by-hop, with X-Forwarded-For appended, X-Forwarded-Proto/-Host set, Host
 * kept, and the pool header (any client-sent copy is dropped: it must not be
 * spoofable).
 */
export function upstreamHeaders(raw: readonly string[], ctx: ForwardContext): string[] {
  const named = connectionTokens(raw);
  const out: string[] = [];
  let xff: string | undefined;
  let host: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (named !== undefined && named.has(lower))) continue;
    const value = raw[i + 1]!;
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
    if (lower === ctx.poolHeader) continue;
    if (lower === 'host') host = value;
    out.push(name, value);
  }
  out.push('x-forwarded-for', xff === undefined ? ctx.clientIp : `${xff}, ${ctx.clientIp}`);
  out.push('x-forwarded-proto', ctx.trustForwarded && xfProto !== undefined ? xfProto : ctx.proto);
  const fwdHost = ctx.trustForwarded && xfHost !== undefined ? xfHost : host;
  if (fwdHost !== undefined) out.push('x-forwarded-host', fwdHost);
  if (ctx.poolHeader !== '') out.push(ctx.poolHeader, ctx.pool);
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
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const t of raw[i + 1]!.toString('latin1').split(',')) {
        const v = t.trim().toLowerCase();
        if (v !== '' && v !== 'close' && v !== 'keep-alive') (named ??= new Set()).add(v);
      }
    }
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  // Filter in a second pass so a Connection header listed after the headers it names still applies.
  let w = 0;
  for (let i = 0; i < out.length; i += 2) {
    const lower = out[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (named !== undefined && named.has(lower))) continue;
    out[w++] = out[i]!;
    out[w++] = out[i + 1]!;
  }
  out.length = w;
  return out;
}

/** IDEMPOTENT_METHODS — RFC 9110 §9.2.2: safe to repeat. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
