/**
 * admin/server — the fastify instance of the admin API (no listen here; app.ts
 * binds it). Every route but /healthz and /readyz needs the bearer token
 * (/metrics is open with admin.openMetrics; unknown paths need it too). Every
 * error is JSON {error, message} with the right status, and a refused call
 * changes nothing (validation runs before any handler; the router checks
 * before it writes).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { ERROR_CATALOGUE, SwitchyardError } from '../errors.js';
import { TokenChecker } from './auth.js';
import type { AdminContext } from './context.js';
import { routingRoutes } from './routes/routing.js';
import { serverRoutes } from './routes/servers.js';
import { stateRoutes } from './routes/state.js';
import { tlsRoutes } from './routes/tls.js';

/** OPEN_ROUTES — routes answered without the token (liveness and readiness probes). */
const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/** buildAdminServer — the configured fastify instance (call .listen or .inject on it). */
export async function buildAdminServer(ctx: AdminContext): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log.child({ component: 'admin' }) as FastifyBaseLogger,
    // Admin actions are logged by the audit log with who and what; per-request lines would add scrape noise.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  });
  const auth = new TokenChecker(ctx.token);

  app.addHook('onRequest', async (req, reply) => {
    const path = req.url;
    // Decide on the route fastify matched, never on the raw URL: the router
    // decodes percent-escapes, so `/%61pi/v1/switch` runs the /api/v1/switch
    // handler while failing a `startsWith('/api/')` test. Deny by default:
    // only the probes (and /metrics with admin.openMetrics) are open.
    const route = req.routeOptions.url;
    const open = route !== undefined && (OPEN_ROUTES.has(route) || (route === '/metrics' && ctx.openMetrics));
    if (!open && !auth.allows(req.headers.authorization)) {
      ctx.log.warn({ component: 'admin', ip: req.ip, method: req.method, url: path }, 'admin call refused: bad or missing token');
      void reply.header('www-authenticate', 'Bearer realm="switchyard"');
      return reply.code(401).send({ error: 'SY_ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' });
    }
    return undefined;
  });

  app.setErrorHandler((err: FastifyError | SwitchyardError | Error, req, reply) => {
    if (err instanceof SwitchyardError) {
      ctx.log.warn({ component: 'admin', ip: req.ip, method: req.method, url: req.url, code: err.code }, `admin call refused: ${err.message}`);
      const status = err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
      return reply.code(status).send({ error: err.code, message: err.message });
    }
    const fe = err as FastifyError;
    if (fe.validation !== undefined) {
      const message = `${fe.validationContext ?? 'request'}${fe.validation.map((v) => `${v.instancePath} ${v.message ?? ''}`).join('; ')}`;
      return reply.code(400).send({ error: 'SY_ERR_BAD_REQUEST', message: message.replace(/^body /, 'body: ') });
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send({ error: 'SY_ERR_BAD_REQUEST', message: fe.message });
    }
    ctx.log.error({ component: 'admin', err, url: req.url }, 'admin call failed');
    return reply.code(500).send({ error: 'SY_ERR_INTERNAL', message: ERROR_CATALOGUE.SY_ERR_INTERNAL.description });
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: 'SY_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url}` });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (ctx.isReady()) return { status: 'ready', generation: ctx.router.current.generation };
    return reply.code(503).send({ error: 'SY_ERR_NOT_READY', message: 'starting: listeners or first health checks not done' });
  });
  app.get('/metrics', async (_req, reply) => {
    void reply.header('content-type', ctx.metrics.contentType);
    return ctx.metrics.render();
  });

  await stateRoutes(app, ctx);
  await routingRoutes(app, ctx);
  await serverRoutes(app, ctx);
  await tlsRoutes(app, ctx);
  return app;
}
