/**
 * admin/routes/servers — rolling work inside a pool: drain / maint / ready one
 * server, or change its weight.
 */
import type { FastifyInstance } from 'fastify';
import { expectedGeneration, who, type AdminContext } from '../context.js';
import { ServerParams, ServerStateBody, ServerWeightBody } from '../schemas.js';

function serverView(ctx: AdminContext, pool: string, id: string): Record<string, unknown> {
  const s = ctx.router.pool(pool)?.server(id);
  return s === undefined
    ? {}
    : { pool, id: s.id, state: s.adminState, weight: s.weight, inflight: s.inflight, healthy: s.healthy, usable: s.usable };
}

/** serverRoutes — POST …/state and PUT …/weight. */
export async function serverRoutes(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  app.post<{ Params: ServerParams; Body: ServerStateBody }>(
    '/api/v1/pools/:pool/servers/:id/state',
    { schema: { params: ServerParams, body: ServerStateBody } },
    async (req) => {
      const { pool, id } = req.params;
      const result = await ctx.router.setServerState(pool, id, req.body.state, { expectGeneration: expectedGeneration(req), who: who(req) });
      return { ...serverView(ctx, pool, id), generation: result.generation, changed: result.changed };
    },
  );

  app.put<{ Params: ServerParams; Body: ServerWeightBody }>(
    '/api/v1/pools/:pool/servers/:id/weight',
    { schema: { params: ServerParams, body: ServerWeightBody } },
    async (req) => {
      const { pool, id } = req.params;
      const result = await ctx.router.setServerWeight(pool, id, req.body.weight, { expectGeneration: expectedGeneration(req), who: who(req) });
      return { ...serverView(ctx, pool, id), generation: result.generation, changed: result.changed };
    },
  );
}
