/**
 * admin/context — what the admin routes may use: domain objects only. Routes
 * call exactly one domain method per change (router.switchTo …) and never
 * touch the proxy.
 */
import type { FastifyRequest } from 'fastify';
import { SwitchyardError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DrainTracker } from '../pools/drain.js';
import type { Router } from '../routing/router.js';
import type { ServerPool } from '../pools/pool.js';

/** CertReloadResult — what a certificate reload swapped. */
export interface CertReloadResult {
  /** TLS listeners whose certificates were replaced. */
  readonly listeners: number;
  /** Every file re-read, absolute paths. */
  readonly files: readonly string[];
}

/** TcpListenerInfo — what the state API shows of a raw TCP listener (src/tcp/listener.ts fits it; admin does not import tcp/). */
export interface TcpListenerInfo {
  readonly name: string;
  readonly address: string | undefined;
  readonly pools: readonly { readonly name: string; readonly pool: ServerPool; readonly connections: number; readonly bytesIn: number; readonly bytesOut: number }[];
}

/** AdminContext — dependencies of the admin API. */
export interface AdminContext {
  readonly router: Router;
  readonly drains: DrainTracker;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly token: string | undefined;
  readonly openMetrics: boolean;
  /** Raw TCP listeners (listen.tcp), shown by GET /api/v1/state. */
  readonly tcp?: readonly TcpListenerInfo[];
  /** True once listeners are bound and first health probes are in. */
  isReady(): boolean;
  /** Re-read every TLS listener's certificate files and swap them in; throws SY_ERR_CERT_RELOAD (nothing swapped) on a bad file. */
  reloadCerts?(): Promise<CertReloadResult>;
}

/** poolStatus — live (weight > 0), draining (not live, requests in flight or long-lived connections open) or idle. */
export function poolStatus(ctx: AdminContext, pool: ServerPool): 'live' | 'draining' | 'idle' {
  if (ctx.router.current.isLive(pool.name)) return 'live';
  return pool.idle ? 'idle' : 'draining';
}

/** expectedGeneration — the If-Match header as a generation number, or undefined. */
export function expectedGeneration(request: FastifyRequest): number | undefined {
  const raw = request.headers['if-match'];
  if (raw === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(raw);
  if (m === null) {
    throw new SwitchyardError('SY_ERR_BAD_REQUEST', 'If-Match must be a generation number such as "42"');
  }
  return Number(m[1]);
}

/** who — the actor recorded in the history and audit log. */
export function who(request: FastifyRequest): string {
  const actor = request.headers['x-switchyard-actor'];
  const name = typeof actor === 'string' && actor !== '' ? actor.slice(0, 100) : (request.headers['user-agent'] ?? 'unknown').slice(0, 100);
  return `${name} (${request.ip})`;
}
