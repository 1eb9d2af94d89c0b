/**
 * test/helpers/http — a plain node:http client (no connection reuse unless
 * asked, so each call is one fresh connection), a free-port finder and a temp
 * directory maker for end-to-end tests.
 */
import { request as httpRequest } from 'node:http';
import type { Agent, IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** RequestOptions — what request() sends; `agent` defaults to false (a fresh connection per call). */
export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  readonly agent?: Agent | false;
  /** Fail if no complete response within this many ms (default 10000). */
  readonly timeoutMs?: number;
}

/** TestResponse — a complete response, body decoded as UTF-8. */
export interface TestResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** request — sends one HTTP request and resolves with the whole response; rejects on socket errors and timeouts. */
export function request(url: string, opts: RequestOptions = {}): Promise<TestResponse> {
  return new Promise<TestResponse>((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    const body = opts.body;
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = httpRequest(url, { method: opts.method ?? 'GET', headers, agent: opts.agent ?? false });
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const timer = setTimeout(() => {
      req.destroy(new Error(`request ${opts.method ?? 'GET'} ${url}: no complete response within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.end(body);
  });
}

/** freePort — a TCP port on 127.0.0.1 that was free a moment ago (listen on 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** tempDir — a new empty directory under os.tmpdir(); the caller removes it (e.g. in t.teardown). */
export function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'switchyard-test-'));
}
