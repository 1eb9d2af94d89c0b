/**
 * test/helpers/tcp — raw TCP upstreams and clients for the L4 tests: an
 * upstream that optionally greets with its name, optionally reads a PROXY
 * protocol header first (and records it), then echoes every byte (or, in
 * `hash` mode, answers with the sha256 of everything it received once the
 * client half-closes).
 */
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Test } from 'tap';
import { once } from 'node:events';
import { startSwitchyard, type PoolSpec, type SwitchyardUnderTest } from './app.js';

/** ParsedProxyHeader — what a test upstream read of a PROXY header. */
export interface ParsedProxyHeader {
  readonly version: 1 | 2;
  readonly family: 'TCP4' | 'TCP6' | 'UNKNOWN';
  readonly source: string;
  readonly sourcePort: number;
  readonly dest: string;
  readonly destPort: number;
}

/** TcpUpstream — a running test upstream. */
export interface TcpUpstream {
  readonly name: string;
  readonly address: string;
  readonly server: Server;
  /** Connections accepted so far. */
  accepted: number;
  /** Sockets open now. */
  readonly sockets: Set<Socket>;
  readonly headers: ParsedProxyHeader[];
  close(): Promise<void>;
}

/** TcpUpstreamOptions — greet with the name, expect a PROXY header, echo or hash. */
export interface TcpUpstreamOptions {
  readonly greet?: boolean;
  readonly proxyProtocol?: boolean;
  readonly mode?: 'echo' | 'hash';
}

const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** parseProxyHeader — one PROXY v1 or v2 header at the start of `buf`: the parsed header and its length, or undefined when incomplete. */
export function parseProxyHeader(buf: Buffer): { header: ParsedProxyHeader; length: number } | undefined {
  if (buf.length >= 16 && buf.subarray(0, 12).equals(V2_SIG)) {
    const len = buf.readUInt16BE(14);
    if (buf.length < 16 + len) return undefined;
    const fam = buf[13];
    if (fam === 0x11) {
      const ip = (at: number): string => [...buf.subarray(at, at + 4)].join('.');
      return { header: { version: 2, family: 'TCP4', source: ip(16), dest: ip(20), sourcePort: buf.readUInt16BE(24), destPort: buf.readUInt16BE(26) }, length: 16 + len };
    }
    if (fam === 0x21) {
      const ip = (at: number): string => {
        const w: string[] = [];
        for (let i = 0; i < 8; i++) w.push(buf.readUInt16BE(at + i * 2).toString(16));
        return w.join(':');
      };
      return { header: { version: 2, family: 'TCP6', source: ip(16), dest: ip(32), sourcePort: buf.readUInt16BE(48), destPort: buf.readUInt16BE(50) }, length: 16 + len };
    }
    return { header: { version: 2, family: 'UNKNOWN', source: '', dest: '', sourcePort: 0, destPort: 0 }, length: 16 + len };
  }
  const end = buf.indexOf('\r\n');
  if (end < 0) return undefined;
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  if (parts[0] !== 'PROXY') throw new Error(`not a PROXY header: ${JSON.stringify(buf.subarray(0, end).toString('latin1'))}`);
  if (parts[1] === 'UNKNOWN') return { header: { version: 1, family: 'UNKNOWN', source: '', dest: '', sourcePort: 0, destPort: 0 }, length: end + 2 };
  return {
    header: { version: 1, family: parts[1] as 'TCP4' | 'TCP6', source: parts[2] ?? '', dest: parts[3] ?? '', sourcePort: Number(parts[4]), destPort: Number(parts[5]) },
    length: end + 2,
  };
}

/**
 * onProxyFramedData — feed a socket's bytes to `body`; when `expectHeader`,
 * first collect and parse the PROXY protocol header into `headers`.
 */
export function onProxyFramedData(socket: Socket | TLSSocket, expectHeader: boolean, headers: ParsedProxyHeader[], body: (chunk: Buffer) => void): void {
  let pending: Buffer | undefined = expectHeader ? Buffer.alloc(0) : undefined;
  socket.on('data', (chunk: Buffer) => {
    if (pending === undefined) {
      body(chunk);
      return;
    }
    pending = Buffer.concat([pending, chunk]);
    const parsed = parseProxyHeader(pending);
    if (parsed === undefined) return;
    headers.push(parsed.header);
    const rest = pending.subarray(parsed.length);
    pending = undefined;
    if (rest.length > 0) body(rest);
  });
}

/** startTcpUpstream — listen on 127.0.0.1:0; closed in teardown. */
export async function startTcpUpstream(t: Test, name: string, options: TcpUpstreamOptions = {}): Promise<TcpUpstream> {
  const sockets = new Set<Socket>();
  const headers: ParsedProxyHeader[] = [];
  const up: { accepted: number } = { accepted: 0 };
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    up.accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (options.greet === true) socket.write(`${name}\n`);
    const hash = createHash('sha256');
    const body = (chunk: Buffer): void => {
      if (options.mode === 'hash') hash.update(chunk);
      else if (!socket.write(chunk)) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    };
    onProxyFramedData(socket, options.proxyProtocol === true, headers, body);
    socket.on('end', () => (options.mode === 'hash' ? socket.end(hash.digest('hex')) : socket.end()));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const result: TcpUpstream = {
    name,
    address: `127.0.0.1:${port}`,
    server,
    get accepted() {
      return up.accepted;
    },
    set accepted(v: number) {
      up.accepted = v;
    },
    sockets,
    headers,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      })),
  };
  t.teardown(() => result.close());
  return result;
}

/** tcpConnect — a connected client socket (rejects on error). */
export async function tcpConnect(address: string, options: { allowHalfOpen?: boolean } = {}): Promise<Socket> {
  const i = address.lastIndexOf(':');
  const socket = connect({ host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)), allowHalfOpen: options.allowHalfOpen ?? false });
  await once(socket, 'connect');
  return socket;
}

/** readLine — the first line a socket sends (without the newline); rejects if it closes first. */
export function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        cleanup();
        // Put back what followed the line, so later reads see it.
        if (nl + 1 < buf.length) socket.unshift(Buffer.from(buf.slice(nl + 1), 'latin1'));
        resolve(buf.slice(0, nl));
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`socket closed before a line (got ${JSON.stringify(buf)})`));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      socket.pause();
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onClose);
    socket.resume();
  });
}

/** readAll — everything until the peer's FIN, as one buffer. */
export async function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.resume();
  await once(socket, 'end');
  return Buffer.concat(chunks);
}

/** waitClosed — resolves when the socket has closed (at once if it already has). */
export function waitClosed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** TcpListenerSpec — listen.tcp[0] of a test: pools by name (upstreams or raw server entries) plus listener options. */
export interface TcpListenerSpec {
  readonly pools: Record<string, { servers: (TcpUpstream | { address: string; id?: string; weight?: number; tls?: boolean; ca?: string; servername?: string })[]; balance?: string; health?: Record<string, unknown>; passive?: Record<string, number> }>;
  readonly connectTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  readonly proxyProtocol?: 'v1' | 'v2';
}

/**
 * startTcpSwitchyard — a Switchyard whose main pools (blue, green, … in the
 * order given, the first live) carry only placeholder HTTP servers with health
 * checks off, and whose one TCP listener `db` on 127.0.0.1:0 has `spec.pools`.
 * TCP health checks are off unless a pool asks for them.
 */
export async function startTcpSwitchyard(t: Test, spec: TcpListenerSpec, mainPools: Record<string, Record<string, unknown>> = { blue: {}, green: {} }, extra: Record<string, unknown> = {}): Promise<{ sy: SwitchyardUnderTest; address: string }> {
    const pools: PoolSpec = {};
  let port = 1;
  for (const [name, opts] of Object.entries(mainPools)) pools[name] = { servers: [`127.0.0.1:${port++}`], health: { enabled: false }, ...opts };
  const tcpPools = Object.fromEntries(
    Object.entries(spec.pools).map(([name, p]) => [
      name,
      {
        ...p,
        health: p.health ?? { enabled: false },
        servers: p.servers.map((s) => ('server' in s ? { address: s.address, id: s.name } : s)),
      },
    ]),
  );
  const { pools: _p, ...listenerOptions } = spec;
  const sy = await startSwitchyard(t, pools, {
    listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0', tcp: [{ name: 'db', address: '127.0.0.1:0', pools: tcpPools, ...listenerOptions }] },
    ...extra,
  }, { preview: false });
  const address = sy.app.addresses.tcp.db;
  if (address === undefined) throw new Error('tcp listener db not bound');
  return { sy, address };
}
