/**
 * bench/lib/l4-client — the load side of `npm run bench:l4`, run inside the
 * bench process (pinned to CPU 0). Every loop is bounded in count and time:
 * a transfer stops at its byte count or at its deadline (then it fails), a
 * WebSocket run stops after its fixed window.
 */
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** TransferResult — one TCP measurement over all connections. */
export interface TransferResult {
  readonly bytes: number;
  readonly seconds: number;
  readonly mibPerS: number;
}

function open(port: number, deadline: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect to ${port} timed out`));
    }, Math.max(1, deadline - Date.now()));
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** writeBytes — write `total` bytes in 64 KiB chunks, waiting for 'drain' whenever write() says so; bounded by `deadline`. */
async function writeBytes(sock: Socket, total: number, deadline: number): Promise<void> {
  let sent = 0;
  while (sent < total) {
    if (Date.now() > deadline) throw new Error('transfer deadline passed while writing');
    const n = Math.min(CHUNK.length, total - sent);
    const ok = sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    sent += n;
    if (!ok) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('transfer deadline passed waiting for drain')), Math.max(1, deadline - Date.now()));
        const done = (err?: Error): void => {
          clearTimeout(timer);
          sock.off('drain', done);
          sock.off('close', onClose);
          if (err === undefined) resolve();
          else reject(err);
        };
        const onClose = (): void => done(new Error('socket closed while writing'));
        sock.once('drain', done);
        sock.once('close', onClose);
      });
    }
  }
}

/** sinkOne — stream `bytes` to the sink, half-close, wait for its 8-byte count; checks the count. */
async function sinkOne(port: number, bytes: number, deadline: number): Promise<void> {
  const sock = await open(port, deadline);
  try {
    const answer = new Promise<number>((resolve, reject) => {
      const parts: Buffer[] = [];
      const timer = setTimeout(() => reject(new Error('sink answer deadline passed')), Math.max(1, deadline - Date.now()));
      sock.on('data', (b: Buffer) => parts.push(b));
      sock.once('end', () => {
        clearTimeout(timer);
        const buf = Buffer.concat(parts);
        if (buf.length !== 8) reject(new Error(`sink answered ${buf.length} bytes, expected 8`));
        else resolve(Number(buf.readBigUInt64BE()));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    answer.catch(() => undefined);
    await writeBytes(sock, bytes, deadline);
    sock.end();
    const counted = await answer;
    if (counted !== bytes) throw new Error(`sink counted ${counted} bytes, sent ${bytes}`);
  } finally {
    sock.destroy();
  }
}

/** echoOne — stream `bytes` to the echo server while reading them back; done when all came back. */
async function echoOne(port: number, bytes: number, deadline: number): Promise<void> {
  const sock = await open(port, deadline);
  try {
    const back = new Promise<void>((resolve, reject) => {
      let got = 0;
      const timer = setTimeout(() => reject(new Error(`echo deadline passed (${got} of ${bytes} bytes back)`)), Math.max(1, deadline - Date.now()));
      sock.on('data', (b: Buffer) => {
        got += b.length;
        if (got >= bytes) {
          clearTimeout(timer);
          if (got === bytes) resolve();
          else reject(new Error(`echo returned ${got} bytes, sent ${bytes}`));
        }
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.once('close', () => {
        clearTimeout(timer);
        if (got < bytes) reject(new Error(`echo closed after ${got} of ${bytes} bytes`));
      });
    });
    back.catch(() => undefined);
    await writeBytes(sock, bytes, deadline);
    await back;
  } finally {
    sock.destroy();
  }
}

/** tcpTransfer — `conns` parallel connections, each moving `bytesPerConn` (sink: one way; echo: there and back, counted once). */
export async function tcpTransfer(mode: 'sink' | 'echo', port: number, conns: number, bytesPerConn: number, timeoutMs: number): Promise<TransferResult> {
  const deadline = Date.now() + timeoutMs;
  const t0 = process.hrtime.bigint();
  const one = mode === 'sink' ? sinkOne : echoOne;
  await Promise.all(Array.from({ length: conns }, () => one(port, bytesPerConn, deadline)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const bytes = conns * bytesPerConn;
  return { bytes, seconds, mibPerS: bytes / 2 ** 20 / seconds };
}

/** WsResult — echoed messages counted in the measuring window. */
export interface WsResult {
  readonly messages: number;
  readonly seconds: number;
  readonly msgPerS: number;
  readonly mibPerS: number;
  /** Echoes received over the whole run, warm-up included (for CPU per message over the whole sample). */
  readonly allMessages: number;
}

/**
 * wsEcho — one WebSocket client sends `size`-byte binary messages as fast as
 * the window allows (at most `window` messages sent and not yet echoed, so
 * ws's bufferedAmount and the echo path stay bounded) and counts the echoes
 * that arrive between `warmMs` and `warmMs + durationMs`.
 */
export async function wsEcho(url: string, size: number, warmMs: number, durationMs: number): Promise<WsResult> {
  const window = Math.max(16, Math.min(1024, Math.floor((4 * 2 ** 20) / size)));
  const payload = Buffer.alloc(size, 0x62);
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 5_000, maxPayload: 16 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let sent = 0;
  let received = 0;
  let badSize = 0;
  let stopped = false;
  let failure: Error | undefined;
  const pump = (): void => {
    // Bounded: at most `window` sends per call.
    while (!stopped && sent - received < window && ws.readyState === WebSocket.OPEN) {
      ws.send(payload, { binary: true });
      sent++;
    }
  };
  ws.on('message', (data: Buffer) => {
    received++;
    if (data.length !== size) badSize++;
    pump();
  });
  ws.on('error', (err) => {
    failure = err;
  });
  ws.on('close', () => {
    if (!stopped) failure ??= new Error('WebSocket closed during the run');
  });
  pump();
  await new Promise((r) => setTimeout(r, warmMs));
  const r0 = received;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, durationMs));
  const r1 = received;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  stopped = true;
  ws.terminate();
  if (failure !== undefined) throw failure;
  if (badSize > 0) throw new Error(`${badSize} echoed messages had the wrong size`);
  const messages = r1 - r0;
  return { messages, seconds, msgPerS: messages / seconds, mibPerS: (messages * size) / 2 ** 20 / seconds, allMessages: received };
}
