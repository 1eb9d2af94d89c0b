/**
 * net/splice — SocketSplice on real loopback sockets (port 0): a client, a
 * "front" server socket accepted like the listeners accept theirs (paused,
 * half-open allowed), a "back" socket connected to an upstream server, and
 * the upstream's accepted "peer" socket. The splice joins front and back;
 * the test talks through client and peer. A recording SpliceOwner counts
 * what the splice reports.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { SocketSplice, type SpliceCloseReason, type SpliceOwner, type SpliceSettings, type SpliceSide } from '../../src/net/splice.js';
import { CLOSE_GRACE_MS } from '../../src/pools/long-lived.js';
import { once, waitFor } from '../helpers/wait.js';

const MiB = 2 ** 20;
const NO_LIMITS: SpliceSettings = { idleTimeoutMs: 30_000, maxAgeMs: undefined };

/** Recorder — a SpliceOwner that keeps every report. */
class Recorder implements SpliceOwner {
  bytesIn = 0;
  bytesOut = 0;
  readonly errors: SpliceSide[] = [];
  readonly reasons: (SpliceCloseReason | undefined)[] = [];
  readonly closed: Promise<SpliceCloseReason | undefined>;
  #resolve: (reason: SpliceCloseReason | undefined) => void = () => undefined;

  constructor() {
    this.closed = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }
  spliceIn(bytes: number): void {
    this.bytesIn += bytes;
  }
  spliceOut(bytes: number): void {
    this.bytesOut += bytes;
  }
  spliceError(side: SpliceSide): void {
    this.errors.push(side);
  }
  spliceClosed(reason: SpliceCloseReason | undefined): void {
    this.reasons.push(reason);
    this.#resolve(reason);
  }
}

/** Collected — what one socket read so far, and whether its peer's FIN and its own 'close' came. */
interface Collected {
  bytes: number;
  chunks: Buffer[];
  ended: boolean;
  closed: boolean;
  text(): string;
}

function collect(socket: Socket): Collected {
  const c: Collected = {
    bytes: 0,
    chunks: [],
    ended: false,
    closed: false,
    text: () => Buffer.concat(c.chunks).toString(),
  };
  socket.on('data', (chunk: Buffer) => {
    c.bytes += chunk.length;
    // Large transfers are only counted, not kept.
    if (c.bytes <= MiB) c.chunks.push(chunk);
  });
  socket.on('end', () => {
    c.ended = true;
  });
  socket.on('close', () => {
    c.closed = true;
  });
  return c;
}

interface Rig {
  readonly client: Socket;
  readonly peer: Socket;
  readonly front: Socket;
  readonly back: Socket;
  readonly owner: Recorder;
  readonly splice: SocketSplice;
}

interface RigOptions {
  /** allowHalfOpen on the client and the peer (the test's ends); false = they answer a FIN with theirs. */
  readonly halfOpen?: boolean;
  /** Run before start with the accepted front socket (not paused); returns client bytes already read from it (the "head"). */
  readonly beforeStart?: (front: Socket, client: Socket) => Promise<Buffer | undefined>;
}

async function listen(t: Test, server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** rig — client → front ⇄ splice ⇄ back → peer, all on loopback; everything is destroyed at teardown. */
async function rig(t: Test, settings: SpliceSettings, opts: RigOptions = {}): Promise<Rig> {
  const halfOpen = opts.halfOpen ?? false;
  const upstream = createServer({ allowHalfOpen: halfOpen });
  const upPort = await listen(t, upstream);
  // As tcp/listener.ts accepts: a client FIN is passed on, and nothing is read before the splice starts.
  const frontServer = createServer({ allowHalfOpen: true, pauseOnConnect: opts.beforeStart === undefined });
  const frontPort = await listen(t, frontServer);

  const accepted = once(frontServer, 'connection');
  const client = connect({ host: '127.0.0.1', port: frontPort, allowHalfOpen: halfOpen });
  const [front] = (await accepted) as [Socket];
  const reached = once(upstream, 'connection');
  const back = connect({ host: '127.0.0.1', port: upPort, allowHalfOpen: true });
  await once(back, 'connect');
  const [peer] = (await reached) as [Socket];
  const sockets = [client, front, back, peer];
  // A reset seen by a test's own end must not crash the test process.
  for (const s of [client, peer]) s.on('error', () => undefined);
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });

  const head = opts.beforeStart === undefined ? undefined : await opts.beforeStart(front, client);
  const owner = new Recorder();
  const splice = new SocketSplice(owner, front, back);
  splice.start(settings, head);
  return { client, peer, front, back, owner, splice };
}

t.test('relays bytes both ways and counts them per direction', async (t) => {
  const { client, peer, owner } = await rig(t, NO_LIMITS);
  const atPeer = collect(peer);
  const atClient = collect(client);
  client.write('hello');
  await waitFor(() => atPeer.text() === 'hello', { message: 'client bytes at the peer' });
  peer.write('world!');
  await waitFor(() => atClient.text() === 'world!', { message: 'peer bytes at the client' });
  t.equal(owner.bytesIn, 5, 'client → upstream bytes counted');
  t.equal(owner.bytesOut, 6, 'upstream → client bytes counted');
  t.same(owner.reasons, [], 'still open');
});

t.test('passes a FIN on each way while the other direction keeps flowing (half-close)', async (t) => {
  const { client, peer, front, back, owner, splice } = await rig(t, NO_LIMITS, { halfOpen: true });
  const atPeer = collect(peer);
  const atClient = collect(client);
  client.end('last words');
  await waitFor(() => atPeer.ended, { message: "the client's FIN at the peer" });
  t.equal(atPeer.text(), 'last words', 'bytes before the FIN arrived first');
  peer.write('still talking');
  await waitFor(() => atClient.text() === 'still talking', { message: 'the peer still reaching the half-closed client' });
  t.notOk(atClient.ended, 'the client has no FIN yet');
  peer.end();
  t.equal(await owner.closed, undefined, 'closed by the peers, not by Switchyard');
  await waitFor(() => atClient.ended, { message: "the peer's FIN at the client" });
  t.ok(front.destroyed && back.destroyed, 'both spliced sockets are gone');
  t.ok(splice.done, 'done');
  t.same(owner.reasons, [undefined], 'the owner was told once');
});

t.test('pauses the upstream while the client does not read, and resumes it on drain', async (t) => {
  const { client, peer, back, owner } = await rig(t, NO_LIMITS);
  const atClient = collect(client);
  client.pause();
  const size = 64 * MiB;
  peer.write(Buffer.alloc(size, 1));
  await waitFor(() => back.isPaused(), { message: 'the upstream paused' });
  t.ok(atClient.bytes < size, 'the client has not read everything');
  client.resume();
  await waitFor(() => atClient.bytes === size, { timeoutMs: 20_000, message: 'every byte at the client' });
  t.notOk(back.isPaused(), 'the upstream reads again');
  t.equal(owner.bytesOut, size, 'every byte counted once');
});

t.test('pauses the client while the upstream does not read, and resumes it on drain', async (t) => {
  const { client, peer, front, owner } = await rig(t, NO_LIMITS);
  const atPeer = collect(peer);
  peer.pause();
  const size = 64 * MiB;
  client.write(Buffer.alloc(size, 2));
  await waitFor(() => front.isPaused(), { message: 'the client paused' });
  t.ok(atPeer.bytes < size, 'the peer has not read everything');
  peer.resume();
  await waitFor(() => atPeer.bytes === size, { timeoutMs: 20_000, message: 'every byte at the peer' });
  t.notOk(front.isPaused(), 'the client reads again');
  t.equal(owner.bytesIn, size, 'every byte counted once');
});

t.test('sends client bytes read before start first and passes on a FIN read before start', async (t) => {
  const { peer, client, owner } = await rig(t, NO_LIMITS, {
    halfOpen: true,
    // Reads the whole client stream (bytes and FIN) before the splice exists, like the bytes after an upgrade request's head.
    beforeStart: async (front, client) => {
      const chunks: Buffer[] = [];
      const onData = (chunk: Buffer): number => chunks.push(chunk);
      front.on('data', onData);
      const ended = once(front, 'end');
      client.end('early bytes');
      await ended;
      front.off('data', onData);
      front.pause();
      return Buffer.concat(chunks);
    },
  });
  const atClient = collect(client);
  const atPeer = collect(peer);
  await waitFor(() => atPeer.ended, { message: "the client's early FIN at the peer" });
  t.equal(atPeer.text(), 'early bytes', 'the early bytes came first');
  t.equal(owner.bytesIn, 11, 'early bytes counted');
  peer.end('answer');
  await waitFor(() => atClient.ended, { message: "the peer's FIN at the client" });
  t.equal(atClient.text(), 'answer', 'the other direction still flowed');
  t.equal(await owner.closed, undefined, 'closed by the peers');
});

t.test('destroys both sides after idleTimeoutMs without a byte', async (t) => {
  const { client, peer, owner } = await rig(t, { idleTimeoutMs: 100, maxAgeMs: undefined });
  const atClient = collect(client);
  const atPeer = collect(peer);
  t.equal(await owner.closed, 'idle', 'closed for idleness');
  await waitFor(() => atClient.closed && atPeer.closed, { message: 'both ends closed' });
  t.same(owner.errors, [], 'no error reported');
});

t.test('closes gracefully at maxAgeMs and ends as soon as the peers answer the FIN', async (t) => {
  const { client, peer, owner } = await rig(t, { idleTimeoutMs: 30_000, maxAgeMs: 100 });
  const atClient = collect(client);
  const atPeer = collect(peer);
  const started = performance.now();
  t.equal(await owner.closed, 'max-age', 'closed for age');
  t.ok(performance.now() - started < CLOSE_GRACE_MS, 'before the grace period ran out: the peers answered');
  t.ok(atClient.ended && atPeer.ended, 'both ends got a FIN');
});

t.test('close() sends FIN both ways, discards what still arrives, destroys both CLOSE_GRACE_MS later', async (t) => {
  const { client, peer, front, back, owner, splice } = await rig(t, NO_LIMITS, { halfOpen: true });
  const atClient = collect(client);
  const atPeer = collect(peer);
  const started = performance.now();
  splice.close('drain');
  splice.close('shutdown');
  await waitFor(() => atClient.ended && atPeer.ended, { message: 'FIN at both ends' });
  peer.write('too late');
  client.write('too late too');
  t.equal(await owner.closed, 'drain', 'the first reason is kept');
  t.ok(performance.now() - started >= CLOSE_GRACE_MS - 20, 'not before the grace period');
  // The half-open ends never answered our FIN: only the grace timer's destroy closed the spliced sockets.
  t.ok(front.destroyed && back.destroyed, 'both spliced sockets destroyed');
  t.equal(atClient.bytes, 0, 'nothing relayed after close');
  t.equal(atPeer.bytes, 0, 'nothing relayed after close');
  t.equal(owner.bytesIn + owner.bytesOut, 0, 'nothing counted after close');
});

t.test('an error on one side destroys the other, is reported once, and the owner is told once', async (t) => {
  const { client, peer, owner, splice } = await rig(t, NO_LIMITS);
  const atPeer = collect(peer);
  client.write('x');
  await waitFor(() => atPeer.bytes === 1, { message: 'connected end to end' });
  client.resetAndDestroy();
  t.equal(await owner.closed, 'error', 'closed for an error');
  t.same(owner.errors, ['client'], 'the failing side reported once');
  await waitFor(() => atPeer.closed, { message: 'the peer closed' });
  splice.close('drain');
  splice.destroy('shutdown');
  t.same(owner.reasons, ['error'], 'told once, later calls are no-ops');
});
