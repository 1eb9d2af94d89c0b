/**
 * admin/routes/state — read-only views: the routing state with per-pool and
 * per-server detail, and the switch history.
 */
import type { FastifyInstance } from 'fastify';
import { poolStatus, type AdminContext } from '../context.js';

/** stateView — the body of GET /api/v1/state. */
export function stateView(ctx: AdminContext): Record<string, unknown> {
  const snap = ctx.router.current;
  const pools: Record<string, unknown> = {};
  for (const pool of ctx.router.pools) {
    const since = ctx.drains.drainingSince(pool.name);
    pools[pool.name] = {
      status: poolStatus(ctx, pool),
      weight: snap.state.weights[pool.name] ?? 0,
      inflight: pool.inflight,
      // Upgraded (WebSocket) connections open now; counted apart from inflight, and part of "idle".
      longLived: pool.longLived,
      onSwitch: pool.config.onSwitch,
      usableServers: pool.usableCount,
      drainingForMs: since === undefined ? null : Date.now() - since,
      servers: pool.servers.map((s) => ({
        id: s.id,
        address: s.address,
        weight: s.weight,
        state: s.adminState,
        healthy: s.healthy,
        ejected: s.ejected,
        usable: s.usable,
        inflight: s.inflight,
        longLived: s.longLived,
      })),
    };
  }
  return {
    generation: snap.generation,
    live: snap.state.live,
    previous: snap.state.previous,
    standby: snap.standby?.name ?? null,
    weights: snap.state.weights,
    maintenance: snap.maintenance,
    pools,
    tcp: tcpView(ctx),
  };
}

/** tcpView — each TCP listener with its pools (they follow the same-named main pool's weight) and servers. */
function tcpView(ctx: AdminContext): Record<string, unknown>[] {
  const snap = ctx.router.current;
  return (ctx.tcp ?? []).map((l) => ({
    name: l.name,
    address: l.address ?? null,
    connections: l.pools.reduce((n, p) => n + p.connections, 0),
    pools: Object.fromEntries(
      l.pools.map((p) => [
        p.name,
        {
          live: snap.isLive(p.name),
          connections: p.connections,
          usableServers: p.pool.usableCount,
          bytesIn: p.bytesIn,
          bytesOut: p.bytesOut,
          servers: p.pool.servers.map((s) => ({
            id: s.id,
            address: s.address,
            weight: s.weight,
            healthy: s.healthy,
            ejected: s.ejected,
            usable: s.usable,
            connections: s.longLived,
          })),
        },
      ]),
    ),
  }));
}

/** stateRoutes — GET /api/v1/state and /api/v1/history. */
export async function stateRoutes(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  app.get('/api/v1/state', async (_req, reply) => {
    const view = stateView(ctx);
    void reply.header('etag', `"${String(view.generation)}"`);
    return view;
  });
  app.get('/api/v1/history', async () => ({ history: ctx.router.history }));
}
