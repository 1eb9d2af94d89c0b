/**
 * test/helpers/ws — a real WebSocket upstream (the `ws` package on a plain
 * node:http server, 127.0.0.1 port 0) and small client helpers, for the
 * upgrade tests. The upstream:
 *
 * - echoes every message back unchanged (text stays text, binary stays binary);
 *   the text message `who` is answered with the upstream's name instead;
 * - adds `x-upstream: NAME` to its 101 answer;
 * - `?delay=N` delays the 101 by N ms (so a client can leave mid-handshake);
 * - `/refuse` answers `403` with body `refused by NAME` instead of a 101;
 * - plain (non-upgrade) requests get `200` with body `plain NAME`.
 *
 * `upgrades` counts handshakes that reached it; `lastHeaders` holds the last
 * upgrade request's headers; `openSockets()` counts its TCP connections.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

/** WsUpstream — a running WebSocket test upstream. */
export interface WsUpstream {
  readonly name: string;
  /** "127.0.0.1:PORT" — what a config's `address` takes. */
  readonly address: string;
  readonly wss: WebSocketServer;
  /** Upgrade requests that arrived (including refused and delayed ones). */
  upgrades: number;
  /** Headers of the last upgrade request. */
  lastHeaders: IncomingHttpHeaders | undefined;
  /** openSockets — TCP connections the upstream holds now (any state). */
  openSockets(): number;
  /** terminateAll — destroy every WebSocket connection without a close frame (a crashed app). */
  terminateAll(): void;
  /** close — close every connection and the server; safe to call twice. */
  close(): Promise<void>;
}

/** startWsUpstream — start a WsUpstream named `name` on 127.0.0.1, port 0. */
export async function startWsUpstream(name: string): Promise<WsUpstream> {
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name }).end(`plain ${name}`);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  wss.on('headers', (headers) => headers.push(`x-upstream: ${name}`));
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary && data.toString() === 'who') ws.send(name);
      else ws.send(data, { binary: isBinary });
    });
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const up: WsUpstream = {
    name,
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    wss,
    upgrades: 0,
    lastHeaders: undefined,
    openSockets: () => sockets.size,
    terminateAll: () => {
      for (const c of wss.clients) c.terminate();
    },
    close,
  };
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    up.upgrades++;
    up.lastHeaders = req.headers;
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://upstream.invalid');
    if (url.pathname === '/refuse') {
      const body = `refused by ${name}`;
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-upstream: ${name}\r\n\r\n${body}`);
      return;
    }
    const delay = Number(url.searchParams.get('delay') ?? '0');
    const accept = (): void => {
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    };
    if (delay > 0) setTimeout(accept, delay);
    else accept();
  });
  return up;
}

/** wsUrl — the ws:// URL for an http:// base and a path. */
export function wsUrl(httpBase: string, path = '/'): string {
  return `${httpBase.replace(/^http/, 'ws')}${path}`;
}

/** OpenedSocket — a connected client and the headers of its 101. */
export interface OpenedSocket {
  readonly ws: WebSocket;
  readonly headers: IncomingHttpHeaders;
}

/** openWs — connect and resolve once open (rejects on an error or a non-101 answer, with its status). */
export function openWs(url: string, options: { headers?: Record<string, string>; protocols?: string[]; timeoutMs?: number } = {}): Promise<OpenedSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers, handshakeTimeout: options.timeoutMs ?? 10_000, maxPayload: 64 * 1024 * 1024 });
    let headers: IncomingHttpHeaders = {};
    ws.once('upgrade', (res) => {
      headers = res.headers;
    });
    ws.once('open', () => resolve({ ws, headers }));
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(Object.assign(new Error(`unexpected response ${res.statusCode ?? 0}`), { status: res.statusCode }));
    });
    ws.once('error', reject);
  });
}

/** UnexpectedResponse — a non-101 answer to a WebSocket handshake, body read in full. */
export interface UnexpectedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** refusedWs — connect expecting a non-101 answer; resolves with it (rejects if the socket opens). */
export function refusedWs(url: string): Promise<UnexpectedResponse> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 10_000 });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the WebSocket opened'));
    });
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        ws.terminate();
      });
      res.on('error', reject);
    });
    ws.once('error', (err) => reject(err));
  });
}

/** nextMessage — the next message on `ws` (rejects if it closes first). */
export function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  if (ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error(`not open (readyState ${ws.readyState})`));
  return new Promise((resolve, reject) => {
    const onMessage = (data: RawData, isBinary: boolean): void => {
      cleanup();
      resolve({ data: Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data), isBinary });
    };
    const onClose = (code: number): void => {
      cleanup();
      reject(new Error(`closed (${code}) before a message`));
    };
    const cleanup = (): void => {
      ws.off('message', onMessage);
      ws.off('close', onClose);
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
  });
}

/** echo — send `text` and resolve with the text of the next message. */
export async function echo(ws: WebSocket, text: string): Promise<string> {
  const reply = nextMessage(ws);
  ws.send(text);
  return (await reply).data.toString('utf8');
}

/** closed — resolves with the close code once `ws` is closed (at once if it already is). */
export function closed(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(1006);
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}
