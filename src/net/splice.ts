/**
 * net/splice — two connected sockets joined into one byte stream: what the
 * WebSocket/Upgrade tunnel (proxy/upgrade.ts, after the 101) and the raw TCP
 * connection (tcp/pipe.ts, after the upstream connect) both do once their
 * handshake is over.
 *
 * - Backpressure both ways: a side whose write buffer is full pauses the
 *   other side's reads until its 'drain'.
 * - Half-close both ways: a FIN from one side is passed on (`end()`), the
 *   other direction keeps flowing; both sockets must allow half-open.
 * - Idle timeout: no byte either way on a socket for `idleTimeoutMs` destroys
 *   both. Optional max age: a graceful close `maxAgeMs` after start.
 * - Graceful close (pools/long-lived.ts): FIN both sides after their queued
 *   bytes, discard what still arrives, destroy both CLOSE_GRACE_MS later.
 * - An error on either socket, or one that closes without a clean FIN
 *   exchange, destroys the other: a half-broken stream cannot continue.
 * - Exactly-once end: the owner is told once, after both sockets emitted
 *   'close' and the splice let go of them (timers cleared, slots emptied).
 *
 * Ownership: from `start()` on the splice owns every event of both sockets
 * it relies on ('data', 'end', 'drain', 'error', 'close', 'timeout'); the
 * owner must have removed its own listeners for those events first, so no
 * event is handled twice. What differs between the owners (which counters a
 * byte goes to, how an error is logged, what "done" releases) goes through
 * the small SpliceOwner interface, implemented by the owner object itself:
 * no closure or allocation per connection beyond the splice, none per chunk.
 *
 * Socket listeners are module-level functions that find their splice
 * through a symbol slot on the socket (no closures per connection).
 */
import type { Socket } from 'node:net';
import { CLOSE_GRACE_MS, type CloseReason } from '../pools/long-lived.js';

/** SpliceCloseReason — why a splice ended: Switchyard closed it, it went idle, or a socket failed. */
export type SpliceCloseReason = CloseReason | 'idle' | 'error';

/** SpliceSide — which socket of a splice an event concerns. */
export type SpliceSide = 'client' | 'upstream';

/** SpliceSettings — the limits of a splice (TcpSettings and UpgradeSettings both fit as they are). */
export interface SpliceSettings {
  /** Destroy both sockets after this long without a byte on one of them. */
  readonly idleTimeoutMs: number;
  /** Close gracefully this long after start; undefined = no limit. */
  readonly maxAgeMs: number | undefined;
}

/** SpliceOwner — what a splice tells its owner (the tunnel or the TCP connection). Called synchronously. */
export interface SpliceOwner {
  /** spliceIn — `bytes` from the client were handed to the upstream (called once per chunk: keep it to a counter). */
  spliceIn(bytes: number): void;
  /** spliceOut — `bytes` from the upstream were handed to the client (called once per chunk: keep it to a counter). */
  spliceOut(bytes: number): void;
  /** spliceError — a socket failed while the splice was not closing; both sockets are destroyed right after. */
  spliceError(side: SpliceSide, err: Error): void;
  /** spliceClosed — both sockets have closed; called exactly once. `reason` is undefined when the peers closed it. */
  spliceClosed(reason: SpliceCloseReason | undefined): void;
}

const kSplice = Symbol('switchyard.splice');

interface SpliceSocket extends Socket {
  [kSplice]?: SocketSplice;
}

function onClientData(this: SpliceSocket, chunk: Buffer): void {
  this[kSplice]?.fromClient(chunk);
}
function onUpstreamData(this: SpliceSocket, chunk: Buffer): void {
  this[kSplice]?.fromUpstream(chunk);
}
function onClientDrain(this: SpliceSocket): void {
  this[kSplice]?.clientDrained();
}
function onUpstreamDrain(this: SpliceSocket): void {
  this[kSplice]?.upstreamDrained();
}
function onClientEnd(this: SpliceSocket): void {
  this[kSplice]?.clientEnded();
}
function onUpstreamEnd(this: SpliceSocket): void {
  this[kSplice]?.upstreamEnded();
}
function onClientClose(this: SpliceSocket): void {
  this[kSplice]?.clientClosed();
}
function onUpstreamClose(this: SpliceSocket): void {
  this[kSplice]?.upstreamClosed();
}
function onSocketError(this: SpliceSocket, err: Error): void {
  this[kSplice]?.socketError(this, err);
}
function onSocketTimeout(this: SpliceSocket): void {
  this[kSplice]?.destroy('idle');
}
function closeForAge(splice: SocketSplice): void {
  splice.close('max-age');
}
function destroyAfterGrace(splice: SocketSplice): void {
  splice.forceClose();
}

/** SocketSplice — one client socket and one upstream socket relaying to each other until both are closed. */
export class SocketSplice {
  readonly #owner: SpliceOwner;
  readonly #client: SpliceSocket;
  readonly #upstream: SpliceSocket;
  #clientClosed = false;
  #upstreamClosed = false;
  #closing: SpliceCloseReason | undefined;
  #done = false;
  #ageTimer: NodeJS.Timeout | undefined;
  #graceTimer: NodeJS.Timeout | undefined;

  /**
   * Both sockets connected and not yet closed. No listener is attached until
   * start(); TCP_NODELAY is set right away, so that what the owner writes
   * before start (a 101 head, a PROXY header) already goes out unbatched.
   */
  constructor(owner: SpliceOwner, client: Socket, upstream: Socket) {
    this.#owner = owner;
    this.#client = client;
    this.#upstream = upstream;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
  }

  /** done — both sockets closed and the owner told. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * start — take over both sockets' events and start relaying. `head` is
   * client bytes already read (they go to the upstream first). Whatever the
   * owner wrote before start (a 101 head, a PROXY header) is queued ahead of
   * any relayed byte: 'data' events are asynchronous.
   */
  start(settings: SpliceSettings, head?: Buffer): void {
    const client = this.#client;
    const up = this.#upstream;
    client[kSplice] = this;
    up[kSplice] = this;
    // Half-close: a FIN is passed on and the other direction keeps flowing. The client's server sets
    // allowHalfOpen for its sockets; undici connects the upstream without it.
    up.allowHalfOpen = true;
    client.on('error', onSocketError);
    up.on('error', onSocketError);
    client.on('close', onClientClose);
    up.on('close', onUpstreamClose);
    client.on('timeout', onSocketTimeout);
    up.on('timeout', onSocketTimeout);
    // Replaces any earlier timeout (the HTTP server's, the connect timeout): "no byte for this long" from now on.
    client.setTimeout(settings.idleTimeoutMs);
    up.setTimeout(settings.idleTimeoutMs);
    client.on('end', onClientEnd);
    up.on('end', onUpstreamEnd);
    client.on('drain', onClientDrain);
    up.on('drain', onUpstreamDrain);
    client.on('data', onClientData);
    up.on('data', onUpstreamData);
    if (settings.maxAgeMs !== undefined) this.#ageTimer = setTimeout(closeForAge, settings.maxAgeMs, this);
    // Either socket may have been paused explicitly (pauseOnConnect, undici's hand-over): 'data' alone does not resume it.
    up.resume();
    client.resume();
    // May pause the client again if the upstream is already full.
    if (head !== undefined && head.length > 0) this.fromClient(head);
    // A FIN read before start was announced ('end' fires even on a paused socket once its buffer is empty)
    // before our listener existed: pass it on now.
    if (client.readableEnded) this.clientEnded();
    if (up.readableEnded) this.upstreamEnded();
  }

  /** fromClient — client → upstream; the client is paused while the upstream is slower. */
  fromClient(chunk: Buffer): void {
    if (this.#closing !== undefined) return;
    this.#owner.spliceIn(chunk.length);
    if (!this.#upstream.write(chunk)) this.#client.pause();
  }

  /** fromUpstream — upstream → client; the upstream is paused while the client is slower. */
  fromUpstream(chunk: Buffer): void {
    if (this.#closing !== undefined) return;
    this.#owner.spliceOut(chunk.length);
    if (!this.#client.write(chunk)) this.#upstream.pause();
  }

  /** clientDrained — the client took what was queued: read from the upstream again. */
  clientDrained(): void {
    if (this.#closing === undefined) this.#upstream.resume();
  }

  /** upstreamDrained — the upstream took what was queued: read from the client again. */
  upstreamDrained(): void {
    if (this.#closing === undefined) this.#client.resume();
  }

  /** clientEnded — the client sent FIN: pass it on; the upstream may keep sending (half-close). */
  clientEnded(): void {
    if (this.#closing === undefined) this.#upstream.end();
  }

  /** upstreamEnded — the upstream sent FIN: pass it on; the client may keep sending (half-close). */
  upstreamEnded(): void {
    if (this.#closing === undefined) this.#client.end();
  }

  /** socketError — either side failed: both go (nothing sensible can continue on one). */
  socketError(socket: Socket, err: Error): void {
    if (this.#closing === undefined) this.#owner.spliceError(socket === this.#client ? 'client' : 'upstream', err);
    this.destroy('error');
  }

  /** clientClosed — the client socket is gone. */
  clientClosed(): void {
    this.#clientClosed = true;
    this.#afterClose(this.#client, this.#upstream);
  }

  /** upstreamClosed — the upstream socket is gone. */
  upstreamClosed(): void {
    this.#upstreamClosed = true;
    this.#afterClose(this.#upstream, this.#client);
  }

  /**
   * close — end both sides (pools/long-lived.ts): FIN after the queued bytes,
   * anything still arriving is discarded, and both sockets are destroyed
   * CLOSE_GRACE_MS later if the peers have not closed by then. Idempotent.
   */
  close(reason: CloseReason): void {
    if (this.#closing !== undefined || this.#done) return;
    this.#closing = reason;
    const client = this.#client;
    const up = this.#upstream;
    client.end();
    up.end();
    client.resume();
    up.resume();
    this.#graceTimer = setTimeout(destroyAfterGrace, CLOSE_GRACE_MS, this);
  }

  /** forceClose — the grace period of a graceful close ran out. */
  forceClose(): void {
    this.#graceTimer = undefined;
    this.destroy(this.#closing ?? 'error');
  }

  /** destroy — cut both sockets now; the first reason given is the one reported. */
  destroy(reason: SpliceCloseReason): void {
    this.#closing ??= reason;
    this.#client.destroy();
    this.#upstream.destroy();
  }

  /**
   * #afterClose — one side closed. A clean close (its FIN was read and passed
   * on, and ours to it flushed) leaves the other side to flush and close by
   * itself; any other close means the stream is broken: destroy the other.
   */
  #afterClose(closed: Socket, other: Socket): void {
    if (!other.destroyed && !(closed.readableEnded && closed.writableFinished)) other.destroy();
    if (this.#done || !this.#clientClosed || !this.#upstreamClosed) return;
    this.#done = true;
    if (this.#ageTimer !== undefined) clearTimeout(this.#ageTimer);
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    this.#ageTimer = this.#graceTimer = undefined;
    this.#client[kSplice] = undefined;
    this.#upstream[kSplice] = undefined;
    this.#owner.spliceClosed(this.#closing);
  }
}
