/**
 * health/probe-http — one HTTP health probe on a fresh connection.
 *
 * `agent: false` gives every probe its own socket (and `Connection: close`), as
 * HAProxy does: a probe then also proves the server still accepts connections,
 * which a pooled keep-alive socket would hide. The probe never rejects — every
 * failure is a verdict (`ok: false` with a reason) — so a check loop cannot die
 * on an unexpected error.
 */
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { UpstreamTlsConfig } from '../config/types.js';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { HealthConfig, StatusRange } from '../config/types.js';

/** ProbeResult — the verdict of one probe; `reason` is for logs and the admin API. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly reason: string;
  /** Set whenever response headers arrived, whatever the verdict. */
  readonly statusCode?: number;
  readonly durationMs: number;
}

/** ProbeTarget — what a probe needs to know of a server. */
export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
  readonly health: HealthConfig;
  /** Probe over https (certificate verified) when set. */
  readonly tls?: UpstreamTlsConfig | undefined;
}

/** Probe — the signature shared by probeHttp and test doubles; must never reject. */
export type Probe = (target: ProbeTarget, signal?: AbortSignal) => Promise<ProbeResult>;

/** statusExpected — whether a status code falls within any of the expected ranges (inclusive). */
export function statusExpected(statusCode: number, ranges: readonly StatusRange[]): boolean {
  for (const range of ranges) {
    if (statusCode >= range.min && statusCode <= range.max) return true;
  }
  return false;
}

function describeRanges(ranges: readonly StatusRange[]): string {
  return ranges.map((r) => (r.min === r.max ? String(r.min) : `${r.min}-${r.max}`)).join(',');
}

/** A Host header needs brackets around an IPv6 literal (RFC 7230 §5.4, RFC 3986 §3.2.2). */
function authority(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function errorReason(err: unknown): string {
  if (err instanceof Error) return err.message === '' ? err.name : err.message;
  return String(err);
}

function noop(): void {}

/**
 * probeHttp — GETs health.path on a new connection and resolves with a verdict;
 * never rejects.
 *
 * The verdict is decided when response headers arrive, and health.timeoutMs
 * bounds connect + headers. The same deadline keeps running while the body is
 * drained, so a server that sends headers and then stalls the body still gets
 * its socket destroyed: no probe holds a socket or timer past timeoutMs.
 */
export function probeHttp(target: ProbeTarget, signal?: AbortSignal): Promise<ProbeResult> {
  const { host, port, health } = target;
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;

  if (signal?.aborted === true) {
    return Promise.resolve({ ok: false, reason: 'aborted', durationMs: 0 });
  }

  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    let req: ClientRequest | undefined;
    let timer: NodeJS.Timeout | undefined;

    // Ends the exchange for good: the deadline fired, the caller aborted, or the
    // body was fully drained. Idempotent.
    const cleanup = (): void => {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      signal?.removeEventListener('abort', onAbort);
      req?.destroy();
    };

    const settle = (ok: boolean, reason: string, statusCode?: number): void => {
      if (settled) return;
      settled = true;
      resolve(
        statusCode === undefined
          ? { ok, reason, durationMs: elapsed() }
          : { ok, reason, statusCode, durationMs: elapsed() },
      );
    };

    function onAbort(): void {
      settle(false, 'aborted');
      cleanup();
    }

    try {
      const options = {
        host,
        port,
        method: 'GET',
        path: health.path,
        agent: false as const,
        headers: {
          host: health.host ?? authority(host, port),
          'user-agent': 'switchyard-health',
        },
      };
      const tls = target.tls;
      // A TLS server is probed over TLS with the same verification as traffic, so a bad certificate marks it down.
      req =
        tls === undefined
          ? request(options)
          : httpsRequest({ ...options, ca: tls.ca, servername: tls.servername, rejectUnauthorized: true });
    } catch (err) {
      // request() throws synchronously on a malformed path or header value.
      settle(false, `invalid probe request: ${errorReason(err)}`);
      return;
    }

    // Unref'd: an in-flight probe's socket keeps the process alive on its own,
    // and a shutting-down process must not wait for a probe's deadline.
    timer = setTimeout(() => {
      timer = undefined;
      settle(false, `timeout after ${health.timeoutMs}ms`);
      cleanup();
    }, health.timeoutMs);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });

    // Stays attached after settling: destroy() emits 'error' (socket hang up),
    // and an 'error' with no listener would crash the process.
    req.on('error', (err) => {
      settle(false, errorReason(err));
      cleanup();
    });

    req.on('response', (res: IncomingMessage) => {
      const statusCode = res.statusCode ?? 0;
      if (statusExpected(statusCode, health.expectStatus)) {
        settle(true, `status ${statusCode}`, statusCode);
      } else {
        settle(false, `status ${statusCode} not in ${describeRanges(health.expectStatus)}`, statusCode);
      }
      res.on('error', noop);
      res.on('end', cleanup);
      res.on('close', cleanup);
      res.resume();
    });

    req.end();
  });
}
