/**
 * proxy/status — answers Switchyard writes itself (errors, maintenance). Every
 * one has a short body, a Content-Length and an `x-switchyard-error` code, so a
 * client is never left hanging and an operator can tell our 502 from an app's.
 */
import type { ServerResponse } from 'node:http';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.js';

/** sendLocal — write a complete error answer unless headers already went out. */
export function sendLocal(res: ServerResponse, code: ErrorCode, retryAfterSeconds?: number, closeConnection?: boolean): number {
  const status = ERROR_CATALOGUE[code].statusCode;
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return status;
  }
  const body = `${status} ${ERROR_CATALOGUE[code].description}\n`;
  const headers: string[] = [
    'content-type', 'text/plain; charset=utf-8',
    'content-length', String(Buffer.byteLength(body)),
    'cache-control', 'no-store',
    'x-switchyard-error', code,
  ];
  if (retryAfterSeconds !== undefined) headers.push('retry-after', String(retryAfterSeconds));
  // Connection is illegal in HTTP/2 (RFC 9113 §8.2.2); h2 clients get a GOAWAY from the shutdown instead.
  if (closeConnection === true && res.req.httpVersionMajor !== 2) headers.push('connection', 'close');
  res.writeHead(status, headers);
  res.end(body);
  return status;
}

/** sendMaintenance — the 503 maintenance page with Retry-After. */
export function sendMaintenance(res: ServerResponse, page: Buffer, retryAfterSeconds: number): number {
  res.writeHead(503, [
    'content-type', 'text/html; charset=utf-8',
    'content-length', String(page.length),
    'cache-control', 'no-store',
    'retry-after', String(retryAfterSeconds),
    'x-switchyard-error', 'SY_ERR_MAINTENANCE',
  ]);
  res.end(page);
  return 503;
}
