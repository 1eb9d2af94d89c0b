/**
 * errors — the catalogue of every error Switchyard raises or maps.
 *
 * Each entry has a stable code (documented in README "Error codes"), a source
 * (who is at fault), whether a retry on another server may help, and the HTTP
 * status it maps to. `statusForError` is the one place that turns an error into
 * a downstream status: 502 by default, 504 on timeouts, 499 for client aborts,
 * never 500 for an upstream fault.
 */

export type ErrorSource = 'upstream' | 'downstream' | 'internal' | 'config' | 'admin';

interface CatalogueEntry {
  readonly source: ErrorSource;
  readonly retryable: boolean;
  readonly statusCode: number;
  readonly description: string;
}

/** ERROR_CATALOGUE — every code Switchyard uses, with its meaning. */
export const ERROR_CATALOGUE = {
  SY_ERR_UPSTREAM_CONNECT: { source: 'upstream', retryable: true, statusCode: 502, description: 'could not connect to the upstream server (refused, unreachable); nothing was sent' },
  SY_ERR_UPSTREAM_CONNECT_TIMEOUT: { source: 'upstream', retryable: true, statusCode: 504, description: 'connecting to the upstream server timed out; nothing was sent' },
  SY_ERR_UPSTREAM_RESET: { source: 'upstream', retryable: false, statusCode: 502, description: 'the upstream connection closed or reset after the request was (possibly) sent' },
  SY_ERR_UPSTREAM_HEADERS_TIMEOUT: { source: 'upstream', retryable: false, statusCode: 504, description: 'the upstream server did not send response headers within proxy.firstByteTimeoutMs' },
  SY_ERR_UPSTREAM_BODY_TIMEOUT: { source: 'upstream', retryable: false, statusCode: 504, description: 'the upstream response body stalled for longer than proxy.idleTimeoutMs' },
  SY_ERR_UPSTREAM_PROTOCOL: { source: 'upstream', retryable: false, statusCode: 502, description: 'the upstream server sent an invalid HTTP response' },
  SY_ERR_NO_SERVER: { source: 'internal', retryable: false, statusCode: 503, description: 'the chosen pool has no available server (all unhealthy, ejected, drained or in maintenance)' },
  SY_ERR_NO_POOL: { source: 'internal', retryable: false, statusCode: 503, description: 'no pool has weight > 0 (or, on the preview listener, no pool is standby)' },
  SY_ERR_MAINTENANCE: { source: 'internal', retryable: false, statusCode: 503, description: 'maintenance mode is on' },
  SY_ERR_CLIENT_ABORTED: { source: 'downstream', retryable: false, statusCode: 499, description: 'the client closed the connection before the response completed' },
  SY_ERR_SHUTTING_DOWN: { source: 'internal', retryable: false, statusCode: 503, description: 'the balancer is shutting down' },
  SY_ERR_INTERNAL: { source: 'internal', retryable: false, statusCode: 502, description: 'unexpected failure inside the proxy' },
  SY_ERR_CONFIG: { source: 'config', retryable: false, statusCode: 400, description: 'the configuration is invalid' },
  SY_ERR_STATE_WRITE: { source: 'internal', retryable: false, statusCode: 500, description: 'the state file could not be written; the change was not applied' },
  SY_ERR_UNKNOWN_POOL: { source: 'admin', retryable: false, statusCode: 404, description: 'the pool named in the admin call does not exist' },
  SY_ERR_UNKNOWN_SERVER: { source: 'admin', retryable: false, statusCode: 404, description: 'the server named in the admin call does not exist in that pool' },
  SY_ERR_POOL_UNHEALTHY: { source: 'admin', retryable: false, statusCode: 409, description: 'the switch target has no healthy server (use "force": true to override)' },
  SY_ERR_NO_PREVIOUS: { source: 'admin', retryable: false, statusCode: 409, description: 'rollback asked but there is no previous live pool' },
  SY_ERR_STALE_GENERATION: { source: 'admin', retryable: false, statusCode: 412, description: 'If-Match named a generation that is no longer current' },
  SY_ERR_BAD_REQUEST: { source: 'admin', retryable: false, statusCode: 400, description: 'the admin request body or parameters are malformed' },
  SY_ERR_UNAUTHORIZED: { source: 'admin', retryable: false, statusCode: 401, description: 'missing or wrong bearer token' },
  SY_ERR_NOT_FOUND: { source: 'admin', retryable: false, statusCode: 404, description: 'no admin API route has that method and path' },
  SY_ERR_NOT_READY: { source: 'admin', retryable: false, statusCode: 503, description: 'GET /readyz before the listeners are bound and the first health checks are in' },
  SY_ERR_CERT_RELOAD: { source: 'config', retryable: false, statusCode: 500, description: 'a certificate or key file could not be used on reload; the previous certificates stay in force' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** SwitchyardError — an error with a catalogue code; `cause` is always kept. */
export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  readonly source: ErrorSource;
  readonly retryable: boolean;
  readonly statusCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    const entry = ERROR_CATALOGUE[code];
    this.name = 'SwitchyardError';
    this.code = code;
    this.source = entry.source;
    this.retryable = entry.retryable;
    this.statusCode = entry.statusCode;
  }
}

/** UpstreamErrorKind — the bounded label set of switchyard_upstream_errors_total. */
export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'protocol' | 'other';

/** classifyUpstreamError — maps an undici/socket error to a catalogue code. */
export function classifyUpstreamError(err: unknown, requestSent: boolean): ErrorCode {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'SY_ERR_UPSTREAM_CONNECT_TIMEOUT';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'SY_ERR_UPSTREAM_HEADERS_TIMEOUT';
    case 'UND_ERR_BODY_TIMEOUT':
      return 'SY_ERR_UPSTREAM_BODY_TIMEOUT';
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'SY_ERR_UPSTREAM_CONNECT';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_STATUS':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_HEADERS_OVERFLOW':
    // Response headers valid in HTTP/1.1 but not in HTTP/2 (e.g. two Content-Type): the h2 client cannot get them.
    case 'ERR_HTTP2_HEADER_SINGLE_VALUE':
    case 'ERR_HTTP2_INVALID_HEADER_VALUE':
    case 'ERR_HTTP2_INVALID_CONNECTION_HEADERS':
    case 'ERR_INVALID_HTTP_TOKEN':
    case 'ERR_INVALID_CHAR':
      return 'SY_ERR_UPSTREAM_PROTOCOL';
    default:
      // A socket error before the request was handed to a connection means the
      // connect failed: nothing reached the server.
      return requestSent ? 'SY_ERR_UPSTREAM_RESET' : 'SY_ERR_UPSTREAM_CONNECT';
  }
}

/** upstreamErrorKind — the metric label for a catalogue code. */
export function upstreamErrorKind(code: ErrorCode): UpstreamErrorKind {
  switch (code) {
    case 'SY_ERR_UPSTREAM_CONNECT':
      return 'connect';
    case 'SY_ERR_UPSTREAM_CONNECT_TIMEOUT':
    case 'SY_ERR_UPSTREAM_HEADERS_TIMEOUT':
    case 'SY_ERR_UPSTREAM_BODY_TIMEOUT':
      return 'timeout';
    case 'SY_ERR_UPSTREAM_RESET':
      return 'reset';
    case 'SY_ERR_UPSTREAM_PROTOCOL':
      return 'protocol';
    default:
      return 'other';
  }
}

/** statusForError — the one mapping from any error to a downstream HTTP status. */
export function statusForError(err: unknown): number {
  if (err instanceof SwitchyardError) return err.statusCode;
  return 502;
}
