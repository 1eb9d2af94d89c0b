/**
 * test/helpers/tls — clients for TLS listeners: a bare handshake that reports
 * which certificate was served, an HTTPS request over a fresh connection, and
 * an HTTP/2 request on a given session.
 */
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { request as httpsRequest, type Agent } from 'node:https';
import type { ClientHttp2Session, IncomingHttpHeaders as H2Headers, OutgoingHttpHeaders } from 'node:http2';
import type { IncomingHttpHeaders } from 'node:http';

/** hostPort — "127.0.0.1:PORT" → {host, port}. */
export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** handshake — connect, finish the TLS handshake, and resolve with the served certificate's CN and the open socket (caller ends it). */
export function handshake(address: string, options: ConnectionOptions): Promise<{ cn: string; socket: TLSSocket }> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, ...options }, () => {
      const subject = socket.getPeerCertificate().subject as { CN?: string } | undefined;
      resolve({ cn: String(subject?.CN ?? ''), socket });
    });
    socket.once('error', reject);
  });
}

/** servedCn — the CN of the certificate served for `servername` (undefined = no SNI); the connection is closed. */
export async function servedCn(address: string, ca: string, servername?: string): Promise<string> {
  const { cn, socket } = await handshake(address, { ca, servername, rejectUnauthorized: false });
  socket.destroy();
  return cn;
}

/** HttpsResponse — a complete HTTPS response. */
export interface HttpsResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly alpn: string | false | null;
}

/** httpsGet — one HTTPS request (fresh connection unless `agent`), resolved with the whole response. */
export function httpsGet(address: string, path: string, opts: { ca: string; servername?: string; agent?: Agent; method?: string; headers?: Record<string, string> }): Promise<HttpsResponse> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host, port, path, method: opts.method ?? 'GET', ca: opts.ca, servername: opts.servername, agent: opts.agent ?? false, headers: opts.headers },
      (res) => {
        const chunks: Buffer[] = [];
        // Read now: a keep-alive agent takes the socket back before 'end'.
        const alpn = (res.socket as TLSSocket).alpnProtocol;
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), alpn }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`https ${path}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

/** H2Response — a complete HTTP/2 response. */
export interface H2Response {
  readonly status: number;
  readonly headers: H2Headers;
  readonly body: Buffer;
}

/** h2Request — one stream on `session`; `body` is written with backpressure and the stream ended. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let responseHeaders: H2Headers = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      responseHeaders = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks) }));
    stream.setTimeout(15_000, () => stream.close());
    if (body !== undefined) stream.end(body);
  });
}
