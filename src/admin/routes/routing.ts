/**
 * admin/routes/routing — the changes that move traffic: switch, rollback,
 * weights, maintenance. Each route validates its body (schema), then calls one
 * router method; the router answers only once the new snapshot is in force
 * and persisted. `"wait": "drained"` additionally waits for the pools that
 * left the live set to finish their in-flight requests and long-lived
 * connections (or each pool's drain deadline).
 */
import type { FastifyInstance } from 'fastify';
import type { ChangeResult } from '../../routing/router.js';
import { expectedGeneration, who, type AdminContext } from '../context.js';
import {
  MaintenanceBody,
  RollbackBody,
  SwitchBody,
  WeightsBody,
} from '../schemas.js';

async function waitDrained(ctx: AdminContext, result: ChangeResult, wait: 'drained' | undefined): Promise<Record<string, unknown>> {
  if (wait !== 'drained' || !result.changed) return {};
  const snap = ctx.router.current;
  const leaving = ctx.router.pools.filter((p) => !snap.isLive(p.name));
  const started = Date.now();
  // Each pool's own deadline: with onSwitch: drain it includes closing its long-lived connections.
  const results = await Promise.all(leaving.map((p) => p.waitIdle(ctx.drains.timeoutFor(p))));
  return { drained: results.every(Boolean), drainMs: Date.now() - started };
}

/** routingRoutes — switch, rollback, weights, maintenance. */
export async function routingRoutes(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  app.post<{ Body: SwitchBody }>('/api/v1/switch', { schema: { body: SwitchBody } }, async (req) => {
    const result = await ctx.router.switchTo(req.body.to, {
      force: req.body.force,
      expectGeneration: expectedGeneration(req),
      who: who(req),
    });
    return { ...result, ...(await waitDrained(ctx, result, req.body.wait)) };
  });

  app.post<{ Body: RollbackBody }>(
    '/api/v1/rollback',
    {
      schema: { body: RollbackBody },
      // `curl -X POST …/rollback` with no body at all means "no options".
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
    },
    async (req) => {
    const result = await ctx.router.rollback({
      force: req.body.force,
      expectGeneration: expectedGeneration(req),
      who: who(req),
    });
    return { ...result, ...(await waitDrained(ctx, result, req.body.wait)) };
  });

  app.put<{ Body: WeightsBody }>('/api/v1/weights', { schema: { body: WeightsBody } }, async (req) => {
    const result = await ctx.router.setWeights(req.body.weights, {
      force: req.body.force,
      expectGeneration: expectedGeneration(req),
      who: who(req),
    });
    return { ...result, weights: ctx.router.current.state.weights };
  });

  app.post<{ Body: MaintenanceBody }>('/api/v1/maintenance', { schema: { body: MaintenanceBody } }, async (req) => {
    const result = await ctx.router.setMaintenance(req.body.enabled, {
      expectGeneration: expectedGeneration(req),
      who: who(req),
    });
    return { maintenance: ctx.router.current.maintenance, generation: result.generation, changed: result.changed };
  });
}
