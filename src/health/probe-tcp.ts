/**
 * health/probe-tcp — one TCP health probe on a fresh connection: connect,
 * then optionally write `send` and wait for a reply containing `expect`.
 *
 * Like probeHttp it never rejects (every failure is a verdict) and
 * health.timeoutMs bounds the whole exchange, connect included, so no probe
 * holds a socket or timer past it. Without `expect` a successful connect is
 * the verdict (HAProxy's plain `check` on a TCP backend); the socket is then
 * closed at once.
 *
 * A server with `tls: true` is probed with a TLS handshake verified exactly
 * like traffic (its CA, its SNI name, rejectUnauthorized): the handshake
 * replaces the connect as the first step, `send`/`expect` run inside the TLS
 * stream, and a certificate that does not verify marks the server down.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TcpCheck } from '../config/types.js';
import type { Probe, ProbeResult, ProbeTarget } from './probe-http.js';

/** MAX_REPLY_BYTES — how much of the reply is searched for `expect`; a server that sends more without it fails. */
export const MAX_REPLY_BYTES = 64 * 1024;

/** probeTcp — connect to target (and run `check`'s exchange); resolves with a verdict, never rejects. */
export function probeTcp(target: ProbeTarget, check: TcpCheck, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  if (signal?.aborted === true) return Promise.resolve({ ok: false, reason: 'aborted', durationMs: 0 });
  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    let socket: Socket | undefined;
    let reply = '';
    const finish = (ok: boolean, reason: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket?.destroy();
      resolve({ ok, reason, durationMs: performance.now() - started });
    };
    function onAbort(): void {
      finish(false, 'aborted');
    }
    const timer = setTimeout(() => finish(false, `timeout after ${target.health.timeoutMs}ms`), target.health.timeoutMs);
    // Unref'd: a stopping process must not wait for a probe's deadline.
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
    const tls = target.tls;
    const connected = tls === undefined ? 'connected' : 'TLS handshake done';
    socket =
      tls === undefined
        ? connect({ host: target.host, port: target.port })
        : tlsConnect({ host: target.host, port: target.port, ca: tls.ca, servername: tls.servername, rejectUnauthorized: true });
    socket.unref();
    // Stays attached after settling: destroy() may still emit 'error'.
    socket.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? (err.message || err.name)));
    let established = false;
    socket.on(tls === undefined ? 'connect' : 'secureConnect', () => {
      established = true;
      if (check.send !== undefined) socket?.write(check.send);
      if (check.expect === undefined) {
        // Nothing to read: a connect or handshake (and the write handed to the kernel) is the verdict.
        if (check.send === undefined) finish(true, connected);
        else socket?.end(() => finish(true, `${connected}, sent`));
      }
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      if (check.expect === undefined) return;
      reply += chunk;
      if (reply.includes(check.expect)) finish(true, 'expected reply');
      else if (reply.length > MAX_REPLY_BYTES) finish(false, `no "${check.expect}" in the first ${MAX_REPLY_BYTES} bytes`);
    });
    // A close before the connect/handshake completed is never a pass (a TLS server may hang up mid-handshake).
    const onClosed = (): void => {
      if (!established) finish(false, tls === undefined ? 'closed before connecting' : 'closed during the TLS handshake');
      else finish(check.expect === undefined, check.expect === undefined ? connected : `closed before "${check.expect}"`);
    };
    socket.on('end', onClosed);
    socket.on('close', onClosed);
  });
}

/** tcpProbe — a Probe for ActiveHealthChecker whose per-server exchange comes from `checkOf` (the HTTP-shaped HealthConfig has no send/expect). */
export function tcpProbe(checkOf: (target: ProbeTarget) => TcpCheck): Probe {
  return (target, signal) => probeTcp(target, checkOf(target), signal);
}
